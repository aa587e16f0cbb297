"""Open the SQLite store, apply its numbered migrations, and run transactions.

Several sqsync processes may use one file at once (cron overlapping a manual run), so the
store runs in WAL mode (readers never block the writer) with a long busy timeout, and every
write happens inside :meth:`Store.transaction`, which takes the write lock up front
(``BEGIN IMMEDIATE``) so two writers queue instead of failing half-way.

Migrations are ``migrations/NNNN_name.sql`` files shipped in the package, applied in number
order on open. Each file and its row in ``schema_migrations`` commit in one transaction,
so a crash mid-migration leaves the schema as it was and the next open retries it.
Number ranges per part of sqsync: 0001-0009 store, 0010-0019 import-orders,
0020-0029 sync-stock, 0030-0039 despatch, 0040-0049 operations.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from sqsync.errors import ConfigError, SqsyncError

log = logging.getLogger("sqsync.store")

BUSY_TIMEOUT_MS = 30_000
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def utc_text(moment: datetime) -> str:
    """A datetime as the store's sortable text form, e.g. ``2026-11-27T10:00:00.000Z``."""
    if moment.tzinfo is not UTC:
        if moment.tzinfo is None:
            raise ValueError("store times must be timezone-aware")
        moment = moment.astimezone(UTC)
    # %-formatting, not strftime: a third of the cost, and import calls this per order.
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond // 1000,
    )


def now_text() -> str:
    return utc_text(datetime.now(UTC))


def parse_time(text: str) -> datetime:
    """The inverse of :func:`utc_text` (accepts any ISO-8601 form with a timezone)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def migration_files() -> list[tuple[str, str]]:
    """(name, sql) for every shipped migration, in number order."""
    folder = resources.files("sqsync.store").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        if _MIGRATION_NAME.match(entry.name):
            found.append((entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [name[:4] for name, _ in found]
    duplicated = {n for n in numbers if numbers.count(n) > 1}
    if duplicated:
        raise RuntimeError(f"two migrations share number {sorted(duplicated)[0]}")
    return found


def split_statements(sql: str) -> Iterator[str]:
    """The statements of a script, one by one (triggers with inner ``;`` stay whole).

    ``executescript`` would COMMIT first, which breaks one-transaction-per-migration.
    """
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                yield pending
            pending = ""
    if pending.strip() and not _only_comments(pending):
        raise ValueError(f"incomplete SQL statement at the end: {pending.strip()[:60]!r}")


def _only_comments(sql: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in sql.splitlines())


class Store:
    """The open SQLite store. ``conn`` is in autocommit mode; group writes with
    :meth:`transaction`."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path

    @classmethod
    def open(cls, path: Path | str) -> Store:
        """Open (creating the file if needed) and migrate the store at ``path``.

        The folder must exist: a missing folder usually means a wrong ``[store] path``,
        and silently creating it would hide that.
        """
        path = Path(path)
        if not path.parent.is_dir():
            raise ConfigError(f"store path {path}: folder {path.parent} does not exist")
        try:
            conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA journal_mode = WAL")
            # FULL, not WAL's usual NORMAL: a shipment's "sending" mark is the record that a
            # fulfilment may have gone out, and it must survive a power cut, or the next
            # run would send it again (a duplicate shipment and customer email).
            conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as error:
            raise SqsyncError(f"store {path}: cannot open: {error}") from None
        store = cls(conn, path)
        try:
            store.migrate()
        except sqlite3.DatabaseError as error:
            conn.close()
            raise SqsyncError(f"store {path}: cannot apply the schema: {error}") from None
        return store

    def migrate(self) -> list[str]:
        """Apply every migration not yet recorded; return the names applied."""
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        applied = []
        for name, sql in migration_files():
            # Re-checked under the write lock: a concurrent process may have just applied it.
            with self.transaction() as conn:
                done = conn.execute("SELECT 1 FROM schema_migrations WHERE name = ?", (name,))
                if done.fetchone():
                    continue
                for statement in split_statements(sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                    (name, now_text()),
                )
            log.debug("store %s: applied migration %s", self.path, name)
            applied.append(name)
        return applied

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work: everything inside commits together or not at all.

        ``BEGIN IMMEDIATE`` takes the write lock now rather than at the first write, so a
        transaction never fails half-way with "database is locked". Nested calls become
        savepoints, so a helper that opens its own transaction can run inside a caller's.
        """
        conn = self.conn
        if conn.in_transaction:
            conn.execute("SAVEPOINT nested")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK TO nested")
                conn.execute("RELEASE nested")
                raise
            conn.execute("RELEASE nested")
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def deferred_sync(self) -> Iterator[None]:
        """Commits made inside skip their fsync (``synchronous = NORMAL``); the first
        commit after, at FULL again, makes them durable with its own fsync.

        Only for work that is redone when lost: a power cut (not a crash of this process,
        which loses nothing either way) may drop the last commits made inside, never one
        from the middle, since the WAL is replayed in order up to its first unwritten
        frame. import-orders uses it for its pages, which are re-read while the window
        end, saved after them, is not durable.
        """
        mode = self.conn.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            # Outside WAL (a file system that refuses it) NORMAL can corrupt on power loss.
            yield
            return
        self.conn.execute("PRAGMA synchronous = NORMAL")
        try:
            yield
        finally:
            self.conn.execute("PRAGMA synchronous = FULL")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"


def connection_of(store: Store | sqlite3.Connection) -> sqlite3.Connection:
    """Helpers accept a Store or its connection (to join a caller's transaction)."""
    return store.conn if isinstance(store, Store) else store
