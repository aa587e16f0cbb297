"""Orders, read side: find, list and serialise orders with their items and shipments.

The import job writes orders; this module turns rows into the stable JSON shape that
``sqsync orders`` prints (and that scripts consume), and into flat rows for tables and CSV.
Listing streams: orders, items and shipments are read by three cursors in one order (order
id, or change number for the change feed) and merged, so a listing of 100,000 orders needs
neither memory for all of them nor a query per order.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Generator, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqsync.domain.orders import ADDRESS_FIELDS
from sqsync.domain.orders import STATUSES as STATUSES
from sqsync.store.database import Store, StoreError, connection_of, utc_text
from sqsync.store.shipments import SHIPMENT_COLUMNS, shipment_dict

Db = Store | sqlite3.Connection

# Flat columns for CSV (everything a spreadsheet user needs) and the table (what fits a line).
CSV_COLUMNS = (
    "order_number",
    "squarespace_id",
    "connection",
    "client",
    "warehouse",
    "channel",
    "status",
    "problems",
    "customer_email",
    *ADDRESS_FIELDS,
    "currency",
    "total",
    "shipping_method",
    "carrier",
    "service",
    "items",
    "tracking_numbers",
    "created_on",
    "imported_at",
    "despatched_at",
)
TABLE_COLUMNS = (
    "order_number",
    "connection",
    "status",
    "problems",
    "customer",
    "country_code",
    "items",
    "total",
    "shipping_method",
    "carrier",
    "service",
    "created_on",
)

_ORDER_SELECT = """
SELECT o.*, c.code AS client, w.code AS warehouse, ch.name AS channel
FROM orders o
JOIN clients c ON c.id = o.client_id
JOIN warehouses w ON w.id = o.warehouse_id
JOIN channels ch ON ch.id = o.channel_id
"""


def order_dict(
    db: Db,
    order_id: int,
) -> dict[str, Any] | None:
    """The JSON shape of one order, or None if there is no such order."""
    conn = connection_of(db)
    row = conn.execute(_ORDER_SELECT + " WHERE o.id = ?", (order_id,)).fetchone()
    if row is None:
        return None
    items = conn.execute(
        "SELECT * FROM order_items WHERE order_id = ? ORDER BY id", (order_id,)
    ).fetchall()
    shipments = conn.execute(
        f"SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE order_id = ? ORDER BY id", (order_id,)
    ).fetchall()
    return shape_order(row, items, shipments)


def find_orders(db: Db, order_number: str, client: str | None = None) -> list[dict[str, Any]]:
    """Every order with this order number (one per client at most), optionally one client's."""
    sql = "SELECT o.id FROM orders o JOIN clients c ON c.id = o.client_id WHERE o.order_number = ?"
    params: list[Any] = [order_number]
    if client is not None:
        sql += " AND c.code = ?"
        params.append(client)
    conn = connection_of(db)
    ids = [row[0] for row in conn.execute(sql + " ORDER BY c.code", params)]
    return [shape for order_id in ids if (shape := order_dict(conn, order_id)) is not None]


@dataclass(frozen=True)
class OrderFilter:
    """Which orders a listing shows; every field given must match.

    ``since`` is on the order's creation time in Squarespace (``created_on``), which stays
    the same however often or late the order is imported; ``shipping_method`` is the exact
    name Squarespace sent; ``sku`` matches any line.
    """

    status: str | None = None
    connection: str | None = None
    since: datetime | None = None
    sku: str | None = None
    shipping_method: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        """The WHERE clause (on alias ``o``) and its parameters."""
        conditions, params = [], []
        for column, value in (
            ("o.status", self.status),
            ("o.connection", self.connection),
            ("o.shipping_method", self.shipping_method),
        ):
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(value)
        if self.since is not None:
            conditions.append("o.sq_created_on >= ?")
            params.append(utc_text(self.since))
        if self.sku is not None:
            conditions.append(
                "EXISTS (SELECT 1 FROM order_items x WHERE x.order_id = o.id AND x.sku = ?)"
            )
            params.append(self.sku)
        return (" WHERE " + " AND ".join(conditions) if conditions else ""), params


def iter_order_dicts(
    db: Db,
    status: str | None = None,
    connection: str | None = None,
    *,
    where: OrderFilter | None = None,
) -> Generator[dict[str, Any], None, None]:
    """Stream orders (oldest import first) in their JSON shape, optionally filtered
    (``status`` and ``connection`` are short for an :class:`OrderFilter`)."""
    chosen = where or OrderFilter(status=status, connection=connection)
    clause, params = chosen.where()
    # Closed with this generator, not whenever it is collected: its snapshot must end
    # while the store is still open.
    with closing(stream_orders(db, clause, params, "o.id")) as stream:
        for row, items, shipments in stream:
            yield shape_order(row, items, shipments)


OrderRows = tuple[sqlite3.Row, list[sqlite3.Row], list[sqlite3.Row]]


def stream_orders(
    db: Db, where: str, params: list[Any], key: str
) -> Generator[OrderRows, None, None]:
    """(order row, its item rows, its shipment rows) for the orders ``where`` selects, in
    ``key`` order (``o.id`` or ``o.change_no``: a unique column of ``orders o``).

    The three cursors share one read transaction when none is open, so the orders, items
    and shipments come from one snapshot even while an import commits alongside. Close
    the iterator (or exhaust it) before closing the store.
    """
    conn = connection_of(db)
    own_snapshot = not conn.in_transaction
    if own_snapshot:
        conn.execute("BEGIN")
    # SQLite's cursors step through the file; PostgreSQL's need a server-side cursor, or
    # the driver would load every row first.
    select = getattr(conn, "stream", conn.execute)
    try:
        orders = select(_ORDER_SELECT + where + f" ORDER BY {key}", params)
        items = select(
            f"SELECT i.*, {key} AS _key FROM order_items i JOIN orders o ON o.id = i.order_id"
            + where
            + f" ORDER BY {key}, i.id",
            params,
        )
        shipment_columns = ", ".join(f"s.{c.strip()}" for c in SHIPMENT_COLUMNS.split(","))
        shipments = select(
            f"SELECT {shipment_columns}, {key} AS _key FROM shipments s"
            " JOIN orders o ON o.id = s.order_id" + where + f" ORDER BY {key}, s.id",
            params,
        )
        item_rows = _Grouped(items)
        shipment_rows = _Grouped(shipments)
        column = key.removeprefix("o.")
        for row in orders:
            yield row, item_rows.take(row[column]), shipment_rows.take(row[column])
    finally:
        # Closed early (a reader that stopped, a pipe closed): end the snapshot, unless
        # the store was closed first, which ended it already.
        if own_snapshot:
            try:
                if conn.in_transaction:
                    conn.execute("COMMIT")
            except (sqlite3.ProgrammingError, StoreError):
                pass


class _Grouped:
    """Rows sorted by their order's key (``_key``), handed out one order's worth at a time."""

    def __init__(self, rows: Iterator[sqlite3.Row]) -> None:
        self._rows = rows
        self._next: sqlite3.Row | None = next(rows, None)

    def take(self, key: int) -> list[sqlite3.Row]:
        taken = []
        # Rows of orders before this one cannot exist (same filter, same order); skip safely.
        while self._next is not None and self._next["_key"] < key:
            self._next = next(self._rows, None)
        while self._next is not None and self._next["_key"] == key:
            taken.append(self._next)
            self._next = next(self._rows, None)
        return taken


def shape_order(
    row: sqlite3.Row, items: list[sqlite3.Row], shipments: list[sqlite3.Row]
) -> dict[str, Any]:
    """The JSON shape of an order from its rows."""
    return {
        "order_number": row["order_number"],
        "squarespace_id": row["squarespace_id"],
        "connection": row["connection"],
        "client": row["client"],
        "warehouse": row["warehouse"],
        "channel": row["channel"],
        "status": row["status"],
        "problems": json.loads(row["problems"]),
        "customer_email": row["customer_email"],
        "shipping_address": {field: row[field] for field in ADDRESS_FIELDS},
        "billing_address": {field: row[f"billing_{field}"] for field in ADDRESS_FIELDS},
        "currency": row["currency"],
        "subtotal": row["subtotal"],
        "shipping_total": row["shipping_total"],
        "discount_total": row["discount_total"],
        "tax_total": row["tax_total"],
        "total": row["total"],
        "shipping_method": row["shipping_method"],
        "carrier": row["carrier"],
        "service": row["service"],
        "items": [
            {
                "sku": item["sku"],
                "name": item["name"],
                "quantity": item["quantity"],
                "unit_price": item["unit_price"],
                "channel_sku": item["channel_sku"],
                "variant_id": item["variant_id"],
            }
            for item in items
        ],
        "shipments": [shipment_dict(s) for s in shipments],
        "created_on": row["sq_created_on"],
        "modified_on": row["sq_modified_on"],
        "fulfillment_status": row["sq_fulfillment_status"],
        "payment_state": row["sq_payment_state"],
        "imported_at": row["imported_at"],
        "updated_at": row["updated_at"],
        "despatched_at": row["despatched_at"],
    }


def flat_order(order: dict[str, Any]) -> dict[str, Any]:
    """One order as a flat row for a table or CSV (address fields lifted to the top)."""
    address = order["shipping_address"]
    name = " ".join(p for p in (address["first_name"], address["last_name"]) if p)
    return {
        **{k: v for k, v in order.items() if not isinstance(v, dict | list)},
        **address,
        "customer": name,
        "problems": " ".join(order["problems"]),
        "items": ", ".join(f"{i['sku']} x{i['quantity']}" for i in order["items"]),
        "tracking_numbers": " ".join(
            s["tracking_number"] for s in order["shipments"] if s["tracking_number"]
        ),
    }


def open_order_counts(db: Db, connection: str) -> dict[str, int]:
    """How many of the connection's orders are NEW and HOLDING (for ``status``)."""
    rows = connection_of(db).execute(
        "SELECT status, count(*) FROM orders WHERE connection = ? AND status IN ('NEW', 'HOLDING')"
        " GROUP BY status",
        (connection,),
    )
    counts = {"NEW": 0, "HOLDING": 0}
    counts.update({status: n for status, n in rows})
    return counts
