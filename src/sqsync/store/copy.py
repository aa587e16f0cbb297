"""``sqsync store copy --to postgresql://...``: move a SQLite store to PostgreSQL whole.

Everything is copied (orders with lines and shipments, stock and its movements, journals,
windows and sync state, the run log, the change feed's numbers), in one transaction of
the target, with the ids as they are: the jobs then resume from the copy exactly where
they stopped, so nothing is imported or sent again. The target must be empty (a fresh
database, or one that only has sqsync's schema), so a copy can never merge two stores.

Triggers are off while rows go in: the change feed's numbers are copied, not renumbered.
Nothing may write the source meanwhile: the copy reads it in one snapshot, and a job that
ran on it after would be on the wrong store; stop cron first (the README says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqsync.errors import ConfigError
from sqsync.store.database import Store

# Rows a fresh migration writes: not user data.
_SEEDED = {"schema_migrations", "order_change_counter"}


@dataclass(frozen=True)
class Copied:
    target: str
    rows: dict[str, int]

    def summary(self) -> str:
        total = sum(self.rows.values())
        parts = ", ".join(f"{n} {table}" for table, n in self.rows.items() if n)
        return f"copied {total} rows to {self.target}" + (f": {parts}" if parts else "")


def _tables(source: Store) -> list[str]:
    """The source's tables, each after the tables its foreign keys point to."""
    names = [
        row[0]
        for row in source.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " AND name != 'schema_migrations' ORDER BY name"
        )
    ]
    parents = {
        name: {
            row[2]
            for row in source.conn.execute(f'PRAGMA foreign_key_list("{name}")')
            if row[2] != name
        }
        for name in names
    }
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and parents[n] <= set(ordered)]
        if not ready:
            raise RuntimeError("the store's foreign keys form a cycle")
        ordered += ready
    return ordered


def _columns(source: Store, table: str) -> list[str]:
    return [row[1] for row in source.conn.execute(f'PRAGMA table_info("{table}")')]


def _refuse_unless_empty(target: Any, tables: list[str]) -> None:
    for table in tables:
        if table in _SEEDED:
            continue
        if target.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone() is not None:
            raise ConfigError(
                f"store copy: {target.where} is not empty (table {table} has rows); "
                "copy into a new database"
            )
    counter = target.execute("SELECT last FROM order_change_counter WHERE id = 1").fetchone()
    if counter is not None and counter[0]:
        raise ConfigError(f"store copy: {target.where} is not empty (its change feed has begun)")


def copy_store(source: Store, target_url: str) -> Copied:
    """Copy the SQLite store ``source`` into the empty PostgreSQL database at ``target_url``."""
    from sqsync.store.postgres import PostgresStore, is_postgres_url

    if not is_postgres_url(target_url):
        raise ConfigError(f"store copy: --to must be a postgresql:// URL, not {target_url!r}")
    if source.dialect != "sqlite":
        raise ConfigError("store copy: the source must be a SQLite store ([store] path)")
    target = Store.open(target_url)
    assert isinstance(target, PostgresStore)
    try:
        tables = _tables(source)
        pg = target.pg
        rows: dict[str, int] = {}
        source.conn.execute("BEGIN")  # one snapshot of the source
        try:
            with target.transaction():
                _refuse_unless_empty(pg, tables)
                for table in tables:
                    rows[table] = _copy_table(source, pg, table)
        finally:
            source.conn.execute("COMMIT")
    finally:
        target.close()
    return Copied(target=str(target.path), rows=rows)


def _copy_table(source: Store, pg: Any, table: str) -> int:
    columns = _columns(source, table)
    quoted = ", ".join(f'"{c}"' for c in columns)
    raw = pg.raw
    raw.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER USER')
    if table in _SEEDED:
        raw.execute(f'DELETE FROM "{table}"')
    count = 0
    cursor = raw.cursor()
    with cursor.copy(f'COPY "{table}" ({quoted}) FROM STDIN') as copy:
        for row in source.conn.execute(f'SELECT {quoted} FROM "{table}"'):
            copy.write_row(tuple(row))
            count += 1
    raw.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER USER')
    if "id" in columns:
        # Identity columns go on from the largest id copied, not from 1.
        raw.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id))"
            f" FROM \"{table}\" WHERE pg_get_serial_sequence('{table}', 'id') IS NOT NULL"
            " HAVING max(id) IS NOT NULL"
        )
    return count
