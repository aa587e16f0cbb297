-- The order change feed (`sqsync orders changes --after N`): every change of an order
-- (created, updated, held, released, cancelled, despatched) gives it the next number of one
-- counter, so a WMS that keeps the last number it took never misses or double-takes an order.
-- Triggers assign the numbers, so every writer (import-orders, the order actions, despatch
-- recording) gets them without knowing about the feed. SQLite has one writer at a time and
-- the counter row is written under that lock, so numbers are taken in commit order: a reader
-- never sees a number after one that is not yet committed.
--
-- An order keeps only its latest number and the kind of its latest change (change_kind).
-- What counts as a change: its status, problems, order number, contact, addresses, money,
-- shipping method, carrier and service, despatch time, and for an open order (NEW, HOLDING)
-- any newer Squarespace copy (its lines may have changed) or a line's SKU moved by
-- sku_aliases. Not: Squarespace's state noted on a despatched or cancelled order (the next
-- import after push-despatch sees it FULFILLED), updated_at alone, a connection rename.
--
-- reads counts `orders changes` calls: each bumps it with a durable commit before it reads
-- (see sqsync.store.changes), so what it hands out survives a power cut.
CREATE TABLE order_change_counter (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    last  INTEGER NOT NULL,
    reads INTEGER NOT NULL DEFAULT 0
);
ALTER TABLE orders ADD COLUMN change_no INTEGER;
ALTER TABLE orders ADD COLUMN change_kind TEXT
    CHECK (change_kind IN ('created', 'updated', 'held', 'released', 'cancelled', 'despatched'));
-- Orders stored before the feed existed are numbered in the order they were stored, so a
-- WMS starting from 0 takes every one of them.
UPDATE orders SET change_no = id, change_kind = 'created';
INSERT INTO order_change_counter (id, last) SELECT 1, coalesce(max(id), 0) FROM orders;
CREATE UNIQUE INDEX orders_change_no ON orders (change_no);

CREATE TRIGGER orders_change_on_insert AFTER INSERT ON orders
BEGIN
    UPDATE order_change_counter SET last = last + 1 WHERE id = 1;
    UPDATE orders
    SET change_no = (SELECT last FROM order_change_counter WHERE id = 1),
        change_kind = 'created'
    WHERE id = NEW.id;
END;

-- change_no and change_kind are not in the column list, so the trigger's own UPDATE does
-- not fire it again.
CREATE TRIGGER orders_change_on_update AFTER UPDATE OF
    order_number, status, problems, customer_email, first_name, last_name, address1,
    address2, city, state, postal_code, country_code, phone, billing_first_name,
    billing_last_name, billing_address1, billing_address2, billing_city, billing_state,
    billing_postal_code, billing_country_code, billing_phone, currency, subtotal,
    shipping_total, discount_total, tax_total, total, shipping_method, carrier, service,
    despatched_at, sq_modified_on
ON orders
WHEN OLD.order_number IS NOT NEW.order_number
     OR OLD.status IS NOT NEW.status
     OR OLD.problems IS NOT NEW.problems
     OR OLD.customer_email IS NOT NEW.customer_email
     OR OLD.first_name IS NOT NEW.first_name
     OR OLD.last_name IS NOT NEW.last_name
     OR OLD.address1 IS NOT NEW.address1
     OR OLD.address2 IS NOT NEW.address2
     OR OLD.city IS NOT NEW.city
     OR OLD.state IS NOT NEW.state
     OR OLD.postal_code IS NOT NEW.postal_code
     OR OLD.country_code IS NOT NEW.country_code
     OR OLD.phone IS NOT NEW.phone
     OR OLD.billing_first_name IS NOT NEW.billing_first_name
     OR OLD.billing_last_name IS NOT NEW.billing_last_name
     OR OLD.billing_address1 IS NOT NEW.billing_address1
     OR OLD.billing_address2 IS NOT NEW.billing_address2
     OR OLD.billing_city IS NOT NEW.billing_city
     OR OLD.billing_state IS NOT NEW.billing_state
     OR OLD.billing_postal_code IS NOT NEW.billing_postal_code
     OR OLD.billing_country_code IS NOT NEW.billing_country_code
     OR OLD.billing_phone IS NOT NEW.billing_phone
     OR OLD.currency IS NOT NEW.currency
     OR OLD.subtotal IS NOT NEW.subtotal
     OR OLD.shipping_total IS NOT NEW.shipping_total
     OR OLD.discount_total IS NOT NEW.discount_total
     OR OLD.tax_total IS NOT NEW.tax_total
     OR OLD.total IS NOT NEW.total
     OR OLD.shipping_method IS NOT NEW.shipping_method
     OR OLD.carrier IS NOT NEW.carrier
     OR OLD.service IS NOT NEW.service
     OR OLD.despatched_at IS NOT NEW.despatched_at
     OR (OLD.sq_modified_on IS NOT NEW.sq_modified_on AND NEW.status IN ('NEW', 'HOLDING'))
BEGIN
    UPDATE order_change_counter SET last = last + 1 WHERE id = 1;
    UPDATE orders
    SET change_no = (SELECT last FROM order_change_counter WHERE id = 1),
        change_kind = CASE
            WHEN NEW.status IS OLD.status THEN 'updated'
            WHEN NEW.status = 'HOLDING' THEN 'held'
            WHEN NEW.status = 'NEW' THEN 'released'
            WHEN NEW.status = 'CANCELLED' THEN 'cancelled'
            WHEN NEW.status = 'DESPATCHED' THEN 'despatched'
            ELSE 'updated'
        END
    WHERE id = NEW.id;
END;

-- A re-evaluation moves a line to the SKU sku_aliases now names (lines replaced by a newer
-- Squarespace copy come with the order's own update, above).
CREATE TRIGGER order_items_change_on_sku AFTER UPDATE OF sku ON order_items
WHEN OLD.sku IS NOT NEW.sku
BEGIN
    UPDATE order_change_counter SET last = last + 1 WHERE id = 1;
    UPDATE orders
    SET change_no = (SELECT last FROM order_change_counter WHERE id = 1),
        change_kind = 'updated'
    WHERE id = NEW.order_id;
END;
