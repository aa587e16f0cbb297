-- PostgreSQL twin of ../0013_order_couriers.sql.
ALTER TABLE orders ADD COLUMN carrier TEXT COLLATE "C";
ALTER TABLE orders ADD COLUMN service TEXT COLLATE "C";
