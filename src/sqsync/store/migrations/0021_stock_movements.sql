-- The stock movement log (issue 13): stock_levels says how many are on hand, not why.
-- Every change of on_hand appends one row here in the same transaction as the change, so
-- the log and the count can never disagree, and a refused change leaves neither.
--
-- source: count     `stock set` (a stock take: logged even when it confirms the number)
--         import    a `stock import` feed row (reason: the feed and its line)
--         adjust    `stock adjust`, relative (reason: the person's, e.g. goods-in)
--         despatch  an order's lines leaving (reason: the order number)
-- before is NULL when the SKU had never been counted (unknown, not 0: sync-stock leaves an
-- uncounted SKU alone), so delta is counted from 0 then. id is the order the changes were
-- committed in; created_at may tie or step back with the machine's clock.
-- Rows name the client and warehouse, not a stock_levels row, so the log stays whole
-- whatever happens to the count.
CREATE TABLE stock_movements (
    id           INTEGER PRIMARY KEY,
    client_id    INTEGER NOT NULL REFERENCES clients(id),
    warehouse_id INTEGER NOT NULL REFERENCES warehouses(id),
    sku          TEXT NOT NULL,
    source       TEXT NOT NULL CHECK (source IN ('count', 'import', 'adjust', 'despatch')),
    delta        INTEGER NOT NULL,
    before       INTEGER CHECK (before >= 0),
    after        INTEGER NOT NULL CHECK (after >= 0),
    reason       TEXT,
    created_at   TEXT NOT NULL,
    CHECK (delta = after - coalesce(before, 0))
);
-- `stock history SKU` reads one SKU's rows in id order.
CREATE INDEX stock_movements_sku ON stock_movements (sku, id);
