"""What the store holds per connection name: orphans (names no longer configured) and rename.

Every row that belongs to a connection carries its name in a ``connection`` column (the
tables are found in the schema, :func:`connection_tables`, so a table a later migration adds
is renamed too); shipments and order items belong to their orders and follow them. A
connection renamed in the config would leave its orders under the old name, unseen by
``status`` and re-imported under the new one; :func:`rename_connection` moves them across.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqsync.clock import utcnow
from sqsync.errors import ConfigError, InputError, UsageError
from sqsync.store.database import Store, connection_of
from sqsync.store.locks import ConnectionLocked, holder, is_stale, pid_alive

# How the summary names the rows of the tables that had a `connection` column at first;
# a table added later is named by its own name.
_NAMED = {
    "orders": "orders (with their shipments)",
    "run_log": "run log entries",
    "sync_state": "sync state values",
    "stock_adjustments": "stock adjustments",
}

Db = Store | sqlite3.Connection


def connection_tables(db: Db) -> list[str]:
    """Every table of the store with a ``connection`` column, by name."""
    conn = connection_of(db)
    if getattr(conn, "dialect", "sqlite") == "postgresql":
        rows = conn.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema ="
            " current_schema() AND column_name = 'connection' ORDER BY table_name"
        )
        return [str(row[0]) for row in rows]
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY name"
        )
    ]
    return [
        table
        for table in tables
        if any(
            column[1] == "connection" for column in conn.execute(f'PRAGMA table_info("{table}")')
        )
    ]


def order_counts(db: Db) -> dict[str, int]:
    """How many orders are stored under each connection name, by name."""
    rows = connection_of(db).execute(
        "SELECT connection, COUNT(*) FROM orders GROUP BY connection ORDER BY connection"
    )
    return {name: count for name, count in rows}


def orphaned_orders(db: Db, configured: Collection[str]) -> dict[str, int]:
    """Order counts of the connection names that are not in ``configured``."""
    return {name: n for name, n in order_counts(db).items() if name not in configured}


@dataclass(frozen=True)
class Renamed:
    """What :func:`rename_connection` moved from ``old`` to ``new``."""

    old: str
    new: str
    moved: dict[str, int] = field(default_factory=dict)  # rows moved, by table

    def summary(self) -> str:
        parts = [
            f"{n} {_NAMED.get(table, table + ' rows')}"
            for table, n in self.moved.items()
            if n or table in _NAMED  # a later table is named only when it had rows
        ]
        listed = ", ".join(parts[:-1]) + f" and {parts[-1]}" if len(parts) > 1 else "".join(parts)
        return f"connection {self.old} renamed to {self.new}: moved {listed}"


def rename_connection(
    store: Store,
    old: str,
    new: str,
    *,
    configured: Collection[str],
    clock: Callable[[], datetime] = utcnow,
    host: str | None = None,
    alive: Callable[[int], bool] = pid_alive,
) -> Renamed:
    """Move everything stored under ``old`` to ``new``, in one transaction.

    ``configured`` are the config's connection names: ``new`` must be one of them and
    ``old`` not (else the next run would import ``old``'s orders again), a ConfigError.
    Refused (InputError, nothing changed) when ``old`` has no stored orders or ``new``
    already has some (two connections' orders are never merged); refused
    (:class:`ConnectionLocked`) while either name's lock is held. A stale lock of ``old``
    is dropped; ``new``'s sync state, if any, gives way to ``old``'s, which matches the
    orders moved.
    """
    if old == new:
        raise UsageError(f"connection {old}: the old and the new name are the same")
    if new not in configured:
        known = ", ".join(sorted(configured)) or "none"
        raise ConfigError(
            f"connection {new} is not in the config (configured: {known}): add it, or rename "
            f"the connection there, before moving {old}'s orders to it"
        )
    if old in configured:
        raise ConfigError(
            f"connection {old} is still in the config: rename it there to {new} first, so no "
            f"run imports its orders again under the old name"
        )
    host = host or socket.gethostname()
    with store.transaction() as conn:
        now = clock()
        for name in (old, new):
            current = holder(store, name)
            if current is not None and not is_stale(current, now, host=host, alive=alive):
                raise ConnectionLocked(current)
        counts = order_counts(conn)
        if not counts.get(old):
            raise InputError(f"no orders are stored under connection {old}; nothing to rename")
        if counts.get(new):
            raise InputError(
                f"connection {new} already has {counts[new]} stored orders: refusing to merge "
                f"{old}'s orders into it"
            )
        conn.execute("DELETE FROM connection_locks WHERE connection = ?", (old,))
        conn.execute("DELETE FROM sync_state WHERE connection = ?", (new,))
        tables = [t for t in connection_tables(conn) if t != "connection_locks"]
        tables.sort(key=lambda t: (list(_NAMED).index(t) if t in _NAMED else len(_NAMED), t))
        moved = {
            table: conn.execute(
                f'UPDATE "{table}" SET connection = ? WHERE connection = ?', (new, old)
            ).rowcount
            for table in tables
        }
    return Renamed(old, new, moved)
