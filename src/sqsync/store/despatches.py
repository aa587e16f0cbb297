"""Shipments, write side: recording despatches and moving their push state.

A despatch makes an order DESPATCHED, takes its lines off ``on_hand`` (once, on the first
despatch; allocation follows from the status) and adds a shipment. Each shipment then
walks the push-despatch state machine::

    pending --claim--> sending --POST answered--> pushed | failed
       ^                  |
       +----- release ----+   (nothing reached Squarespace: 429, 409 busy, connect failure)

``sending`` is committed before the fulfilment is sent, so a shipment found in ``sending``
later is one whose outcome nobody knows; push-despatch reads the order back before sending
it again. Every function runs in the caller's transaction when given its connection.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqsync.store import movements
from sqsync.store.database import Store, connection_of
from sqsync.store.shipments import SHIPMENT_COLUMNS, shipment_dict

Db = Store | sqlite3.Connection

PUSH_STATES = ("pending", "sending", "pushed", "failed")


@dataclass(frozen=True)
class OrderRef:
    """The order a despatch row names."""

    id: int
    order_number: str
    client: str
    status: str


@dataclass(frozen=True)
class Shipment:
    """One shipment as push-despatch sees it."""

    id: int
    carrier: str
    service: str
    tracking_number: str | None
    tracking_url: str | None
    shipped_at: str
    push_state: str


@dataclass
class UnpushedOrder:
    """A DESPATCHED order with shipments still to push (pending, or sending: in doubt)."""

    id: int
    order_number: str
    squarespace_id: str
    sq_fulfillment_status: str | None
    problems: tuple[str, ...] = ()
    any_pushed: bool = False  # some shipment of the order already reached Squarespace
    shipments: list[Shipment] = field(default_factory=list)

    def in_state(self, state: str) -> list[Shipment]:
        return [s for s in self.shipments if s.push_state == state]


# -- recording ------------------------------------------------------------------------


def find_order_refs(db: Db, order_number: str, client: str | None = None) -> list[OrderRef]:
    """Every order with this number (one per client at most), or only ``client``'s."""
    sql = (
        "SELECT o.id, o.order_number, c.code, o.status FROM orders o"
        " JOIN clients c ON c.id = o.client_id WHERE o.order_number = ?"
    )
    params: list[Any] = [order_number]
    if client is not None:
        sql += " AND c.code = ?"
        params.append(client)
    rows = connection_of(db).execute(sql + " ORDER BY c.code", params)
    return [OrderRef(r[0], r[1], r[2], r[3]) for r in rows]


def has_shipment(db: Db, order_id: int, tracking_number: str) -> bool:
    """Whether a parcel with this tracking number is already recorded on the order."""
    sql = "SELECT 1 FROM shipments WHERE order_id = ? AND tracking_number = ?"
    return connection_of(db).execute(sql, (order_id, tracking_number)).fetchone() is not None


def count_trackless(
    db: Db, order_id: int, carrier: str, service: str, shipped_at: str | None
) -> int:
    """How many trackless parcels by this carrier and service the order has (shipped at
    ``shipped_at``, when given)."""
    sql = (
        "SELECT count(*) FROM shipments WHERE order_id = ? AND tracking_number IS NULL"
        " AND carrier = ? AND service = ?"
    )
    params: tuple[Any, ...] = (order_id, carrier, service)
    if shipped_at is not None:
        sql += " AND shipped_at = ?"
        params += (shipped_at,)
    return int(connection_of(db).execute(sql, params).fetchone()[0])


def add_shipment(
    db: Db,
    order_id: int,
    *,
    carrier: str,
    service: str,
    tracking_number: str | None,
    tracking_url: str | None,
    shipped_at: str,
    created_at: str,
) -> int:
    cursor = connection_of(db).execute(
        "INSERT INTO shipments (order_id, carrier, service, tracking_number, tracking_url,"
        " shipped_at, push_state, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
        (order_id, carrier, service, tracking_number, tracking_url, shipped_at, created_at),
    )
    return int(cursor.lastrowid or 0)


def mark_despatched(db: Db, order_id: int, despatched_at: str, now: str) -> list[str]:
    """Make the order DESPATCHED and take its lines off on_hand; return the shortfalls.

    The goods have physically left, so a count that is too low cannot refuse the
    despatch: on_hand stops at 0 and each SKU it could not fully cover is returned
    (``"RED-S: 2 shipped, 1 on hand"``) for the caller to warn about. Each counted SKU
    gets a ``despatch`` movement naming the order (and the shortfall, which explains a
    delta smaller than what shipped); a SKU never counted stays uncounted, so none.
    """
    conn = connection_of(db)
    conn.execute(
        "UPDATE orders SET status = 'DESPATCHED', despatched_at = ?, updated_at = ? WHERE id = ?",
        (despatched_at, now, order_id),
    )
    lines = conn.execute(
        "SELECT i.sku, sum(i.quantity), o.client_id, o.warehouse_id, s.on_hand, o.order_number"
        " FROM order_items i JOIN orders o ON o.id = i.order_id"
        " LEFT JOIN stock_levels s ON s.client_id = o.client_id"
        "  AND s.warehouse_id = o.warehouse_id AND s.sku = i.sku"
        " WHERE i.order_id = ? GROUP BY i.sku ORDER BY i.sku",
        (order_id,),
    ).fetchall()
    shortfalls = []
    for sku, quantity, client_id, warehouse_id, on_hand, order_number in lines:
        reason = f"order {order_number}"
        if on_hand is None or on_hand < quantity:
            shortfall = f"{quantity} shipped, {on_hand or 0} on hand"
            shortfalls.append(f"{sku}: {shortfall}")
            reason += f" ({shortfall})"
        if on_hand is not None:
            after = max(0, on_hand - quantity)
            conn.execute(
                "UPDATE stock_levels SET on_hand = ?, updated_at = ?"
                " WHERE client_id = ? AND warehouse_id = ? AND sku = ?",
                (after, now, client_id, warehouse_id, sku),
            )
            movements.record(
                conn,
                client_id,
                warehouse_id,
                sku,
                source="despatch",
                before=on_hand,
                after=after,
                reason=reason,
                at=now,
            )
    return shortfalls


# -- the push state machine -------------------------------------------------------------


def unpushed_orders(db: Db, connection: str) -> list[UnpushedOrder]:
    """DESPATCHED orders of ``connection`` with pending or sending shipments, oldest first.

    One query for all of them (not one per order), so a backlog of thousands is cheap.
    """
    rows = connection_of(db).execute(
        "SELECT o.id AS oid, o.order_number, o.squarespace_id, o.sq_fulfillment_status,"
        " o.problems, EXISTS (SELECT 1 FROM shipments p WHERE p.order_id = o.id"
        " AND p.push_state = 'pushed') AS any_pushed, s.id, s.carrier, s.service,"
        " s.tracking_number, s.tracking_url, s.shipped_at,"
        " s.push_state FROM shipments s JOIN orders o ON o.id = s.order_id"
        " WHERE o.connection = ? AND o.status = 'DESPATCHED'"
        " AND s.push_state IN ('pending', 'sending') ORDER BY o.id, s.id",
        (connection,),
    )
    orders: list[UnpushedOrder] = []
    for row in rows:
        if not orders or orders[-1].id != row["oid"]:
            orders.append(
                UnpushedOrder(
                    row["oid"],
                    row["order_number"],
                    row["squarespace_id"],
                    row["sq_fulfillment_status"],
                    tuple(json.loads(row["problems"])),
                    bool(row["any_pushed"]),
                )
            )
        orders[-1].shipments.append(
            Shipment(
                row["id"],
                row["carrier"],
                row["service"],
                row["tracking_number"],
                row["tracking_url"],
                row["shipped_at"],
                row["push_state"],
            )
        )
    return orders


def _move(
    db: Db, ids: Sequence[int], to: str, from_states: Sequence[str], extra: str = "", *args: Any
) -> int:
    if not ids:
        return 0
    marks = ", ".join("?" for _ in ids)
    states = ", ".join("?" for _ in from_states)
    cursor = connection_of(db).execute(
        f"UPDATE shipments SET push_state = ?{extra}"
        f" WHERE id IN ({marks}) AND push_state IN ({states})",
        (to, *args, *ids, *from_states),
    )
    return cursor.rowcount


def claim(store: Store, ids: Sequence[int]) -> bool:
    """pending -> sending for every one of ``ids`` in one transaction, committed before the
    POST; False (nothing changed) if one is no longer pending (another process has it)."""
    with store.transaction() as conn:
        marks = ", ".join("?" for _ in ids)
        pending = conn.execute(
            f"SELECT count(*) FROM shipments WHERE id IN ({marks}) AND push_state = 'pending'",
            list(ids),
        ).fetchone()[0]
        if pending != len(ids):
            return False
        _move(conn, ids, "sending", ("pending",), ", push_attempts = push_attempts + 1")
    return True


def mark_pushed(db: Db, ids: Sequence[int], at: str) -> int:
    return _move(
        db, ids, "pushed", ("pending", "sending"), ", pushed_at = ?, push_error = NULL", at
    )


def mark_failed(db: Db, ids: Sequence[int], error: str) -> int:
    return _move(db, ids, "failed", ("pending", "sending"), ", push_error = ?", error)


def release(db: Db, ids: Sequence[int]) -> int:
    """sending -> pending: the fulfilment certainly did not reach Squarespace."""
    return _move(db, ids, "pending", ("sending",))


def set_fulfilled(db: Db, order_id: int, now: str) -> None:
    """Remember that Squarespace now has the order FULFILLED (a late trackless parcel for
    it then needs no request)."""
    connection_of(db).execute(
        "UPDATE orders SET sq_fulfillment_status = 'FULFILLED', updated_at = ? WHERE id = ?",
        (now, order_id),
    )


def retry_failed(db: Db, order_id: int) -> int:
    """failed -> pending for the order's shipments (after the cause was fixed)."""
    cursor = connection_of(db).execute(
        "UPDATE shipments SET push_state = 'pending', push_error = NULL"
        " WHERE order_id = ? AND push_state = 'failed'",
        (order_id,),
    )
    return cursor.rowcount


# -- listing ------------------------------------------------------------------------


def iter_shipments(
    db: Db, *, connection: str | None = None, state: str | None = None
) -> Iterator[dict[str, Any]]:
    """Shipments with their order and push state, oldest first, optionally filtered."""
    used = [(sql, v) for sql, v in (("o.connection", connection), ("s.push_state", state)) if v]
    where = (" WHERE " + " AND ".join(f"{sql} = ?" for sql, _ in used)) if used else ""
    params = [value for _, value in used]
    columns = ", ".join(f"s.{c.strip()}" for c in SHIPMENT_COLUMNS.split(","))
    rows = connection_of(db).execute(
        f"SELECT {columns}, o.order_number, o.connection, c.code AS client FROM shipments s"
        " JOIN orders o ON o.id = s.order_id JOIN clients c ON c.id = o.client_id"
        f"{where} ORDER BY s.id",
        params,
    )
    for row in rows:
        yield {
            "order_number": row["order_number"],
            "connection": row["connection"],
            "client": row["client"],
            **shipment_dict(row),
            "push_error": row["push_error"],
            "push_attempts": row["push_attempts"],
            "pushed_at": row["pushed_at"],
        }


def shipment_counts(db: Db, connection: str) -> dict[str, int]:
    """The connection's shipments not yet in Squarespace, and those refused (``failed``)."""
    rows = connection_of(db).execute(
        "SELECT s.push_state, count(*) FROM shipments s JOIN orders o ON o.id = s.order_id"
        " WHERE o.connection = ? AND s.push_state != 'pushed' GROUP BY s.push_state",
        (connection,),
    )
    by_state = dict(rows.fetchall())
    return {
        # pending and sending go out on the next push-despatch; failed wait for a person.
        "unpushed": sum(by_state.values()),
        "failed": by_state.get("failed", 0),
    }
