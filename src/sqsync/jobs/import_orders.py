"""import-orders: bring a connection's Squarespace orders into the warehouse store.

The window (what to ask Squarespace for):

* first import (no saved window end): ``fulfillmentStatus=PENDING``, windowed from
  ``import_from`` to now when that is set; the window end is the run's start time;
* later imports: modifiedAfter = the last completed window's end minus 10 minutes,
  modifiedBefore = now, no status filter, so cancellations and fulfilments made in
  Squarespace are seen;
* ``since`` (a back-fill): modifiedAfter = since, modifiedBefore = now, no status filter.

Every request lists all nine payment states: the API's default hides PENDING, FAILED and
others, and the job must see them to count the skip and to notice changes; the
connection's ``payment_states`` filter is applied locally (:mod:`.order_mapping`).

Each page is applied in one transaction (``BEGIN IMMEDIATE``): the page's stored orders
are read under the write lock, each order is updated, re-statused or skipped, and the new
ones are inserted together at the end of the page (``ON CONFLICT DO NOTHING`` on the
(connection, squarespace_id) key). The window end is saved only after every page is
committed, and a page cursor never is: a crash re-reads the window, which finds the orders
already stored and changes nothing. While a page is written the next one is already being
fetched and validated (:mod:`sqsync.prefetch`), and the pages' commits leave their fsync
to the window end's commit (:meth:`~sqsync.store.Store.deferred_sync`).

Counts: every order read is exactly one of imported / updated / cancelled / unchanged /
skipped / failed; ``held`` counts those among imported and updated that went on HOLDING;
``released`` counts HOLDING orders freed because their SKUs are now known (a local pass at
the start of every run, no request).

An order that cannot be mapped (a record that failed validation, an order number another
Squarespace order already has for this client, a line without a SKU) is logged at WARNING
with its id and counted ``failed``; the window still advances. Re-reading would not make
it mappable unless it changes in Squarespace, and a change re-reads it anyway (or the
operator fixes the cause and back-fills with ``--since``); holding the window back would
re-read every later order on every run and never catch up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqsync.clock import utcnow
from sqsync.config import PAYMENT_STATES
from sqsync.errors import UsageError
from sqsync.jobs import JobResult, no_guard
from sqsync.jobs.order_mapping import (
    CANCELED,
    CANCELLED_IN_SQUARESPACE,
    FULFILLED,
    FULFILLED_IN_SQUARESPACE,
    UNKNOWN_SKU,
    ItemRecord,
    MappingError,
    MappingSettings,
    OrderRecord,
    Skip,
    SkipReason,
    SquarespaceState,
    decide,
    map_order,
    merge_problems,
    only_unknown_skus,
    order_number,
    squarespace_state,
)
from sqsync.prefetch import prefetched
from sqsync.progress import Sink, no_progress
from sqsync.squarespace.errors import SquarespaceError
from sqsync.store import catalog, order_writes
from sqsync.store.database import parse_time, utc_text
from sqsync.store.order_writes import OrderOwner, StoredOrder
from sqsync.store.sync_state import get_state, set_state

if TYPE_CHECKING:
    import sqlite3

    from sqsync.config import Connection
    from sqsync.squarespace import Client, Order, OrderPage
    from sqsync.store import Store

log = logging.getLogger("sqsync.jobs.import_orders")

JOB = "import-orders"
WINDOW_END_KEY = "import_orders.window_end"
OVERLAP = timedelta(minutes=10)
ALL_PAYMENT_STATES = tuple(sorted(PAYMENT_STATES))
COUNTS = ("imported", "updated", "cancelled", "held", "released", "unchanged", "skipped", "failed")


@dataclass(frozen=True)
class Window:
    """What one run asks Squarespace for, and the window end to save when it is done."""

    end: datetime
    fulfillment_status: str | None = None
    modified_after: datetime | None = None
    modified_before: datetime | None = None

    def filters(self) -> dict[str, Any]:
        return {
            "fulfillment_status": self.fulfillment_status,
            "modified_after": self.modified_after,
            "modified_before": self.modified_before,
            "payment_states": ALL_PAYMENT_STATES,
        }


def plan_window(
    saved_end: datetime | None,
    *,
    now: datetime,
    import_from: datetime | None = None,
    since: datetime | None = None,
) -> Window | None:
    """The window of this run, or None when there is nothing to read yet (import_from is
    still in the future). ``since`` later than ``now`` is a usage error."""
    if since is not None:
        if since >= now:
            raise UsageError(f"--since {utc_text(since)} is not in the past")
        after = since
        if saved_end is not None:
            # A back-fill reads more, never less: a --since later than the last window
            # would otherwise save `now` and skip what lies between for good.
            after = min(since, min(saved_end, now) - OVERLAP)
        return Window(end=now, modified_after=after, modified_before=now)
    if saved_end is not None:
        # min(): a clock that went backwards must not make an empty or inverted window.
        return Window(end=now, modified_after=min(saved_end, now) - OVERLAP, modified_before=now)
    if import_from is None:
        return Window(end=now, fulfillment_status="PENDING")
    if import_from >= now:
        return None
    return Window(
        end=now, fulfillment_status="PENDING", modified_after=import_from, modified_before=now
    )


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``--since`` as an aware UTC datetime: an ISO date or date-time (no zone means UTC),
    in the past (checked here, before any job runs, so a mistake is a usage error)."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(text.strip()), datetime.min.time())
        except ValueError:
            raise UsageError(
                f"--since {text!r} is not an ISO date or date-time, e.g. 2026-01-31T09:00:00Z"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    if moment >= (now or datetime.now(UTC)):
        raise UsageError(f"--since {utc_text(moment)} is not in the past")
    return moment


class _DryRun(Exception):
    """Raised inside a dry run's transaction to roll it back."""


@contextmanager
def _unit_of_work(store: Store, dry_run: bool) -> Iterator[sqlite3.Connection]:
    """One transaction, committed, or rolled back in a dry run (same code path either way)."""
    try:
        with store.transaction() as conn:
            yield conn
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass


def import_orders(
    client: Client,
    store: Store,
    connection: Connection,
    *,
    dry_run: bool = False,
    clock: Callable[[], datetime] = utcnow,
    since: datetime | None = None,
    guard: Callable[[], None] = no_guard,
    progress: Sink = no_progress,
) -> JobResult:
    """Import (and update) one connection's orders; see the module docstring for the rules."""
    run = _Run(store, connection, dry_run=dry_run, now=clock())
    with _unit_of_work(store, dry_run) as conn:
        owner = run.owner(conn)
        run.known_skus = catalog.known_skus(conn, owner.client_id)
        run.release_held(conn)
    saved = get_state(store, connection.name, WINDOW_END_KEY)
    window = plan_window(
        parse_time(saved) if saved else None,
        now=run.now,
        import_from=connection.import_from,
        since=since,
    )
    if window is None:
        log.info("%s: import_from is in the future; nothing to import yet", connection.name)
        return run.result
    log.debug("%s: reading orders with %s", connection.name, window)
    read = 0
    try:
        # Overlap: while this page is written, the next one is fetched and validated.
        # A power cut may lose the last pages' commits, but then also the window end.
        with (
            prefetched(client.iter_order_pages(**window.filters())) as pages,
            store.deferred_sync(),
        ):
            for page in pages:
                guard()
                with _unit_of_work(store, dry_run) as conn:
                    run.apply_page(conn, page)
                read += len(page.orders) + len(page.invalid)
                progress(connection.name, "orders", read)
    except SquarespaceError as error:
        # The pages before stay committed; report them with the failure, keep the window.
        run.result.ok = False
        run.result.error = str(error)
        run.result.context_id = error.context_id
        return run.result
    if not dry_run:
        with store.transaction() as conn:
            _save_window_end(conn, connection.name, window.end)
    return run.result


def _save_window_end(conn: sqlite3.Connection, connection: str, end: datetime) -> None:
    # A concurrent run may have completed a later window meanwhile: never move it back.
    saved = get_state(conn, connection, WINDOW_END_KEY)
    if saved is None or parse_time(saved) < end:
        set_state(conn, connection, WINDOW_END_KEY, utc_text(end))


@dataclass
class _PageWork:
    """One page in progress: the orders stored before it, new orders waiting to be
    inserted (in one statement at the end of the page), items of updated orders."""

    owner: OrderOwner
    stored: dict[str, StoredOrder]
    by_number: dict[str, StoredOrder]
    new: dict[str, OrderRecord] = field(default_factory=dict)
    changed_items: dict[int, tuple[ItemRecord, ...]] = field(default_factory=dict)


@dataclass
class _Run:
    """The state of one run: settings, known SKUs, counts."""

    store: Store
    connection: Connection
    dry_run: bool
    now: datetime
    known_skus: set[str] = field(default_factory=set)
    result: JobResult = field(init=False)
    settings: MappingSettings = field(init=False)
    skipped: dict[str, int] = field(init=False)
    stamp: str = field(init=False)
    _owner: OrderOwner | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.result = JobResult(self.connection.name, JOB, dry_run=self.dry_run)
        self.result.counts = dict.fromkeys(COUNTS, 0)
        self.skipped = dict.fromkeys((reason.value for reason in SkipReason), 0)
        self.result.details["skipped_by_reason"] = self.skipped
        self.settings = MappingSettings.from_connection(self.connection)
        self.stamp = utc_text(self.now)

    def owner(self, conn: sqlite3.Connection) -> OrderOwner:
        """The connection's client/warehouse/channel ids, created on first use. Looked up
        once per run, except in a dry run, whose every transaction rolls the rows back."""
        if self._owner is None or self.dry_run:
            c = self.connection
            client_id, warehouse_id, channel_id = catalog.ensure_ids(
                conn, c.client, c.warehouse, c.channel
            )
            self._owner = OrderOwner(c.name, client_id, warehouse_id, channel_id)
        return self._owner

    # ------------------------------------------------------------------ local pass

    def release_held(self, conn: sqlite3.Connection) -> None:
        """Free HOLDING orders whose only problems were SKUs the warehouse now knows."""
        for held in order_writes.held_for_unknown_skus(conn, self.connection.name):
            if not only_unknown_skus(held.problems):
                continue
            missing = tuple(UNKNOWN_SKU + s for s in sorted(held.skus) if s not in self.known_skus)
            if not missing:
                order_writes.set_status(conn, held.id, "NEW", (), self.stamp)
                self.result.count("released")
            elif set(missing) != set(held.problems):
                order_writes.set_status(conn, held.id, "HOLDING", missing, self.stamp)

    # ------------------------------------------------------------------ one page

    def apply_page(self, conn: sqlite3.Connection, page: OrderPage) -> None:
        name = self.connection.name
        for invalid in page.invalid:
            log.warning(
                "%s: order %s is not valid and was skipped: %s",
                name,
                invalid.id or "(no id)",
                invalid.error,
            )
            self.result.count("failed")
        owner = self.owner(conn)
        stored, by_number = order_writes.find_for_page(
            conn,
            owner,
            [order.id for order in page.orders],
            [order_number(order, self.settings) for order in page.orders],
        )
        page_work = _PageWork(owner, stored, by_number)
        for order in page.orders:
            try:
                outcome = self._apply_order(conn, order, page_work)
            except MappingError as error:
                # Only an order's own data is skipped; any other exception (a bug, a database
                # error) aborts the page so the window is read again rather than lost.
                self._failed(order, str(error))
                continue
            if outcome is not None:
                self.result.count(outcome)
        self._insert_new(conn, page_work)
        order_writes.replace_items(conn, page_work.changed_items.items())

    def _failed(self, order: Order, reason: str) -> None:
        log.warning(
            "%s: order %s (id %s) was not imported: %s",
            self.connection.name,
            order.order_number,
            order.id,
            reason,
        )
        self.result.count("failed")

    def _apply_order(self, conn: sqlite3.Connection, order: Order, work: _PageWork) -> str | None:
        """Apply one order; return the count it falls under (None: counted when the page's
        new orders are inserted)."""
        if order.id in work.new:
            # The same order twice in one page: store the first copy, update with this one.
            self._insert_new(conn, work)
        existing = work.stored.get(order.id)
        if existing is not None:
            return self._update(conn, order, existing, work.changed_items)
        decision = decide(order, self.settings, self.known_skus)
        if isinstance(decision, Skip):
            self.skipped[decision.reason.value] += 1
            log.debug("%s: skipped order %s: %s", self.connection.name, order.id, decision)
            return "skipped"
        taken = work.by_number.get(decision.order_number)
        if taken is not None:
            raise MappingError(
                f"order number {decision.order_number} is already used by Squarespace order "
                f"{taken.squarespace_id} of connection {taken.connection!r}"
            )
        work.new[order.id] = decision
        work.by_number[decision.order_number] = StoredOrder(
            0, self.connection.name, order.id, decision.order_number, decision.status, (), None
        )
        return None

    def _insert_new(self, conn: sqlite3.Connection, work: _PageWork) -> None:
        """Insert the page's new orders gathered so far, with their items; count them."""
        if not work.new:
            return
        inserted = order_writes.insert_orders(conn, work.new.values(), work.owner, now=self.stamp)
        for record in work.new.values():
            order_id = inserted.get(record.squarespace_id)
            if order_id is None:  # inserted by another run meanwhile (cannot under the lock)
                self.result.count("unchanged")
                continue
            work.stored[record.squarespace_id] = work.by_number[record.order_number] = StoredOrder(
                order_id,
                work.owner.connection,
                record.squarespace_id,
                record.order_number,
                record.status,
                record.problems,
                utc_text(record.squarespace.modified_on),
            )
            self.result.count("imported")
            if record.status == "HOLDING":
                self.result.count("held")
        order_writes.insert_items(
            conn,
            [
                (inserted[sq_id], record.items)
                for sq_id, record in work.new.items()
                if sq_id in inserted
            ],
        )
        work.new.clear()

    def _update(
        self,
        conn: sqlite3.Connection,
        order: Order,
        existing: StoredOrder,
        items: dict[int, tuple[ItemRecord, ...]],
    ) -> str:
        """An order already stored: apply what changed in Squarespace since we saw it."""
        if existing.sq_modified_on is not None and utc_text(order.modified_on) <= (
            existing.sq_modified_on
        ):
            return "unchanged"  # the overlap re-read it, or an older copy of it
        state = squarespace_state(order)
        if existing.status == "DESPATCHED":
            return self._update_despatched(conn, existing, state)
        if existing.status == "CANCELLED":
            order_writes.note_squarespace_state(conn, existing.id, state, self.stamp)
            return "unchanged"
        if order.fulfillment_status == CANCELED:
            order_writes.set_status(
                conn, existing.id, "CANCELLED", existing.problems, self.stamp, state
            )
            return "cancelled"
        try:
            record = map_order(order, self.settings, self.known_skus)
        except MappingError:
            if order.fulfillment_status == FULFILLED:
                self._hold_fulfilled(conn, existing, state)
            raise
        problems = merge_problems(existing.problems, record.problems)
        if order.fulfillment_status == FULFILLED and FULFILLED_IN_SQUARESPACE not in problems:
            # Someone shipped it from Squarespace: hold it so the warehouse never ships twice.
            problems = (*problems, FULFILLED_IN_SQUARESPACE)
        status = "HOLDING" if problems else "NEW"
        order_writes.update_order(
            conn, existing.id, record, status=status, problems=problems, now=self.stamp
        )
        items[existing.id] = record.items
        if status == "HOLDING" and existing.status != "HOLDING":
            self.result.count("held")
        elif status == "NEW" and existing.status == "HOLDING":
            self.result.count("released")
        return "updated"

    def _hold_fulfilled(
        self, conn: sqlite3.Connection, existing: StoredOrder, state: SquarespaceState
    ) -> None:
        """Hold an order fulfilled in Squarespace even when its new lines cannot be mapped:
        the hold is what stops the warehouse shipping it a second time."""
        if FULFILLED_IN_SQUARESPACE in existing.problems:
            return
        problems = (*existing.problems, FULFILLED_IN_SQUARESPACE)
        order_writes.set_status(conn, existing.id, "HOLDING", problems, self.stamp, state)
        if existing.status != "HOLDING":
            self.result.count("held")

    def _update_despatched(
        self, conn: sqlite3.Connection, existing: StoredOrder, state: SquarespaceState
    ) -> str:
        if state.fulfillment_status != CANCELED or CANCELLED_IN_SQUARESPACE in existing.problems:
            # FULFILLED (or still PENDING until push-despatch runs): simply up to date.
            order_writes.note_squarespace_state(conn, existing.id, state, self.stamp)
            return "unchanged"
        log.warning(
            "%s: order %s was cancelled in Squarespace after it was despatched; "
            "the problem %s is recorded on it",
            self.connection.name,
            existing.order_number,
            CANCELLED_IN_SQUARESPACE,
        )
        problems = (*existing.problems, CANCELLED_IN_SQUARESPACE)
        order_writes.set_status(conn, existing.id, "DESPATCHED", problems, self.stamp, state)
        return "updated"
