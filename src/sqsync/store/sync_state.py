"""Per-connection key/value state that must survive between runs.

import-orders keeps the end of its last completed window here and ``run`` keeps due times.
Values are text; callers choose the format (times via :func:`~sqsync.store.database.utc_text`).
Write it inside the same transaction as the work it describes, so the two never disagree.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection

from sqsync.store.database import Store, connection_of, now_text


def get_state(
    db: Store | sqlite3.Connection, connection: str, key: str, default: str | None = None
) -> str | None:
    row = (
        connection_of(db)
        .execute("SELECT value FROM sync_state WHERE connection = ? AND key = ?", (connection, key))
        .fetchone()
    )
    return row[0] if row else default


def get_states(
    db: Store | sqlite3.Connection, connection: str, keys: Collection[str]
) -> dict[str, str]:
    """The values of ``keys`` that ``connection`` has, in one query (a key it lacks is
    missing from the result)."""
    marks = ", ".join("?" * len(keys))
    rows = connection_of(db).execute(
        f"SELECT key, value FROM sync_state WHERE connection = ? AND key IN ({marks})",
        (connection, *keys),
    )
    return {row[0]: row[1] for row in rows}


def set_state(db: Store | sqlite3.Connection, connection: str, key: str, value: str | None) -> None:
    connection_of(db).execute(
        "INSERT INTO sync_state (connection, key, value, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (connection, key) DO UPDATE SET value = excluded.value,"
        " updated_at = excluded.updated_at",
        (connection, key, value, now_text()),
    )


def delete_state(db: Store | sqlite3.Connection, connection: str, key: str) -> None:
    connection_of(db).execute(
        "DELETE FROM sync_state WHERE connection = ? AND key = ?", (connection, key)
    )
