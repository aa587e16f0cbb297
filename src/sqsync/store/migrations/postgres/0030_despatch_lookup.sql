-- PostgreSQL twin of ../0030_despatch_lookup.sql (the same statement).
-- Despatch feeds name orders by order number alone (the client is optional when only one
-- has that number); the (client_id, order_number) unique index cannot serve that lookup,
-- so without this a feed of N rows would scan the orders table N times.
CREATE INDEX orders_order_number ON orders (order_number);
