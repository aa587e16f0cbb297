"""The order change feed: orders by change number, for a WMS that takes each change once.

Triggers on ``orders`` (migration 0014) give every change of an order the next number of
one counter and note its kind; this module reads them. A reader keeps the last number it
processed and asks for what came after it::

    horizon = durable_horizon(store)
    for change in iter_changes(store, after=last, upto=horizon):
        ...

An order changed several times since ``after`` is listed once, at its latest number, with
the kind of that latest change: its ``status`` says where it stands now.

Why a horizon: import-orders commits its pages without waiting for the disk
(:meth:`~sqsync.store.Store.deferred_sync`), so a power cut may undo its last commits and
the counter would then hand their numbers out again, to other changes, which a reader
that took the lost ones would skip. :func:`durable_horizon` makes one commit that waits
for the disk (which makes every commit before it durable too) and returns the counter as
of then; changes after it are left for the next read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator, Iterator
from contextlib import closing
from typing import Any

from sqsync.store.database import Store, connection_of
from sqsync.store.orders import CSV_COLUMNS, OrderFilter, flat_order, shape_order, stream_orders

Db = Store | sqlite3.Connection

CHANGE_KINDS = ("created", "updated", "held", "released", "cancelled", "despatched")
# The fields of a --lines row that come from the line (the rest are the order's).
LINE_FIELDS = (
    "line_sku",
    "line_name",
    "line_quantity",
    "line_unit_price",
    "line_channel_sku",
    "line_variant_id",
)
# CSV columns: a change per row (the order's lines in one "items" cell), or a line per row.
CHANGE_COLUMNS = ("change", "kind", *CSV_COLUMNS)
CHANGE_LINE_COLUMNS = ("change", "kind", *(c for c in CSV_COLUMNS if c != "items"), *LINE_FIELDS)


def last_change(db: Db) -> int:
    """The latest change number given out (0 before any)."""
    row = connection_of(db).execute("SELECT last FROM order_change_counter WHERE id = 1").fetchone()
    return int(row[0]) if row else 0


def durable_horizon(store: Store) -> int:
    """The latest change number, after a commit that makes every change up to it durable.

    A store opened read-only cannot be written by anyone, so nothing in it can be lost:
    its latest number is returned as it is.
    """
    if store.read_only is not None:
        return last_change(store)
    with store.transaction() as conn:
        # A real change: SQLite writes nothing, and so syncs nothing, for an identical row.
        conn.execute("UPDATE order_change_counter SET reads = reads + 1 WHERE id = 1")
        return last_change(conn)


def iter_changes(
    db: Db, *, after: int, upto: int, connection: str | None = None
) -> Generator[dict[str, Any], None, None]:
    """Orders whose latest change is after ``after`` and at most ``upto``, by change
    number: each order's JSON shape with ``change`` and ``kind`` first."""
    where, params = OrderFilter(connection=connection).where()
    where += (" AND" if where else " WHERE") + " o.change_no > ? AND o.change_no <= ?"
    params += [after, upto]
    with closing(stream_orders(db, where, params, "o.change_no")) as stream:
        for row, items, shipments in stream:
            yield {
                "change": row["change_no"],
                "kind": row["change_kind"],
                **shape_order(row, items, shipments),
            }


def change_lines(change: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """One flat row per line of a change (``--lines``): the order's flat fields and the
    line's as ``line_*``. An order with no lines still gives one row, with empty line
    fields, so a cancellation of such an order is not lost to a line-based reader."""
    order = {k: v for k, v in flat_order(change).items() if k != "items"}
    lines = change["items"] or [{}]
    for line in lines:
        yield {
            **order,
            "line_sku": line.get("sku"),
            "line_name": line.get("name"),
            "line_quantity": line.get("quantity"),
            "line_unit_price": line.get("unit_price"),
            "line_channel_sku": line.get("channel_sku"),
            "line_variant_id": line.get("variant_id"),
        }
