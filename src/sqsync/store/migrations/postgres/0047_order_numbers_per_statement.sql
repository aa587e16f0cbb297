-- PostgreSQL twin of ../0047_order_numbers_per_statement.sql (a no-op on SQLite). A new
-- order is numbered in the change feed by one AFTER INSERT trigger per statement over its
-- transition table, instead of one per row: a page of 50 orders took a plpgsql call and
-- two UPDATEs per order (about 30 ms a page). The outcome is the same as SQLite's row
-- trigger: numbers in insertion (id) order, taken only by rows really inserted (a row
-- that ON CONFLICT DO NOTHING drops is not in the transition table), the counter row
-- locked until commit.
DROP TRIGGER orders_change_on_insert ON orders;
DROP FUNCTION orders_change_on_insert();
CREATE FUNCTION orders_change_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    added INTEGER;
    base INTEGER;
BEGIN
    SELECT count(*) INTO added FROM inserted;
    IF added = 0 THEN
        RETURN NULL;
    END IF;
    UPDATE order_change_counter SET last = last + added WHERE id = 1
    RETURNING last - added INTO base;
    UPDATE orders o SET change_no = base + n.rn, change_kind = 'created'
    FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM inserted) n
    WHERE o.id = n.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER orders_change_on_insert AFTER INSERT ON orders
REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT EXECUTE FUNCTION orders_change_on_insert();
