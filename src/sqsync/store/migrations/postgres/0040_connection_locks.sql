-- PostgreSQL twin of ../0040_connection_locks.sql. On PostgreSQL the lock itself is an
-- advisory lock held by the worker's session (sqsync.store.locks); this row only says who
-- holds it, for `status` and the "locked by" message.
CREATE TABLE connection_locks (
    connection  TEXT COLLATE "C" PRIMARY KEY,
    owner       TEXT COLLATE "C" NOT NULL,
    host        TEXT COLLATE "C" NOT NULL,
    pid         INTEGER NOT NULL,
    command     TEXT COLLATE "C" NOT NULL,
    acquired_at TEXT COLLATE "C" NOT NULL,
    expires_at  TEXT COLLATE "C" NOT NULL
);
