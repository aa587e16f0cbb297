"""push-despatch: tell Squarespace what the warehouse shipped, once and only once.

For each DESPATCHED order of the connection with unpushed shipments, ONE fulfilment POST
carries all of them (``shouldSendNotification`` = the connection's ``notify_customer``).
A parcel without a tracking number is not a Squarespace shipment: it rides along as a
fulfilment with no shipments (which marks the order FULFILLED), and is pushed with it.

The fulfilments endpoint takes no Idempotency-Key and appends on every call, so a blind
resend means a duplicate shipment and a second customer email. Hence the state machine in
:mod:`sqsync.store.despatches`: shipments are committed as ``sending`` before the POST and
``pushed``/``failed`` after. One found in ``sending`` (a crash, a dropped connection, a
5xx: :class:`OutcomeUnknownError`) is settled by reading the order back first: tracking
numbers already on it are marked pushed (counted ``verified``), a trackless one is pushed
if the order is FULFILLED, and only what is missing is sent. If nothing is missing, no POST.

What each answer does to the order's shipments (counts are shipments):

==========================  ===========================================  ============
answer                      shipments                                    run
==========================  ===========================================  ============
204                         pushed                                       goes on
unknown (drop, timeout,     stay ``sending``, verified next run          goes on; 3 in
5xx)                        (``in_doubt``)                               a row stop it
400 / refused client-side   failed with the API's message, not retried   goes on; not ok
                            until ``sqsync despatch retry``
404                         failed: the order is not in Squarespace      goes on; not ok
409, order CANCELED         failed: cancelled in Squarespace (read back  goes on; not ok
                            to confirm; known locally: no request)
409, anything else          back to pending (``deferred``)               goes on
429 after retries           back to pending (``deferred``)               stops: not ok
connection failed           stay ``sending`` (verified next run)         stops: not ok
401/402/403, other errors   back to pending (``deferred``)               stops: not ok
read-back of an in-doubt    stay ``sending`` (``in_doubt``); only        goes on (3
order fails (bad answer,    429, no connection or a refused key stop     5xx in a row
400, 5xx)                   the run                                      stop it)
==========================  ===========================================  ============

An order that Squarespace already shows as fulfilled by other means (the import marked
it ``fulfilled_in_squarespace``) still gets its tracking, but never a second email.

A refused shipment (400, 404, cancelled) does not stop the run: the other orders are
still pushed. But the job was asked to push it and did not, so the job is not ok (issue
12: the same rule as import-orders' unstored orders) and exits 1, with the refusals in
``--json`` as ``failures`` and in ``sqsync despatch list --state failed``. They are never
retried by themselves, so a later run does not fail again for them. A run that had to
stop (rate limit, no connection, the key refused) is not ok either: the rest of the
backlog is deferred, counted, and retried next run. Shipments merely left for the next
run (``deferred``, ``in_doubt``) do not make a run that went on not ok.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqsync.clock import utcnow
from sqsync.domain.orders import FULFILLED_IN_SQUARESPACE
from sqsync.jobs import JobResult, no_guard
from sqsync.progress import Sink, no_progress
from sqsync.squarespace.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    SquarespaceError,
    TransportError,
    WebsiteExpiredError,
)
from sqsync.squarespace.models import FulfilmentShipment, Order
from sqsync.store import Store, parse_time, utc_text
from sqsync.store import despatches as db
from sqsync.store.despatches import Shipment, UnpushedOrder

if TYPE_CHECKING:
    from sqsync.config import Connection
    from sqsync.squarespace import Client

log = logging.getLogger("sqsync.jobs.push_despatch")

JOB = "push-despatch"
COUNTS = ("pushed", "verified", "failed", "deferred", "in_doubt")
MAX_UNKNOWN_IN_A_ROW = 3  # then Squarespace is probably down: stop asking
CANCELLED = "cancelled in Squarespace"
# Errors about the whole connection rather than one order: going on would only repeat them.
RUN_WIDE = (
    RateLimitedError,
    TransportError,
    AuthenticationError,
    PermissionDeniedError,
    WebsiteExpiredError,
)


class _Stop(Exception):
    """The run cannot go on (rate limited, no connection, key refused)."""

    def __init__(self, error: SquarespaceError) -> None:
        super().__init__(str(error))
        self.error = error


def push_despatch(
    client: Client,
    store: Store,
    connection: Connection,
    *,
    dry_run: bool = False,
    clock: Callable[[], datetime] = utcnow,
    guard: Callable[[], None] = no_guard,
    progress: Sink = no_progress,
) -> JobResult:
    """Push the connection's unpushed shipments to Squarespace (see the module doc)."""
    result = JobResult(connection.name, JOB, dry_run=dry_run)
    orders = db.unpushed_orders(store, connection.name)
    if dry_run:
        _plan(orders, connection, result)
        return result
    for name in COUNTS:
        result.counts[name] = 0
    pusher = _Pusher(client, store, connection, clock, result)
    for done, order in enumerate(orders, start=1):
        guard()
        try:
            pusher.push(order)
        except _Stop as stop:
            rest = orders[done:]
            result.count("deferred", sum(len(o.shipments) for o in rest))
            result.ok = False
            result.error = f"stopped after {done} of {len(orders)} orders: {stop.error}"
            result.context_id = stop.error.context_id
            break
        progress(connection.name, "orders", done, len(orders))
    if pusher.failures:
        result.details["failures"] = pusher.failures
        refused = result.counts["failed"]
        if result.ok:
            result.ok = False
            result.error = (
                f"{refused} {'shipment was' if refused == 1 else 'shipments were'} refused by "
                "Squarespace (see failures; fix the cause, then `sqsync despatch retry ORDER`)"
            )
            result.context_id = pusher.context_id
    return result


class _Pusher:
    """Pushes one order at a time, keeping the counts and the run's stop rule."""

    def __init__(
        self,
        client: Client,
        store: Store,
        connection: Connection,
        clock: Callable[[], datetime],
        result: JobResult,
    ) -> None:
        self.client = client
        self.store = store
        self.connection = connection
        self.clock = clock
        self.result = result
        self.failures: list[dict[str, str]] = []
        self.context_id: str | None = None  # of the first refusal that had one
        self.unknown_in_a_row = 0

    def push(self, order: UnpushedOrder) -> None:
        if order.sq_fulfillment_status == "CANCELED":
            # Known from the last import: no request needed to learn it.
            self._fail(order, order.shipments, CANCELLED)
            return
        fulfilled = order.sq_fulfillment_status == "FULFILLED"
        to_send = order.shipments
        if order.in_state("sending"):
            remote = self._read_back(order)
            if remote is None:
                return
            fulfilled = remote.fulfillment_status == "FULFILLED"
            to_send = self._settle(order, remote)
        if not to_send:
            return
        if fulfilled and not any(s.tracking_number for s in to_send):
            # Trackless parcels only mark the order FULFILLED, and it already is.
            self._pushed(order, to_send, "verified")
            return
        self._send(order, to_send)

    def _read_back(self, order: UnpushedOrder) -> Order | None:
        """The order as Squarespace has it now; None when its shipments were settled."""
        try:
            return self.client.get_order(order.squarespace_id)
        except NotFoundError as error:
            self._fail(order, order.shipments, f"order not found in Squarespace: {error}", error)
        except SquarespaceError as error:
            # Left as they are (in doubt stays in doubt); the next run reads it again.
            self.result.count("in_doubt", len(order.in_state("sending")))
            self.result.count("deferred", len(order.in_state("pending")))
            if isinstance(error, RUN_WIDE):
                raise _Stop(error) from None
            # Only this order could not be read (an answer we cannot parse, a 400): go on
            # with the others, or one bad order would hold back every later despatch.
            log.warning(
                "%s %s: order %s could not be read back, left for the next run: %s",
                *self._who(order),
                error,
            )
            if isinstance(error, ServerError):
                self.unknown_in_a_row += 1
                if self.unknown_in_a_row >= MAX_UNKNOWN_IN_A_ROW:
                    raise _Stop(error) from None
        return None

    def _settle(self, order: UnpushedOrder, remote: Order) -> list[Shipment]:
        """Mark what Squarespace already has as pushed; return what it is missing."""
        if remote.fulfillment_status == "CANCELED":
            self._fail(order, order.shipments, CANCELLED)
            return []
        present = {f.tracking_number for f in remote.fulfillments if f.tracking_number}
        fulfilled = remote.fulfillment_status == "FULFILLED"
        there = [
            s
            for s in order.shipments
            if (s.tracking_number in present)
            or (s.tracking_number is None and s.push_state == "sending" and fulfilled)
        ]
        self._pushed(order, there, "verified")
        missing = [s for s in order.shipments if s not in there]
        if missing and any(s.push_state == "sending" for s in missing):
            with self.store.transaction() as conn:
                db.release(conn, [s.id for s in missing])
        return missing

    def _send(self, order: UnpushedOrder, shipments: list[Shipment]) -> None:
        ids = [s.id for s in shipments]
        if not db.claim(self.store, ids):
            log.info("%s %s: order %s is being pushed by another run", *self._who(order))
            return
        tracked = [_api_shipment(s) for s in shipments if s.tracking_number]
        try:
            self.client.fulfil_order(
                order.squarespace_id, tracked, send_notification=_notify(order, self.connection)
            )
        except OutcomeUnknownError as error:
            self._in_doubt(order, shipments, error)
        except TransportError as error:
            # Said to be "nothing sent", but a wrong guess costs a duplicate email;
            # leaving it in doubt costs one GET next run.
            self.result.count("in_doubt", len(shipments))
            raise _Stop(error) from None
        except InvalidRequestError as error:
            self._fail(order, shipments, error.message or str(error), error)
        except NotFoundError as error:
            self._fail(order, shipments, f"order not found in Squarespace: {error}", error)
        except ConflictError as error:
            self._conflict(order, shipments, error)
        except SquarespaceError as error:
            # 429 after the client's retries, 401/402/403: the POST was refused, not applied.
            self._release(shipments)
            self.result.count("deferred", len(shipments))
            raise _Stop(error) from None
        else:
            self.unknown_in_a_row = 0
            self._pushed(order, shipments, "pushed")

    def _conflict(
        self, order: UnpushedOrder, shipments: list[Shipment], error: ConflictError
    ) -> None:
        """409: cancelled (confirmed by reading the order), or busy: try again next run."""
        try:
            remote = self.client.get_order(order.squarespace_id)
        except SquarespaceError:
            remote = None  # cannot confirm: do not fail it on a guess
        if remote is not None and remote.fulfillment_status == "CANCELED":
            self._fail(order, shipments, CANCELLED)
            return
        self._release(shipments)
        self.result.count("deferred", len(shipments))
        log.warning("%s %s: order %s deferred: %s", *self._who(order), error)

    def _in_doubt(
        self, order: UnpushedOrder, shipments: list[Shipment], error: OutcomeUnknownError
    ) -> None:
        self.result.count("in_doubt", len(shipments))
        log.warning(
            "%s %s: order %s: %s; it will be read back and settled on the next run",
            *self._who(order),
            error,
        )
        self.unknown_in_a_row += 1
        if self.unknown_in_a_row >= MAX_UNKNOWN_IN_A_ROW:
            raise _Stop(error)

    def _pushed(self, order: UnpushedOrder, shipments: list[Shipment], count: str) -> None:
        if not shipments:
            return
        now = self.clock()
        with self.store.transaction() as conn:
            db.mark_pushed(conn, [s.id for s in shipments], utc_text(now))
            db.set_fulfilled(conn, order.id, utc_text(now))
        self.result.count(count, len(shipments))

    def _fail(
        self,
        order: UnpushedOrder,
        shipments: list[Shipment],
        reason: str,
        error: SquarespaceError | None = None,
    ) -> None:
        if self.context_id is None and error is not None:
            self.context_id = error.context_id
        with self.store.transaction() as conn:
            db.mark_failed(conn, [s.id for s in shipments], reason)
        self.result.count("failed", len(shipments))
        self.failures.append({"order_number": order.order_number, "error": reason})
        log.warning(
            "%s %s: order %s not pushed: %s (fix it, then `sqsync despatch retry %s`)",
            *self._who(order),
            reason,
            order.order_number,
        )

    def _release(self, shipments: list[Shipment]) -> None:
        with self.store.transaction() as conn:
            db.release(conn, [s.id for s in shipments])

    def _who(self, order: UnpushedOrder) -> tuple[str, str, str]:
        return self.connection.name, JOB, order.order_number


def _notify(order: UnpushedOrder, connection: Connection) -> bool:
    """Email the customer unless Squarespace already fulfilled the order by other means
    (before our first push): they were told then, and a second email for the same parcel
    confuses them. Later parcels after our own push are emailed as configured."""
    if FULFILLED_IN_SQUARESPACE in order.problems:
        return False
    if order.sq_fulfillment_status == "FULFILLED" and not order.any_pushed:
        return False
    return connection.notify_customer


def _api_shipment(shipment: Shipment) -> FulfilmentShipment:
    assert shipment.tracking_number is not None
    return FulfilmentShipment(
        ship_date=parse_time(shipment.shipped_at),
        carrier_name=shipment.carrier,
        service=shipment.service,
        tracking_number=shipment.tracking_number,
        tracking_url=shipment.tracking_url,
    )


def _plan(orders: list[UnpushedOrder], connection: Connection, result: JobResult) -> None:
    """Dry run: what each order would send, with no request and no write."""
    plan: list[dict[str, Any]] = []
    for order in orders:
        cancelled = order.sq_fulfillment_status == "CANCELED"
        verify = bool(order.in_state("sending"))
        tracking = [s.tracking_number for s in order.shipments if s.tracking_number]
        plan.append(
            {
                "order_number": order.order_number,
                "squarespace_id": order.squarespace_id,
                "tracking_numbers": tracking,
                "trackless": len(order.shipments) - len(tracking),
                "notify": _notify(order, connection),
                "read_back_first": verify,
                "would_fail": CANCELLED if cancelled else None,
            }
        )
        result.count("would_fail" if cancelled else "would_push", len(order.shipments))
        action = (
            f"would fail ({CANCELLED})"
            if cancelled
            else "would send "
            + (", ".join(tracking) or "no tracking (marks FULFILLED)")
            + (" after reading the order back" if verify else "")
            + (", notifying the customer" if _notify(order, connection) else "")
        )
        log.info("%s %s (dry run): order %s %s", connection.name, JOB, order.order_number, action)
    result.details["orders"] = plan
