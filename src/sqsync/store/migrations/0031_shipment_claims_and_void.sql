-- push-despatch never ships twice (issue 14). Two more facts per shipment:
--
-- claimed_at  when it last became 'sending' (committed before the fulfilment POST). A
--             shipment still 'sending' is read back only once the request it went out
--             with can no longer be in flight (the client's longest send plus a margin
--             after this); before then a rerun leaves it alone. Shipments already
--             'sending' when this runs are stamped now: when their request went is
--             unknown, so they wait one window from the upgrade.
-- voided_at   when `sqsync despatch void` discarded it.
--
-- and two more push states:
--
-- void        discarded: it will never go (the order was cancelled, say); never pushed
-- local_only  recorded with --force for an order that is CANCELLED (the goods left before
--             the cancellation arrived): its units left the shelf, but Squarespace is
--             never told
--
-- SQLite cannot alter a CHECK constraint: the table is rebuilt with the same columns,
-- rows and indexes.
CREATE TABLE shipments_new (
    id              INTEGER PRIMARY KEY,
    order_id        INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    carrier         TEXT,
    service         TEXT,
    tracking_number TEXT,
    tracking_url    TEXT,
    shipped_at      TEXT NOT NULL,
    push_state      TEXT NOT NULL DEFAULT 'pending'
                    CHECK (push_state IN ('pending', 'sending', 'pushed', 'failed', 'void',
                                          'local_only')),
    push_error      TEXT,
    push_attempts   INTEGER NOT NULL DEFAULT 0,
    pushed_at       TEXT,
    created_at      TEXT NOT NULL,
    claimed_at      TEXT,
    voided_at       TEXT
);
INSERT INTO shipments_new (id, order_id, carrier, service, tracking_number, tracking_url,
                           shipped_at, push_state, push_error, push_attempts, pushed_at,
                           created_at, claimed_at)
    SELECT id, order_id, carrier, service, tracking_number, tracking_url, shipped_at,
           push_state, push_error, push_attempts, pushed_at, created_at,
           CASE WHEN push_state = 'sending'
                THEN strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END
    FROM shipments;
DROP TABLE shipments;
ALTER TABLE shipments_new RENAME TO shipments;
CREATE INDEX shipments_order ON shipments (order_id);
CREATE INDEX shipments_push_state ON shipments (push_state);
