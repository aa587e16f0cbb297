-- PostgreSQL twin of ../0031_shipment_claims_and_void.sql: SQLite rebuilt shipments to
-- widen the push_state check; here the check is replaced and the columns added. A
-- shipment already 'sending' is claimed now, as there.
ALTER TABLE shipments DROP CONSTRAINT shipments_push_state_check;
ALTER TABLE shipments ADD CONSTRAINT shipments_push_state_check
    CHECK (push_state IN ('pending', 'sending', 'pushed', 'failed', 'void', 'local_only'));
ALTER TABLE shipments ADD COLUMN claimed_at TEXT COLLATE "C";
ALTER TABLE shipments ADD COLUMN voided_at TEXT COLLATE "C";
UPDATE shipments
SET claimed_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
WHERE push_state = 'sending';
