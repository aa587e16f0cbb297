-- `despatch void` (a shipment that will never go, say the order was cancelled) returns
-- the order's units to on hand, so the movement log gets a source for it:
--
-- source: void      a voided despatch's lines back on the shelf (reason: the order number)
--
-- SQLite cannot alter a CHECK constraint: the table is rebuilt with the same columns,
-- rows and index.
CREATE TABLE stock_movements_new (
    id           INTEGER PRIMARY KEY,
    client_id    INTEGER NOT NULL REFERENCES clients(id),
    warehouse_id INTEGER NOT NULL REFERENCES warehouses(id),
    sku          TEXT NOT NULL,
    source       TEXT NOT NULL
                 CHECK (source IN ('count', 'import', 'adjust', 'despatch', 'void')),
    delta        INTEGER NOT NULL,
    before       INTEGER CHECK (before >= 0),
    after        INTEGER NOT NULL CHECK (after >= 0),
    reason       TEXT,
    created_at   TEXT NOT NULL,
    CHECK (delta = after - coalesce(before, 0))
);
INSERT INTO stock_movements_new (id, client_id, warehouse_id, sku, source, delta, before,
                                 after, reason, created_at)
    SELECT id, client_id, warehouse_id, sku, source, delta, before, after, reason, created_at
    FROM stock_movements;
DROP TABLE stock_movements;
ALTER TABLE stock_movements_new RENAME TO stock_movements;
CREATE INDEX stock_movements_sku ON stock_movements (sku, id);
