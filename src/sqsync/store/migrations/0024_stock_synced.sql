-- What the last stock syncs set each Squarespace variant to (issue 15). An incremental
-- sync reads by id only the variants whose figure the warehouse would now change, so a
-- shop of 20,000 variants with 1% changed costs 4 reads, not 400 pages. Written only
-- after a sync that ended clean (nothing failed, in flight or deleted); anything else
-- clears the connection's rows, and the next sync reads everything. A target of -1 means
-- "read it next time": a sale was imported between the read and the write, so what
-- Squarespace now shows may be under the figure (never over) until it is read again.
CREATE TABLE stock_synced (
    connection TEXT NOT NULL,
    variant_id TEXT NOT NULL,
    sku        TEXT NOT NULL,
    target     INTEGER NOT NULL CHECK (target >= -1),
    PRIMARY KEY (connection, variant_id)
);
