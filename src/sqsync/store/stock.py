"""Stock levels: on hand per client + warehouse + SKU, and what open orders allocate.

``allocated`` is the quantity on NEW and HOLDING orders (stock promised but not shipped),
except orders the warehouse will not ship (fulfilled in Squarespace, refunded);
``available = max(0, on_hand - allocated)`` is what may still be sold. Both are computed
from the orders on read, never stored, so they cannot drift from the orders themselves.
Every change of on_hand made here (a count, a feed row, an adjust) writes its row in the
movement log (:mod:`sqsync.store.movements`) in the same transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqsync.domain.limits import MAX_QUANTITY
from sqsync.domain.orders import WILL_NOT_SHIP
from sqsync.errors import InputError
from sqsync.store import catalog, movements
from sqsync.store.database import Store, connection_of, now_text
from sqsync.store.movements import Movement
from sqsync.store.owners import row_code

Db = Store | sqlite3.Connection

# Keys present in stock_levels or allocated by an open order; the second half makes an SKU
# that is ordered but was never counted show up with on_hand 0 instead of vanishing.
_LEVELS_SQL = """
WITH alloc AS (
    SELECT o.client_id, o.warehouse_id, i.sku, sum(i.quantity) AS allocated
    FROM order_items i JOIN orders o ON o.id = i.order_id
    WHERE o.status IN ('NEW', 'HOLDING') {will_ship} {order_filter}
    GROUP BY o.client_id, o.warehouse_id, i.sku
),
keys AS (
    SELECT client_id, warehouse_id, sku FROM stock_levels s WHERE 1 = 1 {level_filter}
    UNION
    SELECT client_id, warehouse_id, sku FROM alloc
)
SELECT k.sku, c.code AS client, w.code AS warehouse,
       coalesce(s.on_hand, 0) AS on_hand, coalesce(a.allocated, 0) AS allocated
FROM keys k
JOIN clients c ON c.id = k.client_id
JOIN warehouses w ON w.id = k.warehouse_id
LEFT JOIN stock_levels s
       ON s.client_id = k.client_id AND s.warehouse_id = k.warehouse_id AND s.sku = k.sku
LEFT JOIN alloc a
       ON a.client_id = k.client_id AND a.warehouse_id = k.warehouse_id AND a.sku = k.sku
ORDER BY c.code, w.code, k.sku
"""


# Orders the warehouse will not ship (fulfilled elsewhere, refunded) allocate nothing.
_WILL_SHIP = "".join(f" AND o.problems NOT LIKE '%\"{code}\"%'" for code in WILL_NOT_SHIP)


def _levels(db: Db, client: str | None, warehouse: str | None) -> Iterator[sqlite3.Row]:
    conditions = []
    params: dict[str, Any] = {"client": client, "warehouse": warehouse}
    if client is not None:
        conditions.append("client_id = (SELECT id FROM clients WHERE code = :client)")
    if warehouse is not None:
        conditions.append("warehouse_id = (SELECT id FROM warehouses WHERE code = :warehouse)")
    level_filter = "".join(f" AND s.{c}" for c in conditions)
    order_filter = "".join(f" AND o.{c}" for c in conditions)
    sql = _LEVELS_SQL.format(
        level_filter=level_filter, order_filter=order_filter, will_ship=_WILL_SHIP
    )
    return iter(connection_of(db).execute(sql, params))


def stock_rows(
    db: Db, client: str | None = None, warehouse: str | None = None
) -> Iterator[dict[str, Any]]:
    """sku, client, warehouse, on_hand, allocated, available for every stocked or ordered SKU."""
    for row in _levels(db, client, warehouse):
        yield {
            "sku": row["sku"],
            "client": row["client"],
            "warehouse": row["warehouse"],
            "on_hand": row["on_hand"],
            "allocated": row["allocated"],
            "available": max(0, row["on_hand"] - row["allocated"]),
        }


def availability(db: Db, client: str, warehouse: str) -> dict[str, tuple[int, int]]:
    """{sku: (on_hand, allocated)} for one client and warehouse, in one query (for sync-stock)."""
    return {
        row["sku"]: (row["on_hand"], row["allocated"]) for row in _levels(db, client, warehouse)
    }


def counted_skus(db: Db, client: str, warehouse: str) -> set[str]:
    """The SKUs this client and warehouse have counted (a stock_levels row, 0 included)."""
    rows = connection_of(db).execute(
        "SELECT s.sku FROM stock_levels s JOIN clients c ON c.id = s.client_id"
        " JOIN warehouses w ON w.id = s.warehouse_id WHERE c.code = ? AND w.code = ?",
        (client, warehouse),
    )
    return {row[0] for row in rows}


def set_on_hand(
    db: Db,
    client: str,
    warehouse: str,
    sku: str,
    on_hand: int,
    *,
    source: str = "count",
    reason: str | None = None,
) -> Movement:
    """Set the counted stock of ``sku``; the client, warehouse and product are created if new.

    The count and its movement (``source`` ``count``, or ``import`` for a feed row) commit
    together, in the caller's transaction when given one, so a whole feed commits
    together. A count that confirms the number on hand is logged too (delta 0): a stock
    take is an event worth seeing in the history.
    """
    if not sku or not sku.strip():
        raise InputError("a SKU must not be empty or blank")
    if isinstance(on_hand, bool) or not isinstance(on_hand, int) or on_hand < 0:
        raise InputError(f"{sku}: quantity must be a whole number >= 0, got {on_hand!r}")
    if on_hand > MAX_QUANTITY:
        raise InputError(f"{sku}: quantity must be at most {MAX_QUANTITY:,}")
    reason = movements.clean_reason(reason)
    with _atomic(db) as conn:
        ids, before = _current(conn, client, warehouse, sku)
        return _write(conn, ids, client, warehouse, sku, before, on_hand, source, reason)


def adjust_on_hand(
    db: Db,
    client: str,
    warehouse: str,
    sku: str,
    delta: int,
    *,
    reason: str,
    source: str = "adjust",
) -> Movement:
    """Add ``delta`` (negative: take off) to the on hand of ``sku``, with a reason.

    A SKU never counted counts as 0, so ``+24`` counts it at 24 and ``-1`` is refused.
    Refused (InputError, nothing written) when on hand would go below 0 or above
    MAX_QUANTITY, for a delta of 0 (it would log a change that is none) and without a
    reason. On hand is read and written in one transaction, so two adjusts at once
    cannot lose one of them.
    """
    if not sku or not sku.strip():
        raise InputError("a SKU must not be empty or blank")
    if isinstance(delta, bool) or not isinstance(delta, int):
        raise InputError(f"{sku}: an adjustment must be a whole number, got {delta!r}")
    if delta == 0:
        raise InputError(f"{sku}: an adjustment of 0 changes nothing")
    cleaned = movements.clean_reason(reason)
    if cleaned is None:
        raise InputError(f"{sku}: an adjustment needs a reason")
    with _atomic(db) as conn:
        ids, before = _current(conn, client, warehouse, sku)
        current = before or 0
        after = current + delta
        if not 0 <= after <= MAX_QUANTITY:
            limit = "below 0" if after < 0 else f"above {MAX_QUANTITY:,}"
            counted = "" if before is not None else " (never counted)"
            raise InputError(
                f"{sku}: on hand is {current}{counted}; adjusting by {delta:+d} would take it "
                f"{limit}"
            )
        return _write(conn, ids, client, warehouse, sku, before, after, source, cleaned)


@contextmanager
def _atomic(db: Db) -> Iterator[sqlite3.Connection]:
    """One unit for a count and its movement: a Store's own transaction, or a savepoint on
    a bare connection (inside the caller's transaction, or its own in autocommit)."""
    if isinstance(db, Store):
        with db.transaction() as conn:
            yield conn
        return
    db.execute("SAVEPOINT stock_change")
    try:
        yield db
    except BaseException:
        if db.in_transaction:  # SQLite may have rolled it all back already (a full disk)
            db.execute("ROLLBACK TO stock_change")
            db.execute("RELEASE stock_change")
        raise
    db.execute("RELEASE stock_change")


def _current(
    conn: sqlite3.Connection, client: str, warehouse: str, sku: str
) -> tuple[tuple[int, int], int | None]:
    """The (client, warehouse) ids and the counted on hand of ``sku``, its rows created if
    new. One read when they all exist, as nearly always: a feed of 20,000 rows would
    otherwise pay five round trips a row on PostgreSQL before writing anything."""
    row = conn.execute(
        "SELECT c.id, w.id, p.id, s.on_hand FROM clients c CROSS JOIN warehouses w"
        " LEFT JOIN products p ON p.client_id = c.id AND p.sku = ?"
        " LEFT JOIN stock_levels s"
        " ON s.client_id = c.id AND s.warehouse_id = w.id AND s.sku = ?"
        " WHERE c.code = ? AND w.code = ?",
        (sku, sku, client, warehouse),
    ).fetchone()
    if row is None:  # a new client or warehouse
        ids = _ensure_ids(conn, client, warehouse, sku)
        return ids, _on_hand(conn, ids, sku)
    ids = (int(row[0]), int(row[1]))
    if row[2] is None:  # a new SKU: its product row, whose id nothing here needs
        conn.execute(
            "INSERT INTO products (client_id, sku, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (client_id, sku) DO NOTHING",
            (ids[0], sku, now_text()),
        )
    return ids, None if row[3] is None else int(row[3])


def _ensure_ids(conn: sqlite3.Connection, client: str, warehouse: str, sku: str) -> tuple[int, int]:
    client_id = catalog.ensure_client(conn, client)
    warehouse_id = catalog.ensure_warehouse(conn, warehouse)
    catalog.ensure_product(conn, client_id, sku)
    return client_id, warehouse_id


def _on_hand(conn: sqlite3.Connection, ids: tuple[int, int], sku: str) -> int | None:
    """The counted on hand, or None when the SKU was never counted."""
    row = conn.execute(
        "SELECT on_hand FROM stock_levels WHERE client_id = ? AND warehouse_id = ? AND sku = ?",
        (*ids, sku),
    ).fetchone()
    return None if row is None else int(row[0])


def _write(
    conn: sqlite3.Connection,
    ids: tuple[int, int],
    client: str,
    warehouse: str,
    sku: str,
    before: int | None,
    after: int,
    source: str,
    reason: str | None,
) -> Movement:
    now = now_text()
    conn.execute(
        "INSERT INTO stock_levels (client_id, warehouse_id, sku, on_hand, updated_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (client_id, warehouse_id, sku)"
        " DO UPDATE SET on_hand = excluded.on_hand, updated_at = excluded.updated_at",
        (*ids, sku, after, now),
    )
    movements.record(
        conn, *ids, sku, source=source, before=before, after=after, reason=reason, at=now
    )
    return Movement(sku, client, warehouse, source, before, after, reason)


@dataclass(frozen=True)
class LevelUpdate:
    """One feed row, already validated: set ``sku`` to ``quantity`` on hand."""

    line: int
    sku: str
    quantity: int
    client: str | None = None
    warehouse: str | None = None


def import_levels(
    store: Store,
    updates: Iterable[LevelUpdate],
    *,
    source: str,
    clients: Sequence[str],
    warehouses: Sequence[str],
    default_client: str | None,
    default_warehouse: str | None,
) -> int:
    """Set on_hand for every row, all or nothing; return how many rows were applied.

    Every row is checked before anything is written, and the writes share one transaction,
    so a bad row on line 900 leaves the store exactly as it was. Errors name ``source`` and
    the line.
    """
    resolved: list[tuple[int, str, str, str, int]] = []
    seen: dict[tuple[str, str, str], int] = {}
    for update in updates:
        where = f"{source} line {update.line}"
        client = row_code(update.client, default_client, clients, "client", where)
        warehouse = row_code(update.warehouse, default_warehouse, warehouses, "warehouse", where)
        key = (client, warehouse, update.sku)
        if key in seen:
            raise InputError(
                f"{source} line {update.line}: sku: {update.sku!r} is already set on line "
                f"{seen[key]}"
            )
        seen[key] = update.line
        resolved.append((update.line, client, warehouse, update.sku, update.quantity))
    with store.transaction() as conn:
        for line, client, warehouse, sku, quantity in resolved:
            reason = movements.feed_reason(source, line)
            set_on_hand(conn, client, warehouse, sku, quantity, source="import", reason=reason)
    return len(resolved)
