-- One lease per connection while `run` or a job command works on it, so an overlapping
-- cron invocation skips the connection instead of importing or adjusting stock twice.
-- A lease expires (expires_at) unless renewed, so a killed process never wedges it.
CREATE TABLE connection_locks (
    connection  TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,     -- unique per acquisition: host:pid:random
    host        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    command     TEXT NOT NULL,     -- what holds it, for the "locked by" message
    acquired_at TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
