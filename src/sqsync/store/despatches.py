"""Shipments, write side: recording despatches and moving their push state.

A despatch makes an order DESPATCHED, takes its lines off ``on_hand`` (once, on the first
despatch; allocation follows from the status) and adds a shipment. Each shipment then
walks the push-despatch state machine::

    pending --claim--> sending --POST answered--> pushed | failed
       ^                  |
       +----- release ----+   (nothing reached Squarespace: 429, 409 busy, connect failure)

    pending | failed | local_only --despatch void--> void

``sending`` is committed before the fulfilment is sent, with the time (``claimed_at``), so
a shipment found in ``sending`` later is one whose outcome nobody knows; push-despatch
waits until that request can no longer be in flight, then reads the order back before
sending it again. ``local_only`` is a parcel recorded with --force for a CANCELLED order:
it took its units off on hand but is never pushed. ``void`` is a shipment discarded with
``despatch void``; it is kept (a re-imported feed must not record it again) but never
pushed. Every function runs in the caller's transaction when given its connection.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqsync.domain.despatch import tracking_key
from sqsync.store import movements
from sqsync.store.database import Store, connection_of
from sqsync.store.shipments import SHIPMENT_COLUMNS, shipment_dict

Db = Store | sqlite3.Connection

PUSH_STATES = ("pending", "sending", "pushed", "failed", "void", "local_only")
# What `despatch void` may discard: nothing that is in Squarespace or may be on its way.
VOIDABLE = ("pending", "failed", "local_only")


@dataclass(frozen=True)
class OrderRef:
    """The order a despatch row names."""

    id: int
    order_number: str
    client: str
    status: str
    problems: tuple[str, ...] = ()
    despatched_at: str | None = None
    sq_fulfillment_status: str | None = None
    # What the courier map gave the order's shipping method (None: not mapped).
    carrier: str | None = None
    service: str | None = None
    shipping_method: str | None = None


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
    claimed_at: str | None = None  # when it became sending (None: not sending)


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
    sq_modified_on: str | None = None  # Squarespace's modifiedOn when last imported

    def in_state(self, state: str) -> list[Shipment]:
        return [s for s in self.shipments if s.push_state == state]


# -- recording ------------------------------------------------------------------------


def find_order_refs(db: Db, order_number: str, client: str | None = None) -> list[OrderRef]:
    """Every order with this number (one per client at most), or only ``client``'s."""
    sql = (
        "SELECT o.id, o.order_number, c.code, o.status, o.problems, o.despatched_at,"
        " o.sq_fulfillment_status, o.carrier, o.service, o.shipping_method FROM orders o"
        " JOIN clients c ON c.id = o.client_id WHERE o.order_number = ?"
    )
    params: list[Any] = [order_number]
    if client is not None:
        sql += " AND c.code = ?"
        params.append(client)
    rows = connection_of(db).execute(sql + " ORDER BY c.code", params)
    return [
        OrderRef(r[0], r[1], r[2], r[3], tuple(json.loads(r[4])), r[5], r[6], r[7], r[8], r[9])
        for r in rows
    ]


def tracking_keys(db: Db, order_id: int) -> set[str]:
    """The tracking numbers recorded on the order (void ones too: a discarded parcel
    re-imported is not new), compared by :func:`~sqsync.domain.despatch.tracking_key`."""
    rows = connection_of(db).execute(
        "SELECT tracking_number FROM shipments WHERE order_id = ? AND tracking_number IS NOT NULL",
        (order_id,),
    )
    return {tracking_key(row[0]) for row in rows}


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
    push_state: str = "pending",
) -> int:
    cursor = connection_of(db).execute(
        "INSERT INTO shipments (order_id, carrier, service, tracking_number, tracking_url,"
        " shipped_at, push_state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            order_id,
            carrier,
            service,
            tracking_number,
            tracking_url,
            shipped_at,
            push_state,
            created_at,
        ),
    )
    return int(cursor.fetchone()[0])


def mark_despatched(db: Db, order_id: int, despatched_at: str, now: str) -> list[str]:
    """Make the order DESPATCHED and take its lines off on_hand; return the shortfalls
    (see :func:`take_stock`)."""
    connection_of(db).execute(
        "UPDATE orders SET status = 'DESPATCHED', despatched_at = ?, updated_at = ? WHERE id = ?",
        (despatched_at, now, order_id),
    )
    return take_stock(db, order_id, now)


def mark_left_anyway(db: Db, order_id: int, despatched_at: str, now: str) -> list[str]:
    """A forced parcel of an order that stays as it is (CANCELLED): its lines leave on_hand
    once, noted by ``despatched_at``; the status is not touched."""
    connection_of(db).execute(
        "UPDATE orders SET despatched_at = ?, updated_at = ? WHERE id = ?",
        (despatched_at, now, order_id),
    )
    return take_stock(db, order_id, now, note="left after it was cancelled")


def take_stock(db: Db, order_id: int, now: str, *, note: str | None = None) -> list[str]:
    """Take the order's lines off on_hand; return the shortfalls.

    The goods have physically left, so a count that is too low cannot refuse the
    despatch: on_hand stops at 0 and each SKU it could not fully cover is returned
    (``"RED-S: 2 shipped, 1 on hand"``) for the caller to warn about. Each counted SKU
    gets a ``despatch`` movement naming the order (and the shortfall, which explains a
    delta smaller than what shipped); a SKU never counted stays uncounted, so none.
    """
    conn = connection_of(db)
    shortfalls = []
    for sku, quantity, client_id, warehouse_id, on_hand, order_number in _lines(conn, order_id):
        reason = f"order {order_number}" + (f" ({note})" if note else "")
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


def _lines(conn: sqlite3.Connection, order_id: int) -> list[Any]:
    """(sku, quantity, client_id, warehouse_id, on_hand or None, order_number) per SKU."""
    return conn.execute(
        "SELECT i.sku, sum(i.quantity), o.client_id, o.warehouse_id, s.on_hand, o.order_number"
        " FROM order_items i JOIN orders o ON o.id = i.order_id"
        " LEFT JOIN stock_levels s ON s.client_id = o.client_id"
        "  AND s.warehouse_id = o.warehouse_id AND s.sku = i.sku"
        " WHERE i.order_id = ?"
        " GROUP BY i.sku, o.client_id, o.warehouse_id, s.on_hand, o.order_number ORDER BY i.sku",
        (order_id,),
    ).fetchall()


# -- voiding ----------------------------------------------------------------------------


def push_states(db: Db, order_id: int) -> dict[str, int]:
    """How many of the order's shipments are in each push state."""
    rows = connection_of(db).execute(
        "SELECT push_state, count(*) FROM shipments WHERE order_id = ? GROUP BY push_state",
        (order_id,),
    )
    return dict(rows.fetchall())


def void_shipments(db: Db, order_id: int, at: str) -> int:
    """Discard the order's voidable shipments (:data:`VOIDABLE`); return how many."""
    states = ", ".join("?" for _ in VOIDABLE)
    cursor = connection_of(db).execute(
        f"UPDATE shipments SET push_state = 'void', voided_at = ? WHERE order_id = ?"
        f" AND push_state IN ({states})",
        (at, order_id, *VOIDABLE),
    )
    return cursor.rowcount


def return_stock(db: Db, order_id: int, now: str) -> list[str]:
    """Put the order's lines back on hand (its despatch was voided); return what moved
    (``"RED-S +2"``). Each counted SKU gets a ``void`` movement naming the order; a SKU
    never counted stays uncounted, as :func:`take_stock` left it."""
    conn = connection_of(db)
    returned = []
    for sku, quantity, client_id, warehouse_id, on_hand, order_number in _lines(conn, order_id):
        if on_hand is None:
            continue
        conn.execute(
            "UPDATE stock_levels SET on_hand = ?, updated_at = ?"
            " WHERE client_id = ? AND warehouse_id = ? AND sku = ?",
            (on_hand + quantity, now, client_id, warehouse_id, sku),
        )
        movements.record(
            conn,
            client_id,
            warehouse_id,
            sku,
            source="void",
            before=on_hand,
            after=on_hand + quantity,
            reason=f"order {order_number}: despatch voided",
            at=now,
        )
        returned.append(f"{sku} +{quantity}")
    return returned


def undespatch(
    db: Db, order_id: int, status: str, now: str, problems: Sequence[str] | None = None
) -> None:
    """The order's despatch is undone: ``status`` again (with ``problems`` when given), no
    despatched_at."""
    connection_of(db).execute(
        "UPDATE orders SET status = ?, despatched_at = NULL, updated_at = ?,"
        " problems = coalesce(?, problems) WHERE id = ?",
        (status, now, None if problems is None else json.dumps(list(problems)), order_id),
    )


# -- the push state machine -------------------------------------------------------------


def unpushed_orders(db: Db, connection: str) -> list[UnpushedOrder]:
    """DESPATCHED orders of ``connection`` with pending or sending shipments, oldest first.

    One query for all of them (not one per order), so a backlog of thousands is cheap.
    """
    rows = connection_of(db).execute(
        "SELECT o.id AS oid, o.order_number, o.squarespace_id, o.sq_fulfillment_status,"
        " o.sq_modified_on, o.problems, EXISTS (SELECT 1 FROM shipments p WHERE p.order_id = o.id"
        " AND p.push_state = 'pushed') AS any_pushed, s.id, s.carrier, s.service,"
        " s.tracking_number, s.tracking_url, s.shipped_at, s.push_state, s.claimed_at"
        " FROM shipments s JOIN orders o ON o.id = s.order_id"
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
                    sq_modified_on=row["sq_modified_on"],
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
                row["claimed_at"],
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


def claim(store: Store, ids: Sequence[int], at: str) -> bool:
    """pending -> sending for every one of ``ids`` in one transaction, committed before the
    POST with the time ``at``; False (nothing changed) if one is no longer pending
    (another process has it, or it was voided)."""
    with store.transaction() as conn:
        marks = ", ".join("?" for _ in ids)
        pending = conn.execute(
            f"SELECT count(*) FROM shipments WHERE id IN ({marks}) AND push_state = 'pending'",
            list(ids),
        ).fetchone()[0]
        if pending != len(ids):
            return False
        _move(
            conn,
            ids,
            "sending",
            ("pending",),
            ", push_attempts = push_attempts + 1, claimed_at = ?",
            at,
        )
    return True


def restamp_claims(db: Db, ids: Sequence[int], at: str) -> int:
    """Set the claim time of ``sending`` shipments to ``at`` (one stamped by a clock that
    was ahead: waiting for it to come round would hold them back for that long)."""
    return _move(db, ids, "sending", ("sending",), ", claimed_at = ?", at)


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


def set_cancelled(db: Db, order_id: int, now: str) -> None:
    """Remember that Squarespace has the order CANCELED (seen by push-despatch before the
    next import): later runs need no request to know, and ``despatch void`` makes it
    CANCELLED."""
    connection_of(db).execute(
        "UPDATE orders SET sq_fulfillment_status = 'CANCELED', updated_at = ? WHERE id = ?",
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
    """The connection's shipments not yet in Squarespace, and those refused (``failed``).
    Void and local_only shipments are neither: they are never to go."""
    rows = connection_of(db).execute(
        "SELECT s.push_state, count(*) FROM shipments s JOIN orders o ON o.id = s.order_id"
        " WHERE o.connection = ? AND s.push_state IN ('pending', 'sending', 'failed')"
        " GROUP BY s.push_state",
        (connection,),
    )
    by_state = dict(rows.fetchall())
    return {
        # pending and sending go out on the next push-despatch; failed wait for a person.
        "unpushed": sum(by_state.values()),
        "failed": by_state.get("failed", 0),
    }
