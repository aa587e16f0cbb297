-- PostgreSQL twin of ../0011_unreadable_orders.sql: SQLite rebuilt order_items to let sku
-- be NULL; here that is one ALTER.
CREATE TABLE unreadable_orders (
    connection     TEXT COLLATE "C" NOT NULL,
    squarespace_id TEXT COLLATE "C" NOT NULL,
    first_seen     TEXT COLLATE "C" NOT NULL,
    last_seen      TEXT COLLATE "C" NOT NULL,
    error          TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (connection, squarespace_id)
);
ALTER TABLE order_items ALTER COLUMN sku DROP NOT NULL;
