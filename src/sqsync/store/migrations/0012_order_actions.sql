-- What a person did to an order by hand (`sqsync orders hold|release|cancel|close`), so
-- `orders show` can say who held or cancelled it, when and why. A row is written in the
-- transaction that changes the order, so an order is never changed without its row.
-- user is the OS user who ran the command (sqsync has no accounts of its own).
CREATE TABLE order_actions (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    action      TEXT NOT NULL CHECK (action IN ('hold', 'release', 'cancel', 'close')),
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    reason      TEXT,
    user        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX order_actions_order ON order_actions (order_id, id);
