"""Orders and their items, write side: what import-orders inserts, updates and re-statuses.

Every function runs in the caller's transaction (import-orders commits one per page), so a
page's orders, their items and their status changes land together or not at all. Reads are
page-sized (one query for a page's 50 orders), new orders go in by the hundred in one
statement, and items are written with ``executemany``.

A Squarespace order is stored at most once per connection: :func:`insert_orders` relies on
the ``UNIQUE (connection, squarespace_id)`` constraint (``ON CONFLICT DO NOTHING``) rather
than on a check made before the write lock was taken.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqsync.domain.orders import (
    ADDRESS_FIELDS,
    Courier,
    ItemRecord,
    OrderRecord,
    SquarespaceState,
)
from sqsync.store.database import Store, connection_of, parse_time, utc_text


@dataclass(frozen=True)
class OrderOwner:
    """Who an imported order belongs to: the connection and its client/warehouse/channel ids."""

    connection: str
    client_id: int
    warehouse_id: int
    channel_id: int


class StoredOrder(NamedTuple):
    """What the import needs to know about an order already in the store."""

    id: int
    connection: str
    squarespace_id: str
    order_number: str
    status: str
    problems: tuple[str, ...]
    sq_modified_on: str | None


def find_for_page(
    conn: sqlite3.Connection,
    owner: OrderOwner,
    squarespace_ids: Sequence[str],
    order_numbers: Sequence[str],
) -> tuple[dict[str, StoredOrder], dict[str, StoredOrder]]:
    """(this connection's orders by squarespace_id, the client's orders by order_number)
    for one page, in one query on the two unique indexes."""
    if not squarespace_ids and not order_numbers:
        return {}, {}
    ids_marks = ", ".join("?" * len(squarespace_ids)) or "NULL"
    number_marks = ", ".join("?" * len(order_numbers)) or "NULL"
    rows = conn.execute(
        "SELECT id, connection, squarespace_id, order_number, status, problems, sq_modified_on"
        f" FROM orders WHERE (connection = ? AND squarespace_id IN ({ids_marks}))"
        f" OR (client_id = ? AND order_number IN ({number_marks}))",
        [owner.connection, *squarespace_ids, owner.client_id, *order_numbers],
    )
    by_id: dict[str, StoredOrder] = {}
    by_number: dict[str, StoredOrder] = {}
    for row in rows:
        stored = StoredOrder(
            id=row[0],
            connection=row[1],
            squarespace_id=row[2],
            order_number=row[3],
            status=row[4],
            problems=tuple(json.loads(row[5])),
            sq_modified_on=row[6],
        )
        if stored.connection == owner.connection:
            by_id[stored.squarespace_id] = stored
        by_number[stored.order_number] = stored
    return by_id, by_number


_BILLING_FIELDS = tuple("billing_" + name for name in ADDRESS_FIELDS)
_STATE_COLUMNS = ("sq_fulfillment_status", "sq_payment_state", "sq_modified_on")
# The orders columns that come from Squarespace's data, in the order _content_values gives.
_CONTENT_COLUMNS = (
    "customer_email",
    *ADDRESS_FIELDS,
    *_BILLING_FIELDS,
    "currency",
    "subtotal",
    "shipping_total",
    "discount_total",
    "tax_total",
    "total",
    "shipping_method",
    "carrier",
    "service",
    *_STATE_COLUMNS,
)
_INSERT_COLUMNS = (
    "connection",
    "client_id",
    "warehouse_id",
    "channel_id",
    "order_number",
    "squarespace_id",
    "status",
    "problems",
    *_CONTENT_COLUMNS,
    "sq_created_on",
    "imported_at",
    "updated_at",
)
# New orders go in a few per statement: one INSERT per order was a fifth of an import's
# time, mostly Python and statement overhead. 100 rows x 50 values stays far below
# SQLite's limit of 32,766 values per statement.
_ROWS_PER_INSERT = 100


def _content_values(record: OrderRecord) -> tuple[object, ...]:
    """The values of :data:`_CONTENT_COLUMNS` for ``record``."""
    return (
        record.customer_email,
        *record.shipping_address,  # in ADDRESS_FIELDS order, as the columns are
        *record.billing_address,
        record.currency,
        record.subtotal,
        record.shipping_total,
        record.discount_total,
        record.tax_total,
        record.total,
        record.shipping_method,
        *_courier_values(record.courier),
        *_state_values(record.squarespace),
    )


def _courier_values(courier: Courier | None) -> tuple[str | None, str | None]:
    return (courier.carrier, courier.service) if courier is not None else (None, None)


def _state_values(state: SquarespaceState) -> tuple[object, ...]:
    return (state.fulfillment_status, state.payment_state, utc_text(state.modified_on))


def _problems_json(problems: Sequence[str]) -> str:
    return json.dumps(list(problems)) if problems else "[]"


def insert_orders(
    conn: sqlite3.Connection, records: Iterable[OrderRecord], owner: OrderOwner, *, now: str
) -> dict[str, int]:
    """Insert new orders (not their items), each with its own status and problems.

    Returns {squarespace_id: id} of the orders inserted. An order this connection already
    has is left as it is and missing from the answer (someone else inserted it first).
    """
    rows = [_insert_values(record, owner, now) for record in records]
    if not rows:
        return {}
    # Their change-feed numbers go in with them (the trigger then leaves them alone),
    # reserved here: the counter row stays locked until commit, so numbers are still
    # taken in commit order.
    (last,) = conn.execute(
        "UPDATE order_change_counter SET last = last + ? WHERE id = 1 RETURNING last",
        (len(rows),),
    ).fetchone()
    base = last - len(rows)
    inserted: dict[str, int] = {}
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start : start + _ROWS_PER_INSERT]
        values: list[object] = []
        for number, row in enumerate(chunk, base + start + 1):
            values += row
            values.append(number)
        answer = conn.execute(_insert_sql(len(chunk)), values)
        inserted.update((squarespace_id, order_id) for order_id, squarespace_id in answer)
    if len(inserted) < len(rows):
        _close_gaps(conn, base, sorted(inserted.values()))
    return inserted


def _close_gaps(conn: sqlite3.Connection, base: int, order_ids: list[int]) -> None:
    """Number the orders one insert_orders added without the gaps that the rows it
    dropped left (orders stored first by someone else), and give the counter back what
    those had reserved, as the trigger would have numbered them.

    Safe in place: nobody sees the numbers before this transaction commits, and in id
    order each order moves down to ``base + its rank``, where none of the others is."""
    for number, order_id in enumerate(order_ids, base + 1):
        conn.execute("UPDATE orders SET change_no = ? WHERE id = ?", (number, order_id))
    conn.execute("UPDATE order_change_counter SET last = ? WHERE id = 1", (base + len(order_ids),))


def _insert_values(record: OrderRecord, owner: OrderOwner, now: str) -> tuple[object, ...]:
    """The values of :data:`_INSERT_COLUMNS` for ``record``."""
    return (
        owner.connection,
        owner.client_id,
        owner.warehouse_id,
        owner.channel_id,
        record.order_number,
        record.squarespace_id,
        record.status,
        _problems_json(record.problems),
        *_content_values(record),
        utc_text(record.created_on),
        now,
        now,
    )


@functools.cache
def _insert_sql(rows: int) -> str:
    one_row = f"({', '.join('?' * (len(_INSERT_COLUMNS) + 1))}, 'created')"
    columns = ", ".join((*_INSERT_COLUMNS, "change_no", "change_kind"))
    return (
        f"INSERT INTO orders ({columns}) VALUES {', '.join([one_row] * rows)}"
        " ON CONFLICT (connection, squarespace_id) DO NOTHING RETURNING id, squarespace_id"
    )


def update_order(
    conn: sqlite3.Connection,
    order_id: int,
    record: OrderRecord,
    *,
    status: str,
    problems: Sequence[str],
    now: str,
) -> None:
    """Replace an order's Squarespace data (address, contact, totals) and set its status."""
    changes: dict[str, object] = dict(zip(_CONTENT_COLUMNS, _content_values(record), strict=True))
    changes.update(status=status, problems=problems)
    _update(conn, order_id, changes, now)


def set_status(
    conn: sqlite3.Connection,
    order_id: int,
    status: str,
    problems: Sequence[str],
    now: str,
    state: SquarespaceState | None = None,
) -> None:
    """Change status and problems; with ``state``, also note where Squarespace stands."""
    changes: dict[str, object] = {"status": status, "problems": problems}
    if state is not None:
        changes.update(zip(_STATE_COLUMNS, _state_values(state), strict=True))
    _update(conn, order_id, changes, now)


def set_courier(conn: sqlite3.Connection, order_id: int, courier: Courier | None, now: str) -> None:
    """Set the carrier and service courier_map gives the order (None: none)."""
    values = _courier_values(courier)
    _update(conn, order_id, dict(zip(("carrier", "service"), values, strict=True)), now)


def note_squarespace_state(
    conn: sqlite3.Connection, order_id: int, state: SquarespaceState, now: str
) -> None:
    """Record Squarespace's latest fulfilment/payment state and modified time only."""
    _update(conn, order_id, dict(zip(_STATE_COLUMNS, _state_values(state), strict=True)), now)


def _update(conn: sqlite3.Connection, order_id: int, changes: dict[str, object], now: str) -> None:
    if "problems" in changes:
        changes["problems"] = _problems_json(changes["problems"])  # type: ignore[arg-type]
    changes["updated_at"] = now
    assignments = ", ".join(f"{name} = ?" for name in changes)
    conn.execute(f"UPDATE orders SET {assignments} WHERE id = ?", [*changes.values(), order_id])


def insert_items(
    conn: sqlite3.Connection, items: Iterable[tuple[int, Sequence[ItemRecord]]]
) -> None:
    """Add the items of orders that have none yet (just inserted), in one statement."""
    conn.executemany(
        "INSERT INTO order_items"
        " (order_id, line_id, sku, channel_sku, variant_id, name, quantity, unit_price)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                order_id,
                item.line_id,
                item.sku,
                item.channel_sku,
                item.variant_id,
                item.name,
                item.quantity,
                item.unit_price,
            )
            for order_id, order_items in items
            for item in order_items
        ],
    )


def replace_items(
    conn: sqlite3.Connection, items: Iterable[tuple[int, Sequence[ItemRecord]]]
) -> None:
    """Set the items of several orders (old items deleted), in two statements."""
    batch = list(items)
    if not batch:
        return
    conn.executemany("DELETE FROM order_items WHERE order_id = ?", [(oid,) for oid, _ in batch])
    insert_items(conn, batch)


@dataclass(frozen=True)
class ReviewItem:
    id: int
    sku: str | None
    channel_sku: str | None
    variant_id: str | None
    line_id: str | None


@dataclass(frozen=True)
class ReviewOrder:
    """An open order as the re-evaluation after a config change needs it."""

    id: int
    order_number: str
    status: str
    problems: tuple[str, ...]
    payment_state: str | None
    country_code: str | None
    shipping_method: str | None
    courier: Courier | None
    items: list[ReviewItem]


def has_orders_in(db: Store | sqlite3.Connection, connection: str, statuses: Sequence[str]) -> bool:
    """Whether the connection has an order in ``statuses`` (one index probe)."""
    marks = ", ".join("?" * len(statuses))
    row = (
        connection_of(db)
        .execute(
            f"SELECT 1 FROM orders WHERE connection = ? AND status IN ({marks}) LIMIT 1",
            (connection, *statuses),
        )
        .fetchone()
    )
    return row is not None


def orders_to_review(
    conn: sqlite3.Connection, connection: str, statuses: Sequence[str]
) -> list[ReviewOrder]:
    """The connection's orders in ``statuses`` with their items, in one query."""
    marks = ", ".join("?" * len(statuses))
    rows = conn.execute(
        "SELECT o.id, o.order_number, o.status, o.problems, o.sq_payment_state,"
        " o.country_code, o.shipping_method, o.carrier, o.service,"
        " i.id AS item_id, i.sku, i.channel_sku, i.variant_id, i.line_id"
        " FROM orders o LEFT JOIN order_items i ON i.order_id = o.id"
        f" WHERE o.connection = ? AND o.status IN ({marks}) ORDER BY o.id, i.id",
        (connection, *statuses),
    )
    orders: dict[int, ReviewOrder] = {}
    for row in rows:
        order = orders.get(row["id"])
        if order is None:
            courier = None
            if row["carrier"] is not None and row["service"] is not None:
                courier = Courier(row["carrier"], row["service"])
            order = orders[row["id"]] = ReviewOrder(
                row["id"],
                row["order_number"],
                row["status"],
                tuple(json.loads(row["problems"])),
                row["sq_payment_state"],
                row["country_code"],
                row["shipping_method"],
                courier,
                [],
            )
        if row["item_id"] is not None:
            order.items.append(
                ReviewItem(
                    row["item_id"],
                    row["sku"],
                    row["channel_sku"],
                    row["variant_id"],
                    row["line_id"],
                )
            )
    return list(orders.values())


def set_item_skus(conn: sqlite3.Connection, changes: Iterable[tuple[int, str | None]]) -> None:
    conn.executemany("UPDATE order_items SET sku = ? WHERE id = ?", [(s, i) for i, s in changes])


def latest_modified_on(conn: sqlite3.Connection, connection: str) -> datetime | None:
    """The newest Squarespace modifiedOn among the connection's stored orders."""
    row = conn.execute(
        "SELECT max(sq_modified_on) FROM orders WHERE connection = ?", (connection,)
    ).fetchone()
    return parse_time(row[0]) if row and row[0] else None


# -- orders Squarespace sent as unreadable records --------------------------------------


def remember_unreadable(
    conn: sqlite3.Connection, connection: str, squarespace_id: str, error: str, now: str
) -> bool:
    """Note an order that could not be read; True the first time it is seen."""
    cursor = conn.execute(
        "INSERT INTO unreadable_orders (connection, squarespace_id, first_seen, last_seen, error)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (connection, squarespace_id) DO UPDATE SET"
        " last_seen = excluded.last_seen, error = excluded.error RETURNING first_seen",
        (connection, squarespace_id, now, now, error),
    )
    return bool(cursor.fetchone()[0] == now)


def forget_unreadable(conn: sqlite3.Connection, connection: str, squarespace_id: str) -> None:
    conn.execute(
        "DELETE FROM unreadable_orders WHERE connection = ? AND squarespace_id = ?",
        (connection, squarespace_id),
    )


def unreadable_ids(db: Store | sqlite3.Connection, connection: str) -> list[str]:
    rows = connection_of(db).execute(
        "SELECT squarespace_id FROM unreadable_orders WHERE connection = ? ORDER BY first_seen",
        (connection,),
    )
    return [row[0] for row in rows]


def unreadable_orders(db: Store | sqlite3.Connection, connection: str) -> list[dict[str, str]]:
    """``[{squarespace_id, first_seen, error}]`` for status and job results."""
    rows = connection_of(db).execute(
        "SELECT squarespace_id, first_seen, error FROM unreadable_orders WHERE connection = ?"
        " ORDER BY first_seen, squarespace_id",
        (connection,),
    )
    return [dict(row) for row in rows]
