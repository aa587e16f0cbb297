-- PostgreSQL twin of ../0022_stock_movement_void.sql: SQLite rebuilt the table to widen
-- the source check; here the check is replaced.
ALTER TABLE stock_movements DROP CONSTRAINT stock_movements_source;
ALTER TABLE stock_movements ADD CONSTRAINT stock_movements_source
    CHECK (source IN ('count', 'import', 'adjust', 'despatch', 'void'));
