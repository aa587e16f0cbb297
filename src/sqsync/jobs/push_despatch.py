"""push-despatch: tell Squarespace what the warehouse shipped, once and only once.

For each DESPATCHED order of the connection with unpushed shipments, ONE fulfilment POST
carries all of them (``shouldSendNotification`` = the connection's ``notify_customer``).
A parcel without a tracking number is not a Squarespace shipment: it rides along as a
fulfilment with no shipments (which marks the order FULFILLED), and is pushed with it.

The fulfilments endpoint takes no Idempotency-Key and appends on every call, so a blind
resend means a duplicate shipment and a second customer email. Hence:

- The order's fulfilments are known before anything is sent: a tracking number already
  on the Squarespace order (whoever put it there: a merchant fulfilling in Squarespace
  with the courier's number, our own earlier push) is marked pushed (``verified``) and
  never added again. Tracking numbers are compared without case or spaces. With two or
  more orders to check, ONE orders listing (``modifiedAfter`` = the oldest last-known
  modification of those orders, less the clock slack) brings them all, as Squarespace's
  ``modifiedOn`` only goes up; its paging stops once every order is seen, or once further
  pages would cost more than reading the orders still unseen one by one (``GET``), which
  is also how a single order, or one the listing missed, is read.
- The state machine in :mod:`sqsync.store.despatches`: shipments are committed as
  ``sending``, with the time, before the POST and ``pushed``/``failed`` after. One found
  in ``sending`` (a kill, Ctrl-C, a dropped connection, a timeout, a 5xx:
  :class:`OutcomeUnknownError`) is settled only once that request can no longer be in
  flight: :attr:`Client.longest_send` plus :data:`IN_FLIGHT_MARGIN` after its claim.
  Until then the order is left alone (``in_flight``; what the order already shows is
  verified). After it, the order is read: what is there is ``verified``, and only what is
  missing is sent. If nothing is missing, no POST.

What each answer does to the order's shipments (counts are shipments):

==========================  ===========================================  ============
answer                      shipments                                    run
==========================  ===========================================  ============
204                         pushed                                       goes on
unknown (drop, timeout,     stay ``sending`` (``in_doubt``), read back   goes on; 3 in
5xx)                        once no longer in flight                     a row stop it
still in flight (claimed    left as they are (``in_flight``; the         goes on
within the window)          order's pending ones ``deferred``)
400 / refused client-side   failed with the API's message, not retried   goes on; not ok
                            until ``sqsync despatch retry``
404                         failed: the order is not in Squarespace      goes on; not ok
409, order CANCELED         failed: cancelled in Squarespace (read back  goes on; not ok
                            to confirm; known locally: no request)
409, anything else          back to pending (``deferred``)               goes on
429 after retries           back to pending (``deferred``)               stops: not ok
connection failed           stay ``sending`` (verified next run)         stops: not ok
401/402/403, other errors   back to pending (``deferred``)               stops: not ok
reading the order fails     as they were: ``sending`` (``in_doubt``),    goes on (3
(bad answer, 400, 5xx)      pending (``deferred``); nothing is sent      5xx in a row
                            blind. Only 429, no connection or a          stop it)
                            refused key stop the run
==========================  ===========================================  ============

An order that Squarespace shows as fulfilled by other means (the import marked it
``fulfilled_in_squarespace``, or it is FULFILLED before any push of ours) still gets its
tracking, but never a second email.

A refused shipment (400, 404, cancelled) does not stop the run: the other orders are
still pushed. But the job was asked to push it and did not, so the job is not ok (issue
12: the same rule as import-orders' unstored orders) and exits 1, with the refusals in
``--json`` as ``failures``, one warning each when they happen, and in ``sqsync despatch
list --state failed``. They are never retried by themselves (``sqsync despatch retry``
after fixing the cause, or ``sqsync despatch void`` for one that will never go), so a
later run does not fail, or warn, again for them. A run that had to stop (rate limit, no
connection, the key refused) is not ok either: the rest of the backlog is deferred,
counted, and retried next run. Shipments merely left for the next run (``deferred``,
``in_doubt``, ``in_flight``) do not make a run that went on not ok.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqsync.clock import CLOCK_SLACK, utcnow
from sqsync.config import PAYMENT_STATES
from sqsync.domain.despatch import tracking_key
from sqsync.domain.orders import CANCELED, FULFILLED, FULFILLED_IN_SQUARESPACE
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
COUNTS = ("pushed", "verified", "failed", "deferred", "in_doubt", "in_flight")
MAX_UNKNOWN_IN_A_ROW = 3  # then Squarespace is probably down: stop asking
CANCELLED = "cancelled in Squarespace"
# After the client has given up on a request, how long Squarespace may still be applying
# it: a request is not abandoned by the server the moment its client stops listening.
IN_FLIGHT_MARGIN = timedelta(minutes=1)
# The listing must show every payment state: the API's default hides some.
ALL_PAYMENT_STATES = tuple(sorted(PAYMENT_STATES))
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


def in_flight_window(client: Client) -> timedelta:
    """How long after its claim a fulfilment may still reach Squarespace."""
    return timedelta(seconds=client.longest_send) + IN_FLIGHT_MARGIN


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
    orders = db.unpushed_orders(store, connection.name)
    return _push(client, store, connection, orders, dry_run, clock, guard, progress)


def nothing_to_push(
    client: Client,
    store: Store,
    connection: Connection,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> JobResult | None:
    """push-despatch's result when the store shows nothing to push, made from that one
    read (so no request and no write can follow it); None when there is something.

    ``run`` records such a result with the next transaction it commits anyway, instead
    of committing the job's start in one of its own first.
    """
    orders = db.unpushed_orders(store, connection.name)
    if orders:
        return None
    return _push(client, store, connection, orders, False, clock, no_guard, no_progress)


def _push(
    client: Client,
    store: Store,
    connection: Connection,
    orders: list[UnpushedOrder],
    dry_run: bool,
    clock: Callable[[], datetime],
    guard: Callable[[], None],
    progress: Sink,
) -> JobResult:
    result = JobResult(connection.name, JOB, dry_run=dry_run)
    flights = _Flights(clock(), in_flight_window(client))
    if dry_run:
        _plan(orders, connection, result, flights)
        return result
    for name in COUNTS:
        result.counts[name] = 0
    flights.fix_future_claims(store, orders, connection.name)
    pusher = _Pusher(client, store, connection, clock, result, flights, orders)
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


class _Flights:
    """Which ``sending`` shipments may still have their request on the way, as of ``now``.

    A claim with no time (stored before claims were timed; the migration stamps those)
    is not in flight. A claim later than now (by more than the clock slack) was stamped by
    a clock that was ahead: it is reset to now, or it would wait for that clock.
    """

    def __init__(self, now: datetime, window: timedelta) -> None:
        self.now = now
        self.window = window
        self.restamped: set[int] = set()

    def until(self, shipment: Shipment) -> datetime | None:
        """When ``shipment``'s request can no longer be in flight (None: it is not)."""
        if shipment.push_state != "sending" or shipment.claimed_at is None:
            return None
        claimed = self.now if shipment.id in self.restamped else parse_time(shipment.claimed_at)
        until = claimed + self.window
        return until if self.now < until else None

    def flying(self, order: UnpushedOrder) -> list[Shipment]:
        return [s for s in order.shipments if self.until(s) is not None]

    def fix_future_claims(
        self, store: Store, orders: Sequence[UnpushedOrder], connection: str
    ) -> None:
        future = [
            s.id
            for order in orders
            for s in order.shipments
            if s.push_state == "sending"
            and s.claimed_at is not None
            and parse_time(s.claimed_at) > self.now + CLOCK_SLACK
        ]
        if not future:
            return
        with store.transaction() as conn:
            db.restamp_claims(conn, future, utc_text(self.now))
        self.restamped.update(future)
        log.warning(
            "%s %s: %d shipments were claimed at a time later than now (was the clock "
            "fast?); they count as claimed now, and are read back once no longer in flight",
            connection,
            JOB,
            len(future),
        )


class _Pusher:
    """Pushes one order at a time, keeping the counts and the run's stop rule."""

    def __init__(
        self,
        client: Client,
        store: Store,
        connection: Connection,
        clock: Callable[[], datetime],
        result: JobResult,
        flights: _Flights,
        orders: Sequence[UnpushedOrder],
    ) -> None:
        self.client = client
        self.store = store
        self.connection = connection
        self.clock = clock
        self.result = result
        self.flights = flights
        self.failures: list[dict[str, str]] = []
        self.context_id: str | None = None  # of the first refusal that had one
        self.unknown_in_a_row = 0
        # The orders whose fulfilments must be known before anything is sent for them.
        needed = [o for o in orders if self._needs_remote(o)]
        self.needed = {o.id for o in needed}
        self.listing = _Listing(client, connection.name, flights.now, needed, orders)

    def _needs_remote(self, order: UnpushedOrder) -> bool:
        if order.sq_fulfillment_status == CANCELED or self.flights.flying(order):
            return False
        return bool(order.in_state("sending")) or any(s.tracking_number for s in order.shipments)

    def push(self, order: UnpushedOrder) -> None:
        if order.sq_fulfillment_status == CANCELED:
            # Known from the last import: no request needed to learn it.
            self._fail(order, order.shipments, CANCELLED)
            return
        shipments = order.shipments
        listed = self._listed(order)
        ours = order.any_pushed
        flying = self.flights.flying(order)
        if flying:
            landed = self._wait(order, flying, listed)
            if landed is None:
                return
            ours = ours or bool(landed)
            shipments = [s for s in shipments if s not in landed]
        remote = listed
        if remote is None and (
            any(s.push_state == "sending" for s in shipments)
            or any(s.tracking_number for s in shipments)
        ):
            remote = self._read(order, shipments)
            if remote is None:
                return
        fulfilled = order.sq_fulfillment_status == FULFILLED
        if remote is not None:
            if remote.fulfillment_status == CANCELED:
                self._cancelled(order, shipments)
                return
            there, shipments = self._settle(order, shipments, remote)
            ours = ours or any(s.push_state == "sending" for s in there)
            fulfilled = remote.fulfillment_status == FULFILLED
        if not shipments:
            return
        if fulfilled and not any(s.tracking_number for s in shipments):
            # Trackless parcels only mark the order FULFILLED, and it already is.
            self._pushed(order, shipments, "verified")
            return
        self._send(order, shipments, _notify(order, self.connection, remote, ours))

    def _listed(self, order: UnpushedOrder) -> Order | None:
        """The order as the run's listing shows it (None: not listed, or no listing)."""
        if not (order.id in self.needed or self.flights.flying(order)):
            return None
        try:
            return self.listing.get(order.squarespace_id)
        except _Stop:
            self.result.count("deferred", len(order.shipments))
            raise

    def _wait(
        self, order: UnpushedOrder, flying: list[Shipment], remote: Order | None
    ) -> list[Shipment] | None:
        """An order whose earlier push may still be on its way is left alone; what the
        order already shows is verified. Returns those shipments when every one in flight
        was there (the order then goes on as usual), else None."""
        landed: list[Shipment] = []
        if remote is not None:
            if remote.fulfillment_status == CANCELED:
                self._cancelled(order, order.shipments)
                return None
            landed = _present(flying, remote)
            self._pushed(order, landed, "verified")
        waiting = [s for s in flying if s not in landed]
        if not waiting:
            return landed
        rest = [s for s in order.shipments if s not in landed and s not in waiting]
        self.result.count("in_flight", len(waiting))
        self.result.count("deferred", len(rest))
        until = max(u for s in waiting if (u := self.flights.until(s)) is not None)
        log.info(
            "%s %s: order %s: an earlier push may still be on its way; read back after %s",
            *self._who(order),
            utc_text(until),
        )
        return None

    def _read(self, order: UnpushedOrder, shipments: list[Shipment]) -> Order | None:
        """The order as Squarespace has it now; None when its shipments were settled."""
        try:
            return self.client.get_order(order.squarespace_id)
        except NotFoundError as error:
            self._fail(order, shipments, f"order not found in Squarespace: {error}", error)
        except SquarespaceError as error:
            # Left as they are (in doubt stays in doubt, nothing is sent blind); the next
            # run reads it again.
            self.result.count("in_doubt", sum(s.push_state == "sending" for s in shipments))
            self.result.count("deferred", sum(s.push_state == "pending" for s in shipments))
            if isinstance(error, RUN_WIDE):
                raise _Stop(error) from None
            # Only this order could not be read (an answer we cannot parse, a 400): go on
            # with the others, or one bad order would hold back every later despatch.
            log.warning(
                "%s %s: order %s could not be read, left for the next run: %s",
                *self._who(order),
                error,
            )
            if isinstance(error, ServerError):
                self.unknown_in_a_row += 1
                if self.unknown_in_a_row >= MAX_UNKNOWN_IN_A_ROW:
                    raise _Stop(error) from None
        return None

    def _settle(
        self, order: UnpushedOrder, shipments: list[Shipment], remote: Order
    ) -> tuple[list[Shipment], list[Shipment]]:
        """Mark what Squarespace already has as pushed; return (that, what it is missing)."""
        there = _present(shipments, remote)
        self._pushed(order, there, "verified")
        missing = [s for s in shipments if s not in there]
        if any(s.push_state == "sending" for s in missing):
            with self.store.transaction() as conn:
                db.release(conn, [s.id for s in missing])
        return there, missing

    def _send(self, order: UnpushedOrder, shipments: list[Shipment], notify: bool) -> None:
        ids = [s.id for s in shipments]
        if not db.claim(self.store, ids, utc_text(self.clock())):
            log.info("%s %s: order %s is being pushed by another run", *self._who(order))
            return
        tracked = [_api_shipment(s) for s in shipments if s.tracking_number]
        try:
            self.client.fulfil_order(order.squarespace_id, tracked, send_notification=notify)
        except OutcomeUnknownError as error:
            self._in_doubt(order, shipments, error)
        except TransportError as error:
            # Said to be "nothing sent", but a wrong guess costs a duplicate email;
            # leaving it in doubt costs one GET later.
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
        if remote is not None and remote.fulfillment_status == CANCELED:
            self._cancelled(order, shipments)
            return
        self._release(shipments)
        self.result.count("deferred", len(shipments))
        log.warning("%s %s: order %s deferred: %s", *self._who(order), error)

    def _in_doubt(
        self, order: UnpushedOrder, shipments: list[Shipment], error: OutcomeUnknownError
    ) -> None:
        self.result.count("in_doubt", len(shipments))
        log.warning(
            "%s %s: order %s: %s; it will be read back and settled once the request can no "
            "longer be in flight",
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
        *,
        cancelled: bool = False,
    ) -> None:
        if self.context_id is None and error is not None:
            self.context_id = error.context_id
        with self.store.transaction() as conn:
            db.mark_failed(conn, [s.id for s in shipments], reason)
            if cancelled:
                db.set_cancelled(conn, order.id, utc_text(self.clock()))
        self.result.count("failed", len(shipments))
        self.failures.append({"order_number": order.order_number, "error": reason})
        # Once, when it happens: a failed shipment is never picked up again by itself.
        log.warning(
            "%s %s: order %s not pushed: %s (fix it, then `sqsync despatch retry %s`; only "
            "if the parcel did not leave, `sqsync despatch void %s`)",
            *self._who(order),
            reason,
            order.order_number,
            order.order_number,
        )

    def _cancelled(self, order: UnpushedOrder, shipments: list[Shipment]) -> None:
        """Squarespace shows the order cancelled: fail its shipments, and remember it."""
        self._fail(order, shipments, CANCELLED, cancelled=True)

    def _release(self, shipments: list[Shipment]) -> None:
        with self.store.transaction() as conn:
            db.release(conn, [s.id for s in shipments])

    def _who(self, order: UnpushedOrder) -> tuple[str, str, str]:
        return self.connection.name, JOB, order.order_number


class _Listing:
    """The run's one orders listing: the current state of the orders to check, fetched
    when first asked for, and only when two or more need it (one is a GET either way).

    Every such order's ``modifiedOn`` is at least its last-known one, so a listing from
    the oldest of those (less the clock slack: a stored time may have come from our clock)
    to now holds them all. It is paged until each is seen, or until the pages read reach
    the number still unseen: from there, reading those one by one costs no more.
    """

    def __init__(
        self,
        client: Client,
        connection: str,
        now: datetime,
        needed: Sequence[UnpushedOrder],
        orders: Sequence[UnpushedOrder],
    ) -> None:
        self.client = client
        self.connection = connection
        self.now = now
        self.wanted = {o.squarespace_id for o in needed}
        self.known = [parse_time(o.sq_modified_on) for o in needed if o.sq_modified_on]
        self.ids = {o.squarespace_id for o in orders}
        self.found: dict[str, Order] | None = None

    def get(self, squarespace_id: str) -> Order | None:
        if self.found is None:
            self.found = self._read() if len(self.wanted) >= 2 and self.known else {}
        return self.found.get(squarespace_id)

    def _read(self) -> dict[str, Order]:
        after = min(self.known) - CLOCK_SLACK
        before = max(self.now, self.client.last_server_time or self.now) + CLOCK_SLACK
        found: dict[str, Order] = {}
        pages = 0
        try:
            for page in self.client.iter_order_pages(
                modified_after=after,
                modified_before=max(before, after + timedelta(seconds=1)),
                payment_states=ALL_PAYMENT_STATES,
            ):
                pages += 1
                found.update((o.id, o) for o in page.orders if o.id in self.ids)
                unseen = self.wanted.difference(found)
                if not unseen or pages >= len(unseen):
                    break
        except RUN_WIDE as error:
            raise _Stop(error) from None
        except SquarespaceError as error:
            log.warning(
                "%s %s: the orders could not be listed (%s); reading them one by one",
                self.connection,
                JOB,
                error,
            )
        return found


def _present(shipments: Sequence[Shipment], remote: Order) -> list[Shipment]:
    """The shipments Squarespace's order already has: its tracking numbers (compared
    without case or spaces), and a trackless one in doubt when the order is FULFILLED."""
    keys = {tracking_key(f.tracking_number) for f in remote.fulfillments if f.tracking_number}
    fulfilled = remote.fulfillment_status == FULFILLED
    return [
        s
        for s in shipments
        if (s.tracking_number is not None and tracking_key(s.tracking_number) in keys)
        or (s.tracking_number is None and s.push_state == "sending" and fulfilled)
    ]


def _notify(order: UnpushedOrder, connection: Connection, remote: Order | None, ours: bool) -> bool:
    """Email the customer unless Squarespace already fulfilled the order by other means
    (before any push of ours reached it): they were told then, and a second email for the
    same parcel confuses them. Later parcels after our own push are emailed as configured."""
    if FULFILLED_IN_SQUARESPACE in order.problems:
        return False
    statuses = (order.sq_fulfillment_status, remote.fulfillment_status if remote else None)
    if FULFILLED in statuses and not ours:
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


def _plan(
    orders: list[UnpushedOrder], connection: Connection, result: JobResult, flights: _Flights
) -> None:
    """Dry run: what each order would send, with no request and no write."""
    plan: list[dict[str, Any]] = []
    for order in orders:
        cancelled = order.sq_fulfillment_status == CANCELED
        verify = bool(order.in_state("sending"))
        waits = [u for s in order.shipments if (u := flights.until(s)) is not None]
        tracking = [s.tracking_number for s in order.shipments if s.tracking_number]
        notify = _notify(order, connection, None, order.any_pushed)
        plan.append(
            {
                "order_number": order.order_number,
                "squarespace_id": order.squarespace_id,
                "tracking_numbers": tracking,
                "trackless": len(order.shipments) - len(tracking),
                "notify": notify,
                "read_back_first": verify,
                "in_flight_until": utc_text(max(waits)) if waits else None,
                "would_fail": CANCELLED if cancelled else None,
            }
        )
        if cancelled:
            result.count("would_fail", len(order.shipments))
            action = f"would fail ({CANCELLED})"
        elif waits:
            result.count("would_wait", len(order.shipments))
            action = f"would wait: an earlier push may be on its way until {utc_text(max(waits))}"
        else:
            result.count("would_push", len(order.shipments))
            action = (
                "would send "
                + (", ".join(tracking) or "no tracking (marks FULFILLED)")
                + (" after reading the order back" if verify else "")
                + (", notifying the customer" if notify else "")
            )
        log.info("%s %s (dry run): order %s %s", connection.name, JOB, order.order_number, action)
    result.details["orders"] = plan
