-- import-orders gives the orders it inserts their change-feed numbers in the INSERT itself,
-- reserved from order_change_counter in the same transaction (see
-- sqsync.store.order_writes.insert_orders): the row trigger's two UPDATEs per new order,
-- one of them writing the whole row again, were a fifth of the store's part of an import.
-- The trigger now numbers only a row inserted without a number (any other writer's).
DROP TRIGGER orders_change_on_insert;
CREATE TRIGGER orders_change_on_insert AFTER INSERT ON orders
WHEN NEW.change_no IS NULL
BEGIN
    UPDATE order_change_counter SET last = last + 1 WHERE id = 1;
    UPDATE orders
    SET change_no = (SELECT last FROM order_change_counter WHERE id = 1),
        change_kind = 'created'
    WHERE id = NEW.id;
END;
