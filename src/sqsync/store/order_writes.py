"""Orders and their items, write side: what import-orders inserts, updates and re-statuses.

Every function runs in the caller's transaction (import-orders commits one per page), so a
page's orders, their items and their status changes land together or not at all. Reads are
page-sized (one query for a page's 50 orders), items are written with ``executemany``.

A Squarespace order is stored at most once per connection: :func:`insert_order` relies on
the ``UNIQUE (connection, squarespace_id)`` constraint (``ON CONFLICT DO NOTHING``) rather
than on a check made before the write lock was taken.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqsync.jobs.order_mapping import ItemRecord, OrderRecord, SquarespaceState
from sqsync.squarespace.models import Address
from sqsync.store.database import utc_text
from sqsync.store.orders import ADDRESS_FIELDS


@dataclass(frozen=True)
class OrderOwner:
    """Who an imported order belongs to: the connection and its client/warehouse/channel ids."""

    connection: str
    client_id: int
    warehouse_id: int
    channel_id: int


@dataclass(frozen=True)
class StoredOrder:
    """What the import needs to know about an order already in the store."""

    id: int
    connection: str
    squarespace_id: str
    order_number: str
    status: str
    problems: tuple[str, ...]
    sq_modified_on: str | None


@dataclass(frozen=True)
class HeldOrder:
    id: int
    problems: tuple[str, ...]
    skus: frozenset[str]


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


def _content(record: OrderRecord) -> dict[str, object]:
    """The orders columns that come from Squarespace's data."""
    columns: dict[str, object] = {
        "customer_email": record.customer_email,
        **_address(record.shipping_address, ""),
        **_address(record.billing_address, "billing_"),
        "currency": record.currency,
        "subtotal": record.subtotal,
        "shipping_total": record.shipping_total,
        "discount_total": record.discount_total,
        "tax_total": record.tax_total,
        "total": record.total,
        "shipping_method": record.shipping_method,
    }
    columns.update(_state_columns(record.squarespace))
    return columns


def _state_columns(state: SquarespaceState) -> dict[str, object]:
    return {
        "sq_fulfillment_status": state.fulfillment_status,
        "sq_payment_state": state.payment_state,
        "sq_modified_on": utc_text(state.modified_on),
    }


def _address(address: Address, prefix: str) -> dict[str, object]:
    return {prefix + name: getattr(address, name) for name in ADDRESS_FIELDS}


def insert_order(
    conn: sqlite3.Connection,
    record: OrderRecord,
    owner: OrderOwner,
    *,
    status: str,
    problems: Sequence[str],
    now: str,
) -> int | None:
    """Insert a new order (not its items); its id, or None if this connection already
    has this Squarespace order (someone else inserted it first)."""
    row: dict[str, object] = {
        "connection": owner.connection,
        "client_id": owner.client_id,
        "warehouse_id": owner.warehouse_id,
        "channel_id": owner.channel_id,
        "order_number": record.order_number,
        "squarespace_id": record.squarespace_id,
        "status": status,
        "problems": json.dumps(list(problems)),
        **_content(record),
        "sq_created_on": utc_text(record.created_on),
        "imported_at": now,
        "updated_at": now,
    }
    names = ", ".join(row)
    marks = ", ".join("?" * len(row))
    found = conn.execute(
        f"INSERT INTO orders ({names}) VALUES ({marks})"
        " ON CONFLICT (connection, squarespace_id) DO NOTHING RETURNING id",
        list(row.values()),
    ).fetchone()
    return int(found[0]) if found else None


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
    _update(conn, order_id, {**_content(record), "status": status, "problems": problems}, now)


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
        changes.update(_state_columns(state))
    _update(conn, order_id, changes, now)


def note_squarespace_state(
    conn: sqlite3.Connection, order_id: int, state: SquarespaceState, now: str
) -> None:
    """Record Squarespace's latest fulfilment/payment state and modified time only."""
    _update(conn, order_id, _state_columns(state), now)


def _update(conn: sqlite3.Connection, order_id: int, changes: dict[str, object], now: str) -> None:
    if "problems" in changes:
        changes["problems"] = json.dumps(list(changes["problems"]))  # type: ignore[arg-type]
    changes["updated_at"] = now
    assignments = ", ".join(f"{name} = ?" for name in changes)
    conn.execute(f"UPDATE orders SET {assignments} WHERE id = ?", [*changes.values(), order_id])


def replace_items(
    conn: sqlite3.Connection, items: Iterable[tuple[int, Sequence[ItemRecord]]]
) -> None:
    """Set the items of several orders (old items deleted), in two statements."""
    batch = list(items)
    if not batch:
        return
    conn.executemany("DELETE FROM order_items WHERE order_id = ?", [(oid,) for oid, _ in batch])
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
            for order_id, order_items in batch
            for item in order_items
        ],
    )


def held_for_unknown_skus(conn: sqlite3.Connection, connection: str) -> list[HeldOrder]:
    """The connection's HOLDING orders with an unknown_sku problem, with the SKUs of their
    items (one query; the caller decides which can be released)."""
    rows = conn.execute(
        "SELECT o.id, o.problems, i.sku FROM orders o"
        " LEFT JOIN order_items i ON i.order_id = o.id"
        " WHERE o.connection = ? AND o.status = 'HOLDING'"
        " AND o.problems LIKE '%\"unknown_sku:%' ORDER BY o.id",
        (connection,),
    )
    found: dict[int, tuple[str, set[str]]] = {}
    for order_id, problems, sku in rows:
        entry = found.setdefault(order_id, (problems, set()))
        if sku is not None:
            entry[1].add(sku)
    return [
        HeldOrder(order_id, tuple(json.loads(problems)), frozenset(skus))
        for order_id, (problems, skus) in found.items()
    ]
