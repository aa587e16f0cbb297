-- PostgreSQL twin of ../0014_order_changes.sql: the same counter, columns and rules.
-- Numbers are taken in commit order as there: every write transaction holds the store's
-- one write lock (an advisory lock, sqsync.store.postgres), and the counter row's own lock
-- is held until commit too.
--
-- A new order is numbered by an AFTER trigger that updates the row, as in SQLite, not by a
-- BEFORE one: a BEFORE INSERT trigger also runs for a row that ON CONFLICT DO NOTHING then
-- drops (import-orders' inserts), which would burn a number. An update is numbered by a
-- BEFORE trigger setting it on the row being written: the same outcome, one row version.
CREATE TABLE order_change_counter (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    last  INTEGER NOT NULL,
    reads INTEGER NOT NULL DEFAULT 0
);
ALTER TABLE orders ADD COLUMN change_no INTEGER;
ALTER TABLE orders ADD COLUMN change_kind TEXT COLLATE "C"
    CHECK (change_kind IN ('created', 'updated', 'held', 'released', 'cancelled', 'despatched'));
UPDATE orders SET change_no = id, change_kind = 'created';
INSERT INTO order_change_counter (id, last) SELECT 1, coalesce(max(id), 0) FROM orders;
CREATE UNIQUE INDEX orders_change_no ON orders (change_no);

CREATE FUNCTION sqsync_next_change_no() RETURNS INTEGER LANGUAGE sql AS $$
    UPDATE order_change_counter SET last = last + 1 WHERE id = 1 RETURNING last
$$;

CREATE FUNCTION orders_change_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE orders SET change_no = sqsync_next_change_no(), change_kind = 'created'
    WHERE id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER orders_change_on_insert AFTER INSERT ON orders
FOR EACH ROW EXECUTE FUNCTION orders_change_on_insert();

CREATE FUNCTION orders_change_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_no := sqsync_next_change_no();
    NEW.change_kind := CASE
        WHEN NEW.status IS NOT DISTINCT FROM OLD.status THEN 'updated'
        WHEN NEW.status = 'HOLDING' THEN 'held'
        WHEN NEW.status = 'NEW' THEN 'released'
        WHEN NEW.status = 'CANCELLED' THEN 'cancelled'
        WHEN NEW.status = 'DESPATCHED' THEN 'despatched'
        ELSE 'updated'
    END;
    RETURN NEW;
END
$$;
-- change_no and change_kind are not in the column list, so the UPDATEs of the insert and
-- item triggers do not fire this one.
CREATE TRIGGER orders_change_on_update BEFORE UPDATE OF
    order_number, status, problems, customer_email, first_name, last_name, address1,
    address2, city, state, postal_code, country_code, phone, billing_first_name,
    billing_last_name, billing_address1, billing_address2, billing_city, billing_state,
    billing_postal_code, billing_country_code, billing_phone, currency, subtotal,
    shipping_total, discount_total, tax_total, total, shipping_method, carrier, service,
    despatched_at, sq_modified_on
ON orders
FOR EACH ROW WHEN (OLD.order_number IS DISTINCT FROM NEW.order_number
     OR OLD.status IS DISTINCT FROM NEW.status
     OR OLD.problems IS DISTINCT FROM NEW.problems
     OR OLD.customer_email IS DISTINCT FROM NEW.customer_email
     OR OLD.first_name IS DISTINCT FROM NEW.first_name
     OR OLD.last_name IS DISTINCT FROM NEW.last_name
     OR OLD.address1 IS DISTINCT FROM NEW.address1
     OR OLD.address2 IS DISTINCT FROM NEW.address2
     OR OLD.city IS DISTINCT FROM NEW.city
     OR OLD.state IS DISTINCT FROM NEW.state
     OR OLD.postal_code IS DISTINCT FROM NEW.postal_code
     OR OLD.country_code IS DISTINCT FROM NEW.country_code
     OR OLD.phone IS DISTINCT FROM NEW.phone
     OR OLD.billing_first_name IS DISTINCT FROM NEW.billing_first_name
     OR OLD.billing_last_name IS DISTINCT FROM NEW.billing_last_name
     OR OLD.billing_address1 IS DISTINCT FROM NEW.billing_address1
     OR OLD.billing_address2 IS DISTINCT FROM NEW.billing_address2
     OR OLD.billing_city IS DISTINCT FROM NEW.billing_city
     OR OLD.billing_state IS DISTINCT FROM NEW.billing_state
     OR OLD.billing_postal_code IS DISTINCT FROM NEW.billing_postal_code
     OR OLD.billing_country_code IS DISTINCT FROM NEW.billing_country_code
     OR OLD.billing_phone IS DISTINCT FROM NEW.billing_phone
     OR OLD.currency IS DISTINCT FROM NEW.currency
     OR OLD.subtotal IS DISTINCT FROM NEW.subtotal
     OR OLD.shipping_total IS DISTINCT FROM NEW.shipping_total
     OR OLD.discount_total IS DISTINCT FROM NEW.discount_total
     OR OLD.tax_total IS DISTINCT FROM NEW.tax_total
     OR OLD.total IS DISTINCT FROM NEW.total
     OR OLD.shipping_method IS DISTINCT FROM NEW.shipping_method
     OR OLD.carrier IS DISTINCT FROM NEW.carrier
     OR OLD.service IS DISTINCT FROM NEW.service
     OR OLD.despatched_at IS DISTINCT FROM NEW.despatched_at
     OR (OLD.sq_modified_on IS DISTINCT FROM NEW.sq_modified_on
         AND NEW.status IN ('NEW', 'HOLDING')))
EXECUTE FUNCTION orders_change_on_update();

CREATE FUNCTION order_items_change_on_sku() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE orders SET change_no = sqsync_next_change_no(), change_kind = 'updated'
    WHERE id = NEW.order_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER order_items_change_on_sku AFTER UPDATE OF sku ON order_items
FOR EACH ROW WHEN (OLD.sku IS DISTINCT FROM NEW.sku)
EXECUTE FUNCTION order_items_change_on_sku();
