-- The warehouse model: who owns stock (clients), where it is (warehouses), where orders come
-- from (channels), what is stocked (products, stock_levels), what must ship (orders,
-- order_items), what shipped (shipments), plus per-connection sync state and the run log.
--
-- Conventions: times are ISO-8601 UTC text with milliseconds and Z
-- ("2026-11-27T10:00:00.000Z") so they sort as text; money is decimal text ("18.50") so no
-- amount is ever rounded through a float.

CREATE TABLE clients (
    id   INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE
);

CREATE TABLE warehouses (
    id   INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE
);

CREATE TABLE channels (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

-- A SKU the warehouse knows for that client. An order line whose SKU is not here holds the
-- order (problem unknown_sku:<SKU>).
CREATE TABLE products (
    id         INTEGER PRIMARY KEY,
    client_id  INTEGER NOT NULL REFERENCES clients(id),
    sku        TEXT NOT NULL,
    name       TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (client_id, sku)
);

-- on_hand is a physical count, so it cannot be negative: a count below zero is a data error
-- and is refused. Demand beyond stock shows as allocated > on_hand (available floors at 0).
CREATE TABLE stock_levels (
    client_id    INTEGER NOT NULL REFERENCES clients(id),
    warehouse_id INTEGER NOT NULL REFERENCES warehouses(id),
    sku          TEXT NOT NULL,
    on_hand      INTEGER NOT NULL CHECK (on_hand >= 0),
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (client_id, warehouse_id, sku),
    FOREIGN KEY (client_id, sku) REFERENCES products(client_id, sku)
);

CREATE TABLE orders (
    id                    INTEGER PRIMARY KEY,
    connection            TEXT NOT NULL,
    client_id             INTEGER NOT NULL REFERENCES clients(id),
    warehouse_id          INTEGER NOT NULL REFERENCES warehouses(id),
    channel_id            INTEGER NOT NULL REFERENCES channels(id),
    order_number          TEXT NOT NULL,            -- order_prefix + Squarespace orderNumber
    squarespace_id        TEXT NOT NULL,
    status                TEXT NOT NULL DEFAULT 'NEW'
                          CHECK (status IN ('NEW', 'HOLDING', 'DESPATCHED', 'CANCELLED')),
    problems              TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(problems)),
    customer_email        TEXT,
    -- shipping address (the recipient)
    first_name            TEXT,
    last_name             TEXT,
    address1              TEXT,
    address2              TEXT,
    city                  TEXT,
    state                 TEXT,
    postal_code           TEXT,
    country_code          TEXT,
    phone                 TEXT,
    billing_first_name    TEXT,
    billing_last_name     TEXT,
    billing_address1      TEXT,
    billing_address2      TEXT,
    billing_city          TEXT,
    billing_state         TEXT,
    billing_postal_code   TEXT,
    billing_country_code  TEXT,
    billing_phone         TEXT,
    currency              TEXT,
    subtotal              TEXT,
    shipping_total        TEXT,
    discount_total        TEXT,
    tax_total             TEXT,
    total                 TEXT,
    shipping_method       TEXT,
    sq_fulfillment_status TEXT,
    sq_payment_state      TEXT,
    sq_created_on         TEXT,
    sq_modified_on        TEXT,
    imported_at           TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    despatched_at         TEXT,
    -- Order numbers are unique per client (Mintsoft 3PL rule); a Squarespace order is
    -- imported at most once per connection, however often or concurrently import runs.
    UNIQUE (client_id, order_number),
    UNIQUE (connection, squarespace_id)
);
CREATE INDEX orders_status ON orders (status);
CREATE INDEX orders_connection_status ON orders (connection, status);

CREATE TABLE order_items (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    line_id     TEXT,                      -- Squarespace line item id
    sku         TEXT NOT NULL,             -- warehouse SKU (after sku_aliases)
    channel_sku TEXT,                      -- the SKU as Squarespace sent it
    variant_id  TEXT,
    name        TEXT,
    quantity    INTEGER NOT NULL CHECK (quantity > 0),
    unit_price  TEXT
);
CREATE INDEX order_items_order ON order_items (order_id);
CREATE INDEX order_items_sku ON order_items (sku);

-- One despatch of an order. push_state is the push-despatch state machine:
-- pending -> sending (committed before the POST) -> pushed | failed.
CREATE TABLE shipments (
    id              INTEGER PRIMARY KEY,
    order_id        INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    carrier         TEXT,
    service         TEXT,
    tracking_number TEXT,
    tracking_url    TEXT,
    shipped_at      TEXT NOT NULL,
    push_state      TEXT NOT NULL DEFAULT 'pending'
                    CHECK (push_state IN ('pending', 'sending', 'pushed', 'failed')),
    push_error      TEXT,
    push_attempts   INTEGER NOT NULL DEFAULT 0,
    pushed_at       TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX shipments_order ON shipments (order_id);
CREATE INDEX shipments_push_state ON shipments (push_state);

-- Generic per-connection state, e.g. import-orders' window end or run's next due time.
CREATE TABLE sync_state (
    connection TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (connection, key)
);

CREATE TABLE run_log (
    id          INTEGER PRIMARY KEY,
    connection  TEXT NOT NULL,
    job         TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    outcome     TEXT NOT NULL DEFAULT 'running'
                CHECK (outcome IN ('running', 'ok', 'failed', 'skipped')),
    counts      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(counts)),
    requests    INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    context_id  TEXT
);
CREATE INDEX run_log_connection_job ON run_log (connection, job, started_at);
