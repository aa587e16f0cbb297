"""Recording despatches: what the warehouse shipped, one parcel (shipment) at a time.

A store-side service: it needs no Squarespace client (push-despatch sends them later).
Feed rows become :class:`~sqsync.domain.despatch.Despatch` values in :mod:`sqsync.feeds`.

    summary = record_despatches(store, despatches_from_feed(rows, "shipped.csv"))

A despatch names an order by its number (as ``sqsync orders`` shows it) with the carrier,
service and, when there is one, the tracking number and URL. Recording makes the order
DESPATCHED and takes its lines off on_hand the first time; later parcels for an order
already DESPATCHED only add shipments. A whole feed is one transaction: the first bad row
(unknown order, ambiguous order number, a field Squarespace would refuse) raises
:class:`~sqsync.errors.InputError` naming its line, and nothing is written.

An order the warehouse was told not to ship is refused, with the reason: HOLDING (say
refunded, fulfilled elsewhere, an unknown SKU: its problems are named) or CANCELLED (or
any status but NEW and DESPATCHED). Every row is checked, and if any is refused the feed
raises :class:`DespatchRefused` listing each refused row, and nothing is written; with
``skip_refused`` the others are recorded and the refused ones listed in the summary.
``force`` records them anyway, for goods that really left: a HOLDING order is despatched
as usual, while a parcel for a CANCELLED order takes the units off on_hand (once) but is
``local_only``: push-despatch never sends it.

:func:`void_despatch` discards an order's shipments that will never go (pending, failed,
local_only), and when nothing of the order went, puts its units back on hand and its
status back (CANCELLED if Squarespace cancelled it, else NEW, or HOLDING with problems).

Choices where the issue is silent:

- ``shipped_at`` must carry a timezone (``Z`` or ``+01:00``); a naive time is refused
  rather than guessed, because a warehouse clock on local time would shift it by hours.
- An order number held by several clients needs ``client`` (a column, or ``--client``);
  one held by a single client needs nothing.
- Recording is idempotent: a parcel already recorded (same order and tracking number,
  compared without case or spaces, void ones included) is skipped and counted, so running
  the same feed twice, or a carrier's second export formatting the numbers differently,
  never creates a second shipment (nor a second customer email). The same tracking
  number twice in one feed is an error naming both lines. Trackless parcels are counted
  per (order, carrier, service, shipped_at when given): identical trackless rows are
  split parcels, and a re-imported feed records none of them twice (see
  :class:`_TracklessParcels`).
- A tracking URL without a tracking number is refused: Squarespace only takes a URL on a
  shipment, which needs a number, so it would be silently lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqsync.clock import utcnow
from sqsync.domain.despatch import Despatch, DespatchSummary, VoidSummary, tracking_key
from sqsync.domain.orders import (
    CANCELED,
    CANCELLED,
    CANCELLED_IN_SQUARESPACE,
    DESPATCH_VOIDED,
    HOLDING,
    NEW,
)
from sqsync.errors import InputError
from sqsync.store import despatches as db
from sqsync.store.database import Store, utc_text
from sqsync.store.owners import resolve_order

log = logging.getLogger("sqsync.despatch")

# The statuses a despatch is recorded for without --force: an order to ship, and one
# already despatched (a late parcel of a split despatch).
SHIPPABLE = ("NEW", "DESPATCHED")


class DespatchRefused(InputError):
    """Rows refused for their order's status; nothing was written. ``reasons`` holds one
    line per refused row, ``rows`` how many rows there were."""

    def __init__(self, reasons: list[str], rows: int) -> None:
        self.reasons = reasons
        self.rows = rows
        super().__init__(f"{len(reasons)} of {rows} despatches refused; nothing was recorded")


def record_despatches(
    store: Store,
    despatches: Sequence[Despatch],
    *,
    force: bool = False,
    skip_refused: bool = False,
    clock: Callable[[], datetime] = utcnow,
) -> DespatchSummary:
    """Record every despatch in one transaction, all or nothing (see the module doc)."""
    now = clock()
    now_text = utc_text(now)
    summary = DespatchSummary()
    refused: list[str] = []
    seen: dict[tuple[int, str], str] = {}
    trackless = _TracklessParcels()
    despatched_now: set[int] = set()
    with store.transaction() as conn:
        for despatch in despatches:
            order = resolve_order(
                conn, despatch.order_number, despatch.client, where=despatch.where
            )
            # A row may leave carrier and service to the courier map; an order whose status
            # refuses the row is reported as refused even when it has no courier to lend.
            completed = with_courier(despatch, order)
            if despatch.tracking_number is not None:
                key = (order.id, tracking_key(despatch.tracking_number))
                if key in seen:
                    raise InputError(
                        f"{despatch.where}: order {order.order_number}: the same parcel "
                        f"({_parcel(completed)}) is already on {seen[key]}"
                    )
                seen[key] = despatch.where
                recorded = key[1] in db.tracking_keys(conn, order.id)
            else:
                complete = completed.carrier is not None and completed.service is not None
                recorded = complete and trackless.already_recorded(conn, order.id, completed)
            if recorded:
                summary.already_recorded += 1
                continue
            if order.status not in SHIPPABLE and not force:
                refused.append(f"{despatch.where}: {refusal(order)}")
                continue
            if refused and not skip_refused:
                continue  # the feed is refused: only the other refusals are still wanted
            require_courier(completed, order)
            _record(conn, order, completed, summary, despatched_now, now_text)
        if refused and not skip_refused:
            raise DespatchRefused(refused, len(despatches))
    summary.skipped = refused
    for shortfall in summary.shortfalls:
        log.warning("despatch: stock count too low, on hand stopped at 0: %s", shortfall)
    return summary


def with_courier(despatch: Despatch, order: db.OrderRef) -> Despatch:
    """The despatch with the order's mapped carrier and service where it gives none
    (still None where the courier map has none to lend)."""
    if despatch.carrier is not None and despatch.service is not None:
        return despatch
    return replace(
        despatch,
        carrier=despatch.carrier or order.carrier,
        service=despatch.service or order.service,
    )


def require_courier(despatch: Despatch, order: db.OrderRef) -> None:
    """A parcel to record needs a carrier and a service (Squarespace's shipment has them):
    when neither the row nor the courier map gave them, one line to act on."""
    if despatch.carrier is not None and despatch.service is not None:
        return
    missing = " and ".join(
        name
        for name, value in (("carrier", despatch.carrier), ("service", despatch.service))
        if value is None
    )
    why = (
        f"the courier map has none for its shipping method {order.shipping_method!r}"
        if order.shipping_method
        else "the order has no shipping method to map"
    )
    raise InputError(
        f"{despatch.where}: order {order.order_number}: no {missing} given, and {why}; "
        "give --carrier and --service (or the feed's columns), or map the method in "
        "courier_map"
    )


def _courier(despatch: Despatch) -> tuple[str, str]:
    """Carrier and service of a despatch :func:`with_courier` has completed."""
    if despatch.carrier is None or despatch.service is None:
        raise ValueError(f"{despatch.where}: carrier and service must be resolved first")
    return despatch.carrier, despatch.service


def refusal(order: db.OrderRef) -> str:
    """Why a despatch for ``order`` is refused: ``order SQ-1 is HOLDING (payment_state:
    REFUNDED)``, its problems being the codes ``sqsync orders`` shows."""
    detail = f" ({', '.join(order.problems)})" if order.status == HOLDING and order.problems else ""
    return f"order {order.order_number} is {order.status}{detail}; not recorded"


def _record(
    conn: Any,
    order: db.OrderRef,
    despatch: Despatch,
    summary: DespatchSummary,
    despatched_now: set[int],
    now_text: str,
) -> None:
    """Add one parcel, despatching its order (units off on hand) the first time."""
    shipped_at = utc_text(despatch.shipped_at) if despatch.shipped_at else now_text
    push_state = "pending"
    if order.id in despatched_now:
        pass  # another parcel of an order this feed despatched: a split despatch
    elif order.status in (NEW, HOLDING):
        shortfalls = db.mark_despatched(conn, order.id, shipped_at, now_text)
        summary.shortfalls += [f"order {order.order_number}: {s}" for s in shortfalls]
        despatched_now.add(order.id)
        summary.orders_despatched += 1
    elif order.status == "DESPATCHED":
        summary.late_parcels += 1
    else:
        # Forced for an order that will not be shipped (CANCELLED): the goods left before
        # the cancellation arrived, so the shelf is short, but Squarespace must not be told
        # (a cancelled order takes no fulfilment; the customer is not emailed).
        push_state = "local_only"
        summary.local_only += 1
        if order.despatched_at is None:
            shortfalls = db.mark_left_anyway(conn, order.id, shipped_at, now_text)
            summary.shortfalls += [f"order {order.order_number}: {s}" for s in shortfalls]
    db.add_shipment(
        conn,
        order.id,
        carrier=_courier(despatch)[0],
        service=_courier(despatch)[1],
        tracking_number=despatch.tracking_number,
        tracking_url=despatch.tracking_url,
        shipped_at=shipped_at,
        created_at=now_text,
        push_state=push_state,
    )
    summary.shipments += 1


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
        carrier, service = _courier(despatch)
        key = (order_id, carrier, service, shipped_at)
        if key not in self.before:
            self.before[key] = db.count_trackless(conn, order_id, carrier, service, shipped_at)
        self.seen[key] = self.seen.get(key, 0) + 1
        return self.seen[key] <= self.before[key]


def _parcel(despatch: Despatch) -> str:
    if despatch.tracking_number is not None:
        return f"tracking number {despatch.tracking_number}"
    return f"{despatch.carrier} {despatch.service} without tracking"


def retry_failed(store: Store, order_number: str, client: str | None = None) -> int:
    """Put the order's failed shipments back to pending (after fixing the cause); return
    how many. Raises InputError when the order is unknown, AmbiguousError when several
    clients have that number."""
    with store.transaction() as conn:
        return db.retry_failed(conn, resolve_order(conn, order_number, client).id)


def void_despatch(
    store: Store,
    order_number: str,
    client: str | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> VoidSummary:
    """Discard the order's shipments that will never go (see the module doc).

    Raises InputError (one line) when the order has none: a shipment in Squarespace
    (pushed) or maybe on its way (sending) is not this command's to discard.
    """
    now_text = utc_text(clock())
    with store.transaction() as conn:
        order = resolve_order(conn, order_number, client)
        states = db.push_states(conn, order.id)
        voided = db.void_shipments(conn, order.id, now_text)
        if not voided:
            raise InputError(f"order {order.order_number} has nothing to void: {_held(states)}")
        summary = VoidSummary(order.order_number, voided, status=order.status)
        if states.get("pushed") or states.get("sending"):
            summary.units_kept = True
            return summary
        if order.status == "DESPATCHED" or order.despatched_at is not None:
            summary.returned = db.return_stock(conn, order.id, now_text)
        summary.status = _status_after_void(order)
        problems = None
        if summary.status == HOLDING and DESPATCH_VOIDED not in order.problems:
            problems = [*order.problems, DESPATCH_VOIDED]
        db.undespatch(conn, order.id, summary.status, now_text, problems)
    return summary


def _status_after_void(order: db.OrderRef) -> str:
    """The status of an order whose despatch is undone: CANCELLED when it was cancelled,
    else HOLDING (``despatch_voided``) for a person to release or close it: reopened as
    NEW, a WMS taking the change feed would pick and ship it again."""
    if order.status != "DESPATCHED":
        return order.status  # a forced parcel of a CANCELLED order: it stays CANCELLED
    if order.sq_fulfillment_status == CANCELED or CANCELLED_IN_SQUARESPACE in order.problems:
        return CANCELLED
    return HOLDING


def _held(states: dict[str, int]) -> str:
    """What the order's shipments are, when none can be voided."""
    if not states:
        return "it has no shipments"
    why = {
        "pushed": "already in Squarespace",
        "sending": "being pushed: push-despatch settles it first",
        "void": "already void",
    }
    return "; ".join(f"{count} {state} ({why[state]})" for state, count in sorted(states.items()))
