-- PostgreSQL twin of ../0024_stock_synced.sql.
CREATE TABLE stock_synced (
    connection TEXT COLLATE "C" NOT NULL,
    variant_id TEXT COLLATE "C" NOT NULL,
    sku        TEXT COLLATE "C" NOT NULL,
    target     INTEGER NOT NULL CHECK (target >= -1),
    PRIMARY KEY (connection, variant_id)
);
