"""The stock adjustment journal: each batch sync-stock sends, with its Idempotency-Key.

A batch is written here, key included, in one transaction *before* its first send. The
client's retries and the next run after a crash send that same key and body, and
Squarespace replays a used key without applying it again, so a batch is applied at most
once whatever happens between the write and the answer. States (see migration 0020):

    pending --204--> applied
       |--409 fixable by a re-read--> superseded (a recomputed batch replaces it)
       |--refused for good----------> failed
       '--older than the key's life-> abandoned (never resent: it might apply twice)
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqsync.store.database import Store, connection_of, parse_time, utc_text

Db = Store | sqlite3.Connection
Operation = tuple[str, int]
STATES = ("pending", "applied", "superseded", "failed", "abandoned")
FINAL_STATES = STATES[1:]


@dataclass(frozen=True)
class JournalEntry:
    """One journalled batch."""

    id: int
    connection: str
    idempotency_key: str
    increments: tuple[Operation, ...]
    decrements: tuple[Operation, ...]
    state: str
    created_at: datetime
    replaces: int | None = None
    error: str | None = None

    @property
    def operations(self) -> int:
        return len(self.increments) + len(self.decrements)


def new_key() -> str:
    """A fresh Idempotency-Key (32 hex characters; Squarespace allows up to 64)."""
    return uuid.uuid4().hex


def _body(increments: Sequence[Operation], decrements: Sequence[Operation]) -> str:
    return json.dumps(
        {
            "increments": [list(op) for op in increments],
            "decrements": [list(op) for op in decrements],
        },
        separators=(",", ":"),
    )


def _insert(
    conn: sqlite3.Connection,
    connection: str,
    increments: Sequence[Operation],
    decrements: Sequence[Operation],
    now: datetime,
    replaces: int | None,
) -> JournalEntry:
    operations = len(increments) + len(decrements)
    if not operations:
        raise ValueError("a journalled batch needs at least one operation")
    key, when = new_key(), utc_text(now)
    cursor = conn.execute(
        "INSERT INTO stock_adjustments (connection, idempotency_key, body, operations, replaces,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (connection, key, _body(increments, decrements), operations, replaces, when, when),
    )
    return JournalEntry(
        id=int(cursor.fetchone()[0]),
        connection=connection,
        idempotency_key=key,
        increments=tuple(increments),
        decrements=tuple(decrements),
        state="pending",
        created_at=parse_time(when),
        replaces=replaces,
    )


def record(
    store: Store,
    connection: str,
    increments: Sequence[Operation],
    decrements: Sequence[Operation],
    *,
    now: datetime,
    replaces: int | None = None,
) -> JournalEntry:
    """Journal a batch as pending under a new key and commit, before anything is sent.

    ``replaces`` links a recomputed batch to the superseded one it stands in for.
    """
    with store.transaction() as conn:
        return _insert(conn, connection, increments, decrements, now, replaces)


def mark(
    store: Store, entry_id: int, state: str, *, now: datetime, error: str | None = None
) -> None:
    """Move a batch to a final state (applied, superseded, failed or abandoned)."""
    with store.transaction() as conn:
        _set_state(conn, entry_id, state, now, error)


def _set_state(
    conn: sqlite3.Connection, entry_id: int, state: str, now: datetime, error: str | None
) -> None:
    if state not in FINAL_STATES:
        raise ValueError(f"state must be one of {', '.join(FINAL_STATES)}, not {state!r}")
    conn.execute(
        "UPDATE stock_adjustments SET state = ?, error = ?, updated_at = ? WHERE id = ?",
        (state, error, utc_text(now), entry_id),
    )


def entries(db: Db, connection: str | None = None, state: str | None = None) -> list[JournalEntry]:
    """Journalled batches, oldest first, optionally of one connection and one state."""
    sql = "SELECT * FROM stock_adjustments WHERE 1 = 1"
    params: list[str] = []
    if connection is not None:
        sql += " AND connection = ?"
        params.append(connection)
    if state is not None:
        sql += " AND state = ?"
        params.append(state)
    return [_entry(row) for row in connection_of(db).execute(sql + " ORDER BY id", params)]


def pending(db: Db, connection: str) -> list[JournalEntry]:
    """The batches of ``connection`` not known to be applied or refused, oldest first."""
    return entries(db, connection, "pending")


def prune(store: Store, *, before: datetime) -> int:
    """Delete batches that reached a final state before ``before``; return how many.

    Pending batches are never pruned: they are the only record of what may be in flight.
    """
    with store.transaction() as conn:
        cursor = conn.execute(
            "DELETE FROM stock_adjustments WHERE state != 'pending' AND updated_at < ?",
            (utc_text(before),),
        )
    return cursor.rowcount


def _entry(row: sqlite3.Row) -> JournalEntry:
    body = json.loads(row["body"])
    return JournalEntry(
        id=row["id"],
        connection=row["connection"],
        idempotency_key=row["idempotency_key"],
        increments=tuple((vid, qty) for vid, qty in body["increments"]),
        decrements=tuple((vid, qty) for vid, qty in body["decrements"]),
        state=row["state"],
        created_at=parse_time(row["created_at"]),
        replaces=row["replaces"],
        error=row["error"],
    )
