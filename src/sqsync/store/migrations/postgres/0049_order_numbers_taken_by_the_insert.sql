-- PostgreSQL twin of ../0049_order_numbers_taken_by_the_insert.sql: the statement trigger
-- numbers only the rows inserted without a number, so the numbers import-orders reserves
-- and gives in its INSERT are kept, and not taken from the counter a second time.
CREATE OR REPLACE FUNCTION orders_change_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    added INTEGER;
    base INTEGER;
BEGIN
    SELECT count(*) INTO added FROM inserted WHERE change_no IS NULL;
    IF added = 0 THEN
        RETURN NULL;
    END IF;
    UPDATE order_change_counter SET last = last + added WHERE id = 1
    RETURNING last - added INTO base;
    UPDATE orders o SET change_no = base + n.rn, change_kind = 'created'
    FROM (
        SELECT id, row_number() OVER (ORDER BY id) AS rn FROM inserted WHERE change_no IS NULL
    ) n
    WHERE o.id = n.id;
    RETURN NULL;
END
$$;
