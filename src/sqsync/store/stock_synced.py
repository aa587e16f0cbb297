"""The figure each Squarespace variant was last synced to, per connection (migration 0024).

sync-stock writes it after a sync that ended clean and reads it to pick, by comparison
with today's figures, the variants an incremental sync must read. Callers pass the
transaction, so the rows and the sync state that vouches for them commit together.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

from sqsync.store.database import Store, connection_of

Db = Store | sqlite3.Connection
Targets = Mapping[str, tuple[str, int]]  # variant id -> (warehouse sku, figure)


def load(db: Db, connection: str) -> dict[str, tuple[str, int]]:
    rows = connection_of(db).execute(
        "SELECT variant_id, sku, target FROM stock_synced WHERE connection = ?", (connection,)
    )
    return {row[0]: (row[1], row[2]) for row in rows}


def replace_all(conn: sqlite3.Connection, connection: str, targets: Targets) -> None:
    """After a full sync: exactly these variants, as they now stand."""
    clear(conn, connection)
    update(conn, connection, targets)


def update(conn: sqlite3.Connection, connection: str, targets: Targets) -> None:
    conn.executemany(
        "INSERT INTO stock_synced (connection, variant_id, sku, target) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (connection, variant_id) DO UPDATE SET sku = excluded.sku,"
        " target = excluded.target",
        [(connection, vid, sku, target) for vid, (sku, target) in targets.items()],
    )


def clear(conn: sqlite3.Connection, connection: str) -> None:
    conn.execute("DELETE FROM stock_synced WHERE connection = ?", (connection,))
