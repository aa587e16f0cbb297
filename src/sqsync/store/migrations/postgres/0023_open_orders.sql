-- PostgreSQL twin of ../0023_open_orders.sql (the same statement).
-- The allocation query (sync-stock, stock list) reads the open orders of one client and
-- warehouse. Without this index it walked every order of the client, despatched ones
-- included: 49 ms with a million despatched lines against 4 ms with none (issue 15). A
-- partial index holds only the open orders, so it stays as small as the open work.
-- The WHERE is the query's own text, so SQLite can tell the index covers it.
CREATE INDEX orders_open ON orders (client_id, warehouse_id) WHERE status IN ('NEW', 'HOLDING');
