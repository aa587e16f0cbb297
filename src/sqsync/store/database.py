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

Store trouble (a full disk, a corrupted file, a read-only file or folder) is a
:class:`StoreError` naming the file and what to do, raised by :meth:`Store.open` and
:meth:`Store.transaction`; :func:`store_error` translates an ``sqlite3`` error raised
elsewhere. A command that only reads opens with ``readonly=True``, which still works when
the store cannot be written (see :meth:`Store.open`).
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqsync.errors import ConfigError, SqsyncError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

log = logging.getLogger("sqsync.store")

BUSY_TIMEOUT_MS = 30_000
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

_CORRUPTED = "the file is not an sqlite database or is corrupted; restore it from a backup"


class StoreError(SqsyncError):
    """Trouble with the store file (exit 1): ``store <path>: <cause>``, a cause a person
    can act on. ``read_only`` is true when the cause is that the store cannot be written
    (a command that only reads may still open it read-only)."""

    def __init__(self, path: Path | str, cause: str, *, read_only: bool = False) -> None:
        super().__init__(f"store {path}: {cause}")
        self.path = path
        self.cause = cause
        self.read_only = read_only


def store_error(path: Path, error: BaseException) -> StoreError | None:
    """The :class:`StoreError` that ``error`` (raised by SQLite on the store at ``path``)
    means, or None when it is not store trouble (a constraint, a bad statement: a bug).

    Only errors SQLite raised count (they carry ``sqlite_errorcode``); an
    ``OperationalError`` made by hand, as tests do, is left as it is.
    """
    code = getattr(error, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return None
    primary = code & 0xFF  # the primary result code of an extended one
    if primary == sqlite3.SQLITE_FULL:
        return StoreError(path, "the disk is full")
    if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return StoreError(path, _CORRUPTED)
    if primary in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM):
        if path.is_dir():
            return StoreError(path, "it is a folder, not a file")
        if path.exists() and not os.access(path, os.R_OK):
            return StoreError(path, "the file cannot be read (permission denied)")
        cause = _unwritable_cause(path)
        if cause is not None:
            return StoreError(path, cause, read_only=True)
        if primary == sqlite3.SQLITE_READONLY:
            return StoreError(path, "the file is read-only", read_only=True)
        return StoreError(path, f"cannot open the file: {error}")
    if primary == sqlite3.SQLITE_IOERR:
        name = getattr(error, "sqlite_errorname", "SQLITE_IOERR")
        return StoreError(path, f"reading or writing the file failed ({name}); check the disk")
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        seconds = BUSY_TIMEOUT_MS // 1000
        return StoreError(
            path, f"another process has held its write lock for over {seconds}s; try again"
        )
    return None


def _unwritable_cause(path: Path) -> str | None:
    """Why the store at ``path`` cannot be written, or None if nothing is read-only."""
    folder = path.parent
    if path.exists() and not os.access(path, os.W_OK):
        return "the file is read-only"
    if not os.access(folder, os.W_OK):
        if not path.exists():
            return f"the folder {folder} is read-only: sqlite cannot create {path.name} there"
        if not _sidecar(path, "-wal").exists():
            return f"the folder {folder} is read-only: sqlite needs to create {path.name}-wal there"
    for suffix in ("-wal", "-shm"):
        side = _sidecar(path, suffix)
        if side.exists() and not os.access(side, os.W_OK):
            return f"{side.name} (next to it) is read-only"
    return None


def _configure(conn: sqlite3.Connection) -> None:
    """What every connection to the store needs, writable or read-only."""
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")


def _sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


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


def migrations_folder(*inner: str) -> Traversable:
    """The shipped ``migrations`` folder (or one inside it). Read from the file system
    when the package is installed as files, as it nearly always is: importing
    importlib.resources (tempfile, shutil, bz2, lzma ...) cost 8 ms of every start. A
    zipped package is still read through it."""
    folder = Path(__file__).with_name("migrations").joinpath(*inner)
    if folder.is_dir():
        return folder
    from importlib import resources

    return resources.files("sqsync.store").joinpath("migrations", *inner)


@cache
def migration_files() -> tuple[tuple[str, str], ...]:
    """(name, sql) for every shipped migration, in number order (read once per process:
    ``run`` opens the store once per connection)."""
    folder = migrations_folder()
    found = []
    for entry in folder.iterdir():
        if _MIGRATION_NAME.match(entry.name):
            found.append((entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [name[:4] for name, _ in found]
    duplicated = {n for n in numbers if numbers.count(n) > 1}
    if duplicated:
        raise RuntimeError(f"two migrations share number {sorted(duplicated)[0]}")
    return tuple(found)


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
    :meth:`transaction`. ``read_only`` is why the store was opened read-only (None when
    it can be written)."""

    dialect = "sqlite"

    def __init__(
        self, conn: sqlite3.Connection, path: Path, *, read_only: str | None = None
    ) -> None:
        self.conn = conn
        self.path = path
        self.read_only = read_only
        self._deferred = 0  # inside deferred_sync (nested: a count)
        self._wal: bool | None = None  # the journal mode is WAL: read once, when needed
        self._sync_mode = "FULL"  # what _open_writable set
        self._carried: list[Callable[[sqlite3.Connection], None]] | None = None

    @classmethod
    def open(cls, path: Path | str, *, readonly: bool = False) -> Store:
        """Open (creating the file if needed) and migrate the store at ``path``.

        The folder must exist: a missing folder usually means a wrong ``[store] path``,
        and silently creating it would hide that.

        ``readonly=True`` is for commands that only read: the store is opened and migrated
        as usual when it can be written, and opened read-only (no migration) when it
        cannot (a read-only file or folder). A schema older than this sqsync cannot be
        read then, and is a :class:`StoreError` saying so.
        """
        if isinstance(path, str) and path.startswith(("postgresql://", "postgres://")):
            try:
                from sqsync.store.postgres import PostgresStore  # psycopg only for its users
            except ImportError as error:
                if error.name not in ("psycopg", "psycopg_binary"):
                    raise
                raise ConfigError(
                    "[store] url is a PostgreSQL database, which needs the postgres extra:"
                    " pip install 'sqsync[postgres]'"
                ) from None
            return PostgresStore.open_url(path)
        path = Path(path)
        if not path.parent.is_dir():
            raise ConfigError(f"store path {path}: folder {path.parent} does not exist")
        try:
            return cls._open_writable(path)
        except StoreError as error:
            if not (readonly and error.read_only and path.is_file()):
                raise
            log.debug("store %s: %s; opening it read-only", path, error.cause)
            return cls._open_read_only(path, error.cause)

    @classmethod
    def _open_writable(cls, path: Path) -> Store:
        try:
            conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        except sqlite3.Error as error:
            raise _open_error(path, error, "cannot open") from None
        try:
            _configure(conn)
            conn.execute("PRAGMA journal_mode = WAL")
            # FULL, not WAL's usual NORMAL: a shipment's "sending" mark is the record that a
            # fulfilment may have gone out, and it must survive a power cut, or the next
            # run would send it again (a duplicate shipment and customer email).
            conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as error:
            conn.close()
            raise _open_error(path, error, "cannot open") from None
        store = cls(conn, path)
        try:
            store.migrate()
        except StoreError:
            conn.close()
            raise
        except sqlite3.DatabaseError as error:
            conn.close()
            raise _open_error(path, error, "cannot apply the schema") from None
        return store

    @classmethod
    def _open_read_only(cls, path: Path, cause: str) -> Store:
        """Open ``path`` read-only (``cause``: why it cannot be written) and check that
        its schema is this sqsync's.

        In WAL mode even a read-only reader needs the ``-wal`` and ``-shm`` files; when the
        folder is read-only and there is no ``-wal`` (none can be made, so no process is
        writing) the file is opened ``immutable``, without them.
        """
        immutable = not _sidecar(path, "-wal").exists() and not os.access(path.parent, os.W_OK)
        uri = path.absolute().as_uri() + ("?mode=ro&immutable=1" if immutable else "?mode=ro")
        try:
            conn = sqlite3.connect(
                uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
            )
        except sqlite3.Error as error:
            raise _open_error(path, error, "cannot open") from None
        try:
            _configure(conn)
            missing = _missing_migrations(conn)
        except sqlite3.Error as error:
            conn.close()
            raise _open_error(path, error, "cannot open") from None
        if missing:
            conn.close()
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise StoreError(
                path,
                f"its schema is older than this sqsync ({missing[0]}{more} not applied) and "
                f"cannot be upgraded: {cause}",
                read_only=True,
            )
        return cls(conn, path, read_only=cause)

    def migrate(self) -> list[str]:
        """Apply every migration not yet recorded; return the names applied."""
        if self.read_only is not None:
            raise StoreError(self.path, self.read_only, read_only=True)
        shipped = migration_files()
        missing = set(self._missing(shipped))
        if not missing:
            return []  # up to date: no write, so a store that cannot be written still opens
        self._create_migrations_table()
        applied = []
        for name, sql in shipped:
            if name not in missing:
                continue
            # Re-checked under the write lock: a concurrent process may have just applied it.
            with self.transaction() as conn:
                done = conn.execute("SELECT 1 FROM schema_migrations WHERE name = ?", (name,))
                if done.fetchone():
                    continue
                self._apply(conn, name, sql)
                conn.execute(
                    "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                    (name, now_text()),
                )
            log.debug("store %s: applied migration %s", self.path, name)
            applied.append(name)
        return applied

    # The three steps of migrate() that differ by backend (see PostgresStore).

    def _missing(self, shipped: Sequence[tuple[str, str]]) -> list[str]:
        return _missing_migrations(self.conn, shipped)

    def _create_migrations_table(self) -> None:
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )

    def _apply(self, conn: sqlite3.Connection, name: str, sql: str) -> None:
        for statement in split_statements(sql):
            conn.execute(statement)

    @contextmanager
    def transaction(self, *, connection_only: bool = False) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work: everything inside commits together or not at all.

        ``BEGIN IMMEDIATE`` takes the write lock now rather than at the first write, so a
        transaction never fails half-way with "database is locked". Nested calls become
        savepoints, so a helper that opens its own transaction can run inside a caller's.

        ``connection_only``: it touches only rows of one connection whose lock the caller
        holds or is taking (its lock row, run log, pacing), which no other writer touches.
        SQLite has one writer anyway; PostgreSQL then skips the store-wide write lock, so
        hosts working on different connections do not queue behind each other's
        bookkeeping.

        Store trouble inside (SQLite's errors for a full disk, a corrupted or read-only
        file, the commit's included) rolls back and is raised as a :class:`StoreError`.
        """
        if self.read_only is not None:
            raise StoreError(self.path, self.read_only, read_only=True)
        conn = self.conn
        if conn.in_transaction:
            self._run("SAVEPOINT nested")
            try:
                yield conn
            except BaseException as error:
                trouble = self._undo(error, "ROLLBACK TO nested", "RELEASE nested")
                if trouble is None:
                    raise
                raise trouble from error
            self._run("RELEASE nested")
            return
        self._begin(connection_only=connection_only)
        try:
            yield conn
        except BaseException as error:
            trouble = self._undo(error, "ROLLBACK")
            if trouble is None:
                raise
            raise trouble from error
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            trouble = self._undo(error, "ROLLBACK")
            if trouble is None:
                raise
            raise trouble from error

    def _begin(self, *, connection_only: bool = False) -> None:
        self._synchronous()
        self._run("BEGIN IMMEDIATE")

    def _run(self, sql: str) -> None:
        """Run one transaction-control statement, store trouble as a StoreError."""
        try:
            self.conn.execute(sql)
        except sqlite3.Error as error:
            trouble = store_error(self.path, error)
            if trouble is None:
                raise
            raise trouble from error

    def _undo(self, error: BaseException, *statements: str) -> StoreError | None:
        """After ``error`` inside a transaction: roll back (unless SQLite already did, as
        it may for a full disk) and return the StoreError to raise instead, if any.

        When ``error`` is store trouble the rollback may fail too; the StoreError is what
        is worth reporting then. Otherwise a failing rollback is raised as before.
        """
        trouble = store_error(self.path, error)
        if not self.conn.in_transaction:
            return trouble
        try:
            for statement in statements:
                self.conn.execute(statement)
        except sqlite3.Error as failed:
            if trouble is None and not isinstance(error, StoreError):
                raise
            log.debug("store %s: rollback failed after store trouble: %s", self.path, failed)
        return trouble

    def orders_added(self, count: int) -> None:
        """``count`` orders were just committed (a page of an import). SQLite plans
        without statistics; PostgreSQL's are refreshed as the table grows (see there)."""

    @contextmanager
    def deferred_sync(self) -> Iterator[None]:
        """Commits made inside skip their fsync (``synchronous = NORMAL``); the first
        commit after, at FULL again, makes them durable with its own fsync.

        Only for work that is redone when lost: a power cut (not a crash of this process,
        which loses nothing either way) may drop the last commits made inside, never one
        from the middle, since the WAL is replayed in order up to its first unwritten
        frame. import-orders uses it for its pages, which are re-read while the window
        end, saved after them, is not durable.

        The setting is applied as each transaction begins (:meth:`_begin`), and only when
        it changes: a quiet job's few deferred commits in a row cost one PRAGMA, not
        three each.
        """
        self._deferred += 1
        try:
            yield
        finally:
            self._deferred -= 1

    def carry(self, write: Callable[[sqlite3.Connection], None]) -> None:
        """``write(conn)`` with the next transaction of whoever holds :meth:`carrying`
        open (``run``, which writes the job's run-log row next), or now, in a transaction
        of its own. Only for this connection's own rows, and for writes whose loss costs
        nothing but doing the work again (a quiet window's end): a kill before that next
        transaction commits loses it."""
        if self._carried is None:
            with self.transaction(connection_only=True) as conn:
                write(conn)
        else:
            self._carried.append(write)

    @contextmanager
    def carrying(self) -> Iterator[list[Callable[[sqlite3.Connection], None]]]:
        """The writes :meth:`carry` is handed inside, for the caller to make in the
        transaction it commits next: a quiet job's last write then costs no commit (and
        no write lock) of its own."""
        outer, self._carried = self._carried, []
        try:
            yield self._carried
        finally:
            self._carried = outer

    def _synchronous(self) -> None:
        """Set ``synchronous`` for the transaction about to begin: NORMAL inside
        :meth:`deferred_sync` (WAL only: outside it NORMAL can corrupt on power loss),
        FULL otherwise."""
        if self._wal is None:
            mode = self.conn.execute("PRAGMA journal_mode").fetchone()[0]
            self._wal = str(mode).lower() == "wal"
        wanted = "NORMAL" if self._deferred and self._wal else "FULL"
        if wanted != self._sync_mode:
            self.conn.execute(f"PRAGMA synchronous = {wanted}")
            self._sync_mode = wanted

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"


def _open_error(path: Path, error: sqlite3.Error, doing: str) -> StoreError:
    """The StoreError for ``error`` while opening: its cause when it is store trouble,
    else ``<doing>: <SQLite's message>``."""
    return store_error(path, error) or StoreError(path, f"{doing}: {error}")


def _missing_migrations(
    conn: sqlite3.Connection, shipped: Sequence[tuple[str, str]] | None = None
) -> list[str]:
    """The shipped migrations the store has not recorded, in order (all, for a new file)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    applied = set()
    if exists:
        applied = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
    shipped = migration_files() if shipped is None else shipped
    return [name for name, _ in shipped if name not in applied]


def connection_of(store: Store | sqlite3.Connection) -> sqlite3.Connection:
    """Helpers accept a Store or its connection (to join a caller's transaction)."""
    return store.conn if isinstance(store, Store) else store
