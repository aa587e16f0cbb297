"""The stock movement log: every change of on_hand, with its time, source and reason.

A count says how many; the log says why, so "where did 24 units go?" has an answer.
:mod:`sqsync.store.stock` (count, import, adjust) and :mod:`sqsync.store.despatches`
(despatch, and void: a voided despatch's units back on the shelf) call :func:`record` in
the transaction that changes on_hand, never after it, so a change is either committed
with its row or not at all. ``sqsync stock history`` reads it with :func:`history`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqsync.errors import InputError
from sqsync.store.database import Store, connection_of

Db = Store | sqlite3.Connection

SOURCES = ("count", "import", "adjust", "despatch", "void")
MOVEMENT_COLUMNS = [
    "time", "sku", "client", "warehouse", "source", "delta", "before", "after", "reason",
]  # fmt: skip

# A reason is a note for a person reading the history, one table cell: long enough for
# "goods-in PO 4411 from Acme Textiles, 2 cartons short", short enough to stay one line.
MAX_REASON = 200


@dataclass(frozen=True)
class Movement:
    """One change of on_hand. ``before`` is None when the SKU had never been counted."""

    sku: str
    client: str
    warehouse: str
    source: str
    before: int | None
    after: int
    reason: str | None

    @property
    def delta(self) -> int:
        return self.after - (self.before or 0)


def clean_reason(reason: str | None) -> str | None:
    """The reason as stored: stripped, None when blank; refused when it is not one line
    (a newline would break the history table and the one-line command output)."""
    if reason is None or not reason.strip():
        return None
    reason = reason.strip()
    if any(not ch.isprintable() for ch in reason):
        raise InputError(f"a reason must be one line of text, got {reason!r}")
    if len(reason) > MAX_REASON:
        raise InputError(f"a reason must be at most {MAX_REASON} characters, got {len(reason)}")
    return reason


def feed_reason(feed: str, line: int) -> str:
    """``counts.csv line 4``: the reason of a feed row's movement, leading back to the row.

    Built to pass :func:`clean_reason` whatever the feed is called: a name too long keeps
    its end (the file name), so an import is never refused over its own note.
    """
    suffix = f" line {line}"
    name = "".join(ch if ch.isprintable() else "?" for ch in feed)
    return name[-(MAX_REASON - len(suffix)) :] + suffix


def record(
    db: Db,
    client_id: int,
    warehouse_id: int,
    sku: str,
    *,
    source: str,
    before: int | None,
    after: int,
    reason: str | None,
    at: str,
) -> None:
    """Append one movement; call it in the transaction that changed on_hand."""
    if source not in SOURCES:
        raise ValueError(f"unknown stock movement source {source!r}")
    connection_of(db).execute(
        "INSERT INTO stock_movements (client_id, warehouse_id, sku, source, delta, before,"
        " after, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            client_id,
            warehouse_id,
            sku,
            source,
            after - (before or 0),
            before,
            after,
            clean_reason(reason),
            at,
        ),
    )


def history(
    db: Db,
    sku: str,
    *,
    client: str | None = None,
    warehouse: str | None = None,
    newest_first: bool = False,
    limit: int | None = None,
) -> Iterator[dict[str, Any]]:
    """The movements of ``sku`` (every client and warehouse unless named), streamed.

    Oldest first (a log reads forwards) unless ``newest_first``; ``limit`` keeps the
    latest ``limit`` movements either way, since the recent ones are what is asked about.
    Ordered by id, the commit order, which the clock cannot reorder.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    conditions = ["m.sku = :sku"]
    if client is not None:
        conditions.append("c.code = :client")
    if warehouse is not None:
        conditions.append("w.code = :warehouse")
    latest = (
        "SELECT m.id, m.created_at AS time, m.sku, c.code AS client, w.code AS warehouse,"
        " m.source, m.delta, m.before, m.after, m.reason FROM stock_movements m"
        " JOIN clients c ON c.id = m.client_id JOIN warehouses w ON w.id = m.warehouse_id"
        f" WHERE {' AND '.join(conditions)} ORDER BY m.id DESC LIMIT :limit"
    )
    order = "DESC" if newest_first else "ASC"
    rows = connection_of(db).execute(
        f"SELECT * FROM ({latest}) AS latest ORDER BY id {order}",
        # No limit is the largest one: SQLite's -1 is an error on PostgreSQL.
        {
            "sku": sku,
            "client": client,
            "warehouse": warehouse,
            "limit": 2**62 if limit is None else limit,
        },
    )
    for row in rows:
        yield {column: row[column] for column in MOVEMENT_COLUMNS}
