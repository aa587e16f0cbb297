-- import-orders: orders Squarespace sent as records that could not be read. Each is
-- fetched again by id on later runs until it reads (then imported) or is gone; until then
-- it shows in status and in every job result, so the window may move on but the order is
-- never forgotten.
CREATE TABLE unreadable_orders (
    connection     TEXT NOT NULL,
    squarespace_id TEXT NOT NULL,
    first_seen     TEXT NOT NULL,
    last_seen      TEXT NOT NULL,
    error          TEXT NOT NULL,
    PRIMARY KEY (connection, squarespace_id)
);

-- A physical line with no SKU is stored (its order HOLDING with no_sku:<variant>) so it is
-- visible and allocatable once mapped: its sku is NULL until sku_aliases names it.
CREATE TABLE order_items_new (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    line_id     TEXT,                      -- Squarespace line item id
    sku         TEXT,                      -- warehouse SKU (after sku_aliases); NULL: none yet
    channel_sku TEXT,                      -- the SKU as Squarespace sent it
    variant_id  TEXT,
    name        TEXT,
    quantity    INTEGER NOT NULL CHECK (quantity > 0),
    unit_price  TEXT
);
INSERT INTO order_items_new
    SELECT id, order_id, line_id, sku, channel_sku, variant_id, name, quantity, unit_price
    FROM order_items;
DROP TABLE order_items;
ALTER TABLE order_items_new RENAME TO order_items;
CREATE INDEX order_items_order ON order_items (order_id);
CREATE INDEX order_items_sku ON order_items (sku);
