-- The carrier and service a connection's courier_map gives an order's shipping method, set
-- by import-orders when it stores or re-evaluates the order. NULL without a map (or when the
-- map does not cover the method: the order is then HOLDING unmapped_shipping:<method>).
ALTER TABLE orders ADD COLUMN carrier TEXT;
ALTER TABLE orders ADD COLUMN service TEXT;
