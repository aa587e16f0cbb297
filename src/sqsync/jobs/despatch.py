"""Recording despatches: what the warehouse shipped, one parcel (shipment) at a time.

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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from sqsync.errors import InputError
from sqsync.feeds import Code, FeedRow
from sqsync.jobs.runner import utcnow
from sqsync.squarespace.models import MAX_SHIPMENT_FIELD, is_http_url
from sqsync.store import Store, utc_text
from sqsync.store import despatches as db

log = logging.getLogger("sqsync.despatch")

# The fields Squarespace caps at 100 characters (checked on the row, so a feed is refused
# when it is imported, not days later when push-despatch gets a 400).
_CAPPED = ("carrier", "service", "tracking_number")


def _stripped_or_none(value: Any) -> Any:
    # NDJSON writers often emit numeric order and tracking numbers as numbers.
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _aware_time(value: Any) -> Any:
    if value is None or isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            moment = None
        if moment is None:
            raise PydanticCustomError(
                "iso_time", "must be an ISO-8601 time with a timezone, e.g. 2026-11-27T10:00:00Z"
            )
    if moment is not None and moment.tzinfo is None:
        raise PydanticCustomError(
            "naive_time", "has no timezone; add Z for UTC or an offset such as +01:00"
        )
    return moment


def _http_url(value: Any) -> Any:
    if isinstance(value, str) and not is_http_url(value):
        raise PydanticCustomError("http_url", "must be an http(s) URL")
    return value


Text = Annotated[str, BeforeValidator(_stripped_or_none), Field(min_length=1)]
OptionalText = Annotated[str | None, BeforeValidator(_stripped_or_none)]


class DespatchRow(FeedRow):
    """A ``despatch import`` row (and the checks ``despatch add`` applies to its options)."""

    order_number: Annotated[Text, Field(max_length=200)]
    carrier: Text
    service: Text
    tracking_number: OptionalText = None
    tracking_url: Annotated[OptionalText, BeforeValidator(_http_url)] = None
    shipped_at: Annotated[datetime | None, BeforeValidator(_aware_time)] = None
    client: Code | None = None

    @model_validator(mode="after")
    def _squarespace_limits(self) -> DespatchRow:
        # Checked here rather than per field so the message does not echo a huge value.
        for name in _CAPPED:
            value = getattr(self, name)
            if value is not None and len(value) > MAX_SHIPMENT_FIELD:
                raise PydanticCustomError(
                    "too_long",
                    "{name}: {length} characters; Squarespace takes at most {most}",
                    {"name": name, "length": len(value), "most": MAX_SHIPMENT_FIELD},
                )
        if self.tracking_url is not None and self.tracking_number is None:
            raise PydanticCustomError(
                "url_without_number",
                "tracking_url given without tracking_number; Squarespace keeps a URL only "
                "on a shipment with a tracking number",
            )
        return self


@dataclass(frozen=True)
class Despatch:
    """One parcel to record; ``where`` names it in errors ("shipped.csv line 4")."""

    where: str
    order_number: str
    carrier: str
    service: str
    tracking_number: str | None = None
    tracking_url: str | None = None
    shipped_at: datetime | None = None
    client: str | None = None

    @classmethod
    def from_row(cls, where: str, row: DespatchRow, client: str | None = None) -> Despatch:
        """The row's despatch; ``client`` is the default for a row without one."""
        return cls(
            where,
            row.order_number,
            row.carrier,
            row.service,
            row.tracking_number,
            row.tracking_url,
            row.shipped_at,
            row.client or client,
        )


@dataclass
class DespatchSummary:
    """What a recording did: shipments added, orders newly DESPATCHED, late parcels for
    orders already DESPATCHED, parcels skipped as already recorded, stock shortfalls."""

    shipments: int = 0
    orders_despatched: int = 0
    late_parcels: int = 0
    already_recorded: int = 0
    shortfalls: list[str] = field(default_factory=list)

    def describe(self) -> str:
        text = (
            f"recorded {self.shipments} shipments: {self.orders_despatched} orders despatched, "
            f"{self.late_parcels} late parcels"
        )
        if self.already_recorded:
            text += f"; {self.already_recorded} already recorded (skipped)"
        return text


def despatches_from_feed(
    rows: Iterable[tuple[int, DespatchRow]], source: str, client: str | None = None
) -> list[Despatch]:
    """Despatches for the ``(line, row)`` pairs :func:`sqsync.feeds.read_rows` returns."""
    return [Despatch.from_row(f"{source} line {line}", row, client) for line, row in rows]


def despatch_from_options(
    where: str, *, clock: Callable[[], datetime] = utcnow, **options: Any
) -> Despatch:
    """One despatch from command options, checked exactly like a feed row.

    ``despatch add`` names one parcel shipped now (unless --shipped-at says when), so its
    time is explicit: a second trackless parcel added later is a new parcel, not a repeat.
    """
    from sqsync.feeds import _describe  # the feed reader's one-line wording, shared

    try:
        row = DespatchRow.model_validate({k: v for k, v in options.items() if v is not None})
    except ValidationError as error:
        raise InputError(f"{where}: {_describe(error)}") from None
    despatch = Despatch.from_row(where, row)
    if despatch.shipped_at is None:
        despatch = replace(despatch, shipped_at=clock())
    return despatch


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
    found = db.find_order_refs(conn, despatch.order_number, despatch.client)
    if not found:
        where = f" for client {despatch.client}" if despatch.client else ""
        raise InputError(f"{despatch.where}: order {despatch.order_number} not found{where}")
    if len(found) > 1:
        clients = ", ".join(order.client for order in found)
        raise InputError(
            f"{despatch.where}: order {despatch.order_number} exists for several clients "
            f"({clients}); add a client column or give --client"
        )
    order = found[0]
    if order.status == "CANCELLED":
        raise InputError(
            f"{despatch.where}: order {order.order_number} is CANCELLED and cannot be despatched"
        )
    return order


def retry_failed(store: Store, order_number: str, client: str | None = None) -> int:
    """Put the order's failed shipments back to pending (after fixing the cause); return
    how many. Raises InputError when the order is unknown or ambiguous."""
    despatch = Despatch(f"order {order_number}", order_number, "", "", client=client)
    with store.transaction() as conn:
        found = db.find_order_refs(conn, order_number, client)
        if len(found) != 1:
            _resolve(conn, despatch)  # raises the not-found / ambiguous message
        return db.retry_failed(conn, found[0].id)
