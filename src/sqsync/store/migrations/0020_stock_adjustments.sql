-- The sync-stock journal: every stock adjustment batch, written with its Idempotency-Key
-- before the first send, so a retry or the next run after a crash sends the same key and
-- body, and Squarespace applies the batch at most once.
--
-- state: pending    journalled; maybe sent, maybe applied (resent at the start of each run)
--        applied    Squarespace answered 204 (first time or as a replay of the key)
--        superseded refused with a 409 that a re-read can fix; replaced by a new batch
--        failed     refused for good (400, or a 409 again after the re-read); nothing applied
--        abandoned  still pending when its key may have expired at Squarespace: resending
--                   could apply it twice, so the next fresh read corrects the stock instead
-- body is {"increments": [[variantId, qty], ...], "decrements": [...]}, in request order.
CREATE TABLE stock_adjustments (
    id              INTEGER PRIMARY KEY,
    connection      TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    body            TEXT NOT NULL CHECK (json_valid(body)),
    operations      INTEGER NOT NULL CHECK (operations BETWEEN 1 AND 50),
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'applied', 'superseded', 'failed', 'abandoned')),
    replaces        INTEGER REFERENCES stock_adjustments(id) ON DELETE SET NULL,
    error           TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX stock_adjustments_connection_state ON stock_adjustments (connection, state, id);
