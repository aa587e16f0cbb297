"""PostgreSQL as the store, for users who outgrow one machine (``[store] url``).

Imported only when a URL asks for it, so SQLite users never load psycopg (0.4 s).

The store's modules are written once, against the subset of ``sqlite3.Connection`` they
use (``execute``, ``executemany``, ``in_transaction``, rows read by index or by name).
:class:`PgConnection` gives the same subset over a psycopg connection:

* ``?`` placeholders become ``%s`` (a literal ``%`` is doubled), outside quotes and
  comments, translated once per statement text;
* rows are tuples that can also be read by column name and turned into a dict;
* every write transaction first takes one database-wide advisory lock
  (:data:`WRITE_LOCK`), held until it commits. That is SQLite's one-writer-at-a-time,
  which the store's read-then-write transactions and the change feed's commit-order
  numbering rely on; readers still never wait. A lone write outside a transaction is
  given one of its own, so it queues like every other.
* trouble with the server (refused, gone, the disk full) is a :class:`StoreError` naming
  the database without its password.

Migrations are the files in ``migrations/postgres/``, one per SQLite migration and with
its name, each applied as one script in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import pq
from psycopg.adapt import Dumper

from sqsync.store.database import Store, StoreError, migrations_folder

# One key for the whole database: 'sqsy'. Connection locks use keys of their own.
WRITE_LOCK = 0x73717379
_BEGIN_WRITE = f"SELECT pg_advisory_xact_lock({WRITE_LOCK})"
_WRITES = ("insert", "update", "delete", "create", "alter", "drop")


def is_postgres_url(location: object) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def redacted(url: str) -> str:
    """``url`` without its password, for messages: ``postgresql://user@host/db``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}@{host}" if parts.username else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@lru_cache(maxsize=2048)
def translate(sql: str) -> tuple[str, bool]:
    """(``sql`` with psycopg placeholders, whether it writes)."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        char = sql[i]
        if char in "'\"":
            end = sql.find(char, i + 1)
            end = n if end < 0 else end + 1
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif char == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif char == "?":
            out.append("%s")
            i += 1
        elif char == ":" and i + 1 < n and (sql[i + 1].isalpha() or sql[i + 1] == "_"):
            if i > 0 and sql[i - 1] == ":":  # a PostgreSQL cast (::), not a parameter
                out.append(char)
                i += 1
                continue
            end = i + 1
            while end < n and (sql[end].isalnum() or sql[end] == "_"):
                end += 1
            out.append(f"%({sql[i + 1 : end]})s")
            i = end
        elif char == "%":
            out.append("%%")
            i += 1
        else:
            out.append(char)
            i += 1
    first = sql.lstrip().split(None, 1)
    writes = bool(first) and first[0].lower() in _WRITES
    if first and first[0].lower() == "with":
        lowered = sql.lower()
        writes = any(f" {word} " in lowered for word in ("insert", "update", "delete"))
    return "".join(out), writes


@lru_cache(maxsize=512)
def _row_class(names: tuple[str, ...]) -> type[tuple[Any, ...]]:
    index = {name: i for i, name in enumerate(names)}
    index.update({name.lower(): i for i, name in enumerate(names)})

    class Row(tuple[Any, ...]):
        """A result row read as ``row[0]`` or ``row["name"]``, like ``sqlite3.Row``."""

        __slots__ = ()

        def __getitem__(self, key: Any) -> Any:
            if isinstance(key, str):
                try:
                    key = index[key]
                except KeyError:
                    key = index[key.lower()]
            return tuple.__getitem__(self, key)

        def keys(self) -> list[str]:
            return list(names)

    return Row


def _row_factory(cursor: Any) -> Any:
    description = cursor.description
    names = tuple(column.name for column in description) if description else ()
    return _row_class(names)


class _BoolAsInt(Dumper):
    """The store keeps flags as 0/1 integers, as SQLite does."""

    oid = 23  # int4

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


class _Cursor(psycopg.Cursor[Any]):
    """sqlite3's cursor answers fetchone() with None after a statement that returns no
    rows (an UPDATE); psycopg's raises."""

    def fetchone(self) -> Any:
        return None if self.pgresult is None or self.description is None else super().fetchone()

    def fetchall(self) -> list[Any]:
        return [] if self.pgresult is None or self.description is None else super().fetchall()

    def __iter__(self) -> Any:
        if self.pgresult is None or self.description is None:
            return iter(())
        return super().__iter__()


class PgConnection:
    """The part of ``sqlite3.Connection`` the store uses, over psycopg (autocommit)."""

    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any], where: str) -> None:
        self._conn = conn
        self.where = where
        self._streams = 0
        self.deferred = 0  # inside Store.deferred_sync: commits skip waiting for the flush

    @property
    def raw(self) -> psycopg.Connection[Any]:
        return self._conn

    @property
    def in_transaction(self) -> bool:
        return self._conn.info.transaction_status != pq.TransactionStatus.IDLE

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        if sql == "BEGIN":
            # A bare BEGIN is a reader's snapshot (orders list streams three queries from
            # one): SQLite's deferred transaction, PostgreSQL's REPEATABLE READ.
            sql = "BEGIN ISOLATION LEVEL REPEATABLE READ"
        query, writes = translate(sql)
        try:
            if writes and not self.in_transaction:
                with self._conn.transaction():
                    self._conn.execute(self._preamble(write_lock=True))
                    return self._conn.execute(cast(Any, query), params)
            return self._conn.execute(cast(Any, query), params)
        except psycopg.OperationalError as error:
            raise self.trouble(error) from None

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any:
        query, _ = translate(sql)
        cursor = self._conn.cursor()
        try:
            if not self.in_transaction:
                with self._conn.transaction():
                    self._conn.execute(self._preamble(write_lock=True))
                    cursor.executemany(cast(Any, query), rows)
            else:
                cursor.executemany(cast(Any, query), rows)
        except psycopg.OperationalError as error:
            raise self.trouble(error) from None
        return cursor

    def begin(self, *, write_lock: bool) -> None:
        """BEGIN a writer's transaction, with what it needs first in the same round trip
        (a transaction costs a round trip per statement: a quiet tick has dozens)."""
        preamble = self._preamble(write_lock)
        sql = "BEGIN ISOLATION LEVEL READ COMMITTED" + (f"; {preamble}" if preamble else "")
        try:
            self._conn.execute(cast(Any, sql))  # no parameters: several statements may go
        except psycopg.OperationalError as error:
            raise self.trouble(error) from None

    def _preamble(self, write_lock: bool) -> str:
        """The first statements of a writer's transaction: SET LOCAL, so a deferred commit
        leaves the session's own setting (a DBA's) alone; the store's write lock."""
        parts = ["SET LOCAL synchronous_commit = off"] if self.deferred else []
        if write_lock:
            parts.append(_BEGIN_WRITE)
        return "; ".join(parts)

    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[Any]:
        """Rows of a SELECT from a server-side cursor, a batch at a time (inside a
        transaction: the caller's snapshot)."""
        query, _ = translate(sql)
        self._streams += 1
        cursor = self._conn.cursor(name=f"sqsync_stream_{self._streams}")
        cursor.itersize = 500
        try:
            cursor.execute(cast(Any, query), params)
        except psycopg.OperationalError as error:
            raise self.trouble(error) from None
        return iter(cursor)

    def script(self, sql: str) -> None:
        """Run a whole script (a migration): no parameters, several statements."""
        self._conn.execute(cast(Any, sql))

    def trouble(self, error: BaseException) -> StoreError:
        return StoreError(self.where, _cause(error))

    def close(self) -> None:
        self._conn.close()


def _cause(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    first = text[0] if text else type(error).__name__
    if isinstance(error, psycopg.errors.DiskFull):
        return "the database server's disk is full"
    return first


class PostgresStore(Store):
    """The store in a PostgreSQL database. ``path`` is its URL without the password."""

    dialect = "postgresql"

    @classmethod
    def open_url(cls, url: str) -> PostgresStore:
        where = redacted(url)
        try:
            raw = psycopg.connect(
                url,
                autocommit=True,
                row_factory=_row_factory,
                cursor_factory=_Cursor,
                application_name="sqsync",
                # A host that loses its network must lose its locks within a minute.
                keepalives=1,
                keepalives_idle=20,
                keepalives_interval=10,
                keepalives_count=3,
                tcp_user_timeout=60_000,
            )
        except psycopg.Error as error:
            raise StoreError(where, f"cannot connect: {_cause(error)}") from None
        raw.adapters.register_dumper(bool, _BoolAsInt)
        conn = PgConnection(raw, where)
        store = cls(cast(Any, conn), cast(Any, where))
        try:
            store.migrate()
        except StoreError:
            conn.close()
            raise
        except psycopg.Error as error:
            conn.close()
            raise StoreError(where, f"cannot apply the schema: {_cause(error)}") from None
        return store

    @property
    def pg(self) -> PgConnection:
        return cast(PgConnection, self.conn)

    def _missing(self, shipped: Sequence[tuple[str, str]]) -> list[str]:
        exists = self.conn.execute("SELECT to_regclass('schema_migrations')").fetchone()[0]
        applied: set[str] = set()
        if exists is not None:
            applied = {row[0] for row in self.conn.execute("SELECT name FROM schema_migrations")}
        return [name for name, _ in shipped if name not in applied]

    def _create_migrations_table(self) -> None:
        with self.transaction():
            # Under the write lock: of several hosts starting at once, one creates it.
            self.pg.script(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                ' (name TEXT COLLATE "C" PRIMARY KEY, applied_at TEXT NOT NULL)'
            )

    def _apply(self, conn: Any, name: str, sql: str) -> None:
        scripts = postgres_migration_files()
        if name not in scripts:
            raise RuntimeError(f"migration {name} has no PostgreSQL version")
        self.pg.script(scripts[name])  # a whole script: plpgsql bodies hold semicolons

    _added = 0
    _analyze_at = 1_000

    def orders_added(self, count: int) -> None:
        # A first import grows orders from nothing within one run, long before autovacuum
        # looks: planned with an empty table's statistics, each page's lookup walked every
        # order of the connection (32 ms a page at 10,000). ANALYZE each time the orders
        # added double: a handful of times in a 10,000-order import, tens of ms each.
        self._added += count
        if self._added >= self._analyze_at:
            self._analyze_at = 2 * self._added
            self.pg.script("ANALYZE orders, order_items")

    def _begin(self, *, connection_only: bool = False) -> None:
        # READ COMMITTED, so each statement after the lock sees every earlier writer.
        self.pg.begin(write_lock=not connection_only)

    @contextmanager
    def deferred_sync(self) -> Iterator[None]:
        # The same promise as SQLite's NORMAL: a later synchronous commit flushes the WAL
        # up to itself, so these commits become durable with it, in order. Set per
        # transaction as it begins (PgConnection.begin), not by statements of its own.
        self.pg.deferred += 1
        try:
            yield
        finally:
            self.pg.deferred -= 1


@lru_cache(maxsize=1)
def postgres_migration_files() -> dict[str, str]:
    """name -> script of every PostgreSQL migration."""
    folder = migrations_folder("postgres")
    found = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found[entry.name.removesuffix(".sql")] = entry.read_text(encoding="utf-8")
    return found
