"""Recording despatches: what the warehouse shipped, one parcel (shipment) at a time.

A store-side service: it needs no Squarespace client (push-despatch sends them later).
Feed rows become :class:`~sqsync.domain.despatch.Despatch` values in :mod:`sqsync.feeds`.

    summary = record_despatches(store, despatches_from_feed(rows, "shipped.csv"))

A despatch names an order by its number (as ``sqsync orders`` shows it) with the carrier,
service and, when there is one, the tracking number and URL. Recording makes the order
DESPATCHED and takes its lines off on_hand the first time; later parcels for an order
already DESPATCHED only add shipments. A whole feed is one transaction: the first bad row
(unknown or CANCELLED order, ambiguous order number, a field Squarespace would refuse)
raises :class:`~sqsync.errors.InputError` naming its line, and nothing is written.

Choices where the issue is silent:

- ``shipped_at`` must carry a timezone (``Z`` or ``+01:00``); a naive time is refused
  rather than guessed, because a warehouse clock on local time would shift it by hours.
- An order number held by several clients needs ``client`` (a column, or ``--client``);
  one held by a single client needs nothing.
- Recording is idempotent: a parcel already recorded (same order and tracking number) is
  skipped and counted, so running the same feed twice never creates a second shipment
  (nor a second customer email). The same tracking number twice in one feed is an error
  naming both lines. Trackless parcels are counted per (order, carrier, service,
  shipped_at when given): identical trackless rows are split parcels, and a re-imported
  feed records none of them twice (see :class:`_TracklessParcels`).
- A tracking URL without a tracking number is refused: Squarespace only takes a URL on a
  shipment, which needs a number, so it would be silently lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqsync.clock import utcnow
from sqsync.domain.despatch import Despatch, DespatchSummary
from sqsync.errors import InputError
from sqsync.store import despatches as db
from sqsync.store.database import Store, utc_text
from sqsync.store.owners import resolve_order

log = logging.getLogger("sqsync.despatch")


def record_despatches(
    store: Store,
    despatches: Sequence[Despatch],
    *,
    clock: Callable[[], datetime] = utcnow,
) -> DespatchSummary:
    """Record every despatch in one transaction, all or nothing (see the module doc)."""
    now = clock()
    now_text = utc_text(now)
    summary = DespatchSummary()
    seen: dict[tuple[int, str], str] = {}
    trackless = _TracklessParcels()
    despatched_now: set[int] = set()
    with store.transaction() as conn:
        for despatch in despatches:
            order = _resolve(conn, despatch)
            if despatch.tracking_number is not None:
                key = (order.id, despatch.tracking_number)
                if key in seen:
                    raise InputError(
                        f"{despatch.where}: order {order.order_number}: the same parcel "
                        f"({_parcel(despatch)}) is already on {seen[key]}"
                    )
                seen[key] = despatch.where
                recorded = db.has_shipment(conn, order.id, despatch.tracking_number)
            else:
                recorded = trackless.already_recorded(conn, order.id, despatch)
            if recorded:
                summary.already_recorded += 1
                continue
            shipped_at = utc_text(despatch.shipped_at or now)
            if order.id in despatched_now:
                pass  # another parcel of an order this feed despatched: a split despatch
            elif order.status in ("NEW", "HOLDING"):
                shortfalls = db.mark_despatched(conn, order.id, shipped_at, now_text)
                summary.shortfalls += [f"order {order.order_number}: {s}" for s in shortfalls]
                despatched_now.add(order.id)
                summary.orders_despatched += 1
            else:
                summary.late_parcels += 1
            db.add_shipment(
                conn,
                order.id,
                carrier=despatch.carrier,
                service=despatch.service,
                tracking_number=despatch.tracking_number,
                tracking_url=despatch.tracking_url,
                shipped_at=shipped_at,
                created_at=now_text,
            )
            summary.shipments += 1
    for shortfall in summary.shortfalls:
        log.warning("despatch: stock count too low, on hand stopped at 0: %s", shortfall)
    return summary


class _TracklessParcels:
    """Tells a re-imported trackless parcel from a second one, which look alike.

    With no tracking number, identical rows may be two parcels of a split despatch. So
    rows count as a multiset per (order, carrier, service, shipped_at when given): the
    n-th such row of a feed is already recorded only if the store held n of them before
    the feed. Re-importing a feed records nothing twice; two identical rows are two
    parcels; a later parcel with its own shipped_at is always new.
    """

    def __init__(self) -> None:
        self.before: dict[tuple[int, str, str, str | None], int] = {}
        self.seen: dict[tuple[int, str, str, str | None], int] = {}

    def already_recorded(self, conn: Any, order_id: int, despatch: Despatch) -> bool:
        shipped_at = utc_text(despatch.shipped_at) if despatch.shipped_at else None
        key = (order_id, despatch.carrier, despatch.service, shipped_at)
        if key not in self.before:
            self.before[key] = db.count_trackless(
                conn, order_id, despatch.carrier, despatch.service, shipped_at
            )
        self.seen[key] = self.seen.get(key, 0) + 1
        return self.seen[key] <= self.before[key]


def _parcel(despatch: Despatch) -> str:
    if despatch.tracking_number is not None:
        return f"tracking number {despatch.tracking_number}"
    return f"{despatch.carrier} {despatch.service} without tracking"


def _resolve(conn: Any, despatch: Despatch) -> db.OrderRef:
    order = resolve_order(conn, despatch.order_number, despatch.client, where=despatch.where)
    if order.status == "CANCELLED":
        raise InputError(
            f"{despatch.where}: order {order.order_number} is CANCELLED and cannot be despatched"
        )
    return order


def retry_failed(store: Store, order_number: str, client: str | None = None) -> int:
    """Put the order's failed shipments back to pending (after fixing the cause); return
    how many. Raises InputError when the order is unknown, AmbiguousError when several
    clients have that number."""
    with store.transaction() as conn:
        return db.retry_failed(conn, resolve_order(conn, order_number, client).id)
