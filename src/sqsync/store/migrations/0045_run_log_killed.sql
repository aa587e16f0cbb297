-- A run whose process died half-way is marked 'killed' (issue 12) by the next process that
-- holds its connection's lock, so the run log tells a kill from a failure. SQLite cannot
-- alter a CHECK constraint: the table is rebuilt with the same columns, rows and index.
CREATE TABLE run_log_new (
    id          INTEGER PRIMARY KEY,
    connection  TEXT NOT NULL,
    job         TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    outcome     TEXT NOT NULL DEFAULT 'running'
                CHECK (outcome IN ('running', 'ok', 'failed', 'skipped', 'killed')),
    counts      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(counts)),
    requests    INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    context_id  TEXT
);
INSERT INTO run_log_new (id, connection, job, started_at, finished_at, outcome, counts,
                         requests, error, context_id)
    SELECT id, connection, job, started_at, finished_at, outcome, counts, requests, error,
           context_id
    FROM run_log;
DROP TABLE run_log;
ALTER TABLE run_log_new RENAME TO run_log;
CREATE INDEX run_log_connection_job ON run_log (connection, job, started_at);
