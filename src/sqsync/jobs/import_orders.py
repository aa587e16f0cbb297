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

An order the import puts on HOLDING, or a held order that gets a problem it did not have,
is one WARNING naming the order and the problem (shown under ``--quiet``, so cron mails it),
only when that happens: a run that finds it held for the same problems says nothing. A run
that holds many orders warns for the first :data:`MAX_HOLD_WARNINGS` and sums up the rest
in one more line.

An order that cannot be mapped (a record that failed validation, an order number another
Squarespace order already has for this client, a line without a SKU) is logged at WARNING
with its id and counted ``failed``; the window still advances. Re-reading would not make
it mappable unless it changes in Squarespace, and a change re-reads it anyway (or the
operator fixes the cause and back-fills with ``--since``); holding the window back would
re-read every later order on every run and never catch up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqsync.clock import CLOCK_SLACK, utcnow
from sqsync.config import PAYMENT_STATES
from sqsync.domain.orders import NO_PHYSICAL_LINES
from sqsync.domain.skus import warehouse_sku
from sqsync.errors import SqsyncError, UsageError
from sqsync.jobs import JobResult, no_guard
from sqsync.jobs.order_mapping import (
    CANCELED,
    CANCELLED_IN_SQUARESPACE,
    FULFILLED,
    FULFILLED_IN_SQUARESPACE,
    ItemRecord,
    MappingError,
    MappingSettings,
    OrderRecord,
    Skip,
    SkipReason,
    SquarespaceState,
    derived_problems,
    map_order,
    merge_problems,
    order_number,
    skip_reason,
    squarespace_state,
)
from sqsync.prefetch import prefetched
from sqsync.progress import Sink, no_progress
from sqsync.squarespace.errors import NotFoundError, SquarespaceError, UnexpectedResponseError
from sqsync.squarespace.models import OrderPage
from sqsync.store import catalog, order_writes
from sqsync.store.database import parse_time, utc_text
from sqsync.store.order_writes import OrderOwner, StoredOrder
from sqsync.store.sync_state import delete_state, get_state, get_states, set_state

if TYPE_CHECKING:
    import sqlite3

    from sqsync.config import Connection
    from sqsync.squarespace import Client, Order
    from sqsync.store import Store

log = logging.getLogger("sqsync.jobs.import_orders")

JOB = "import-orders"
WINDOW_END_KEY = "import_orders.window_end"
SETTINGS_KEY = "import_orders.settings"
FIRST_START_KEY = "import_orders.first_started"
CLOCK_OFFSET_KEY = "import_orders.clock_offset"
_WINDOW_KEYS = (FIRST_START_KEY, WINDOW_END_KEY)
_START_KEYS = (CLOCK_OFFSET_KEY, SETTINGS_KEY, *_WINDOW_KEYS)
OVERLAP = timedelta(minutes=10)
# A long outage is read as consecutive windows, each committed: a day at first, twice as
# long after a window of at most one page (a quiet shop, an old back-fill), at most a year,
# and back to a day after a busy one.
WINDOW_CAP = timedelta(days=1)
MAX_SPAN = timedelta(days=366)
# Bounds on one window's paging: pages in all, and pages in a row with no order not
# already seen in the window (Squarespace handing out new cursors over the same orders).
MAX_PAGES = 20_000
MAX_STALE_PAGES = 5
# Windows in one run: a year of capped windows; a longer outage goes on next run.
MAX_WINDOWS = 400
# Orders newly held that one run names, one warning each (the rest are summed up): enough
# to act on from a cron mail, never a mail of thousands of lines after a big first import.
MAX_HOLD_WARNINGS = 20
ALL_PAYMENT_STATES = tuple(sorted(PAYMENT_STATES))
COUNTS = (
    "imported",
    "updated",
    "cancelled",
    "held",
    "released",
    "unchanged",
    "skipped",
    "failed",
    "unreadable",
)


class PagingError(SqsyncError):
    """Squarespace kept paging without end; the window is not saved and is read again."""


@dataclass(frozen=True)
class Window:
    """What one read asks Squarespace for.

    ``sweep`` is a first import's read of every PENDING order (no time window); the
    others are ``modified_after``..``modified_before`` windows with no status filter.
    """

    modified_after: datetime | None = None
    modified_before: datetime | None = None
    sweep: bool = False

    def filters(self) -> dict[str, Any]:
        return {
            "fulfillment_status": "PENDING" if self.sweep else None,
            "modified_after": self.modified_after,
            "modified_before": self.modified_before,
            "payment_states": ALL_PAYMENT_STATES,
        }


def plan_window(
    after: datetime | None,
    *,
    now: datetime,
    import_from: datetime | None = None,
    span: timedelta = WINDOW_CAP,
) -> Window | None:
    """The next window to read: from ``after`` (None: a first import) up to ``now`` or
    :data:`WINDOW_CAP` later, whichever comes first. None when there is nothing to read
    yet (``import_from`` is still in the future)."""
    if after is None:
        if import_from is None:
            return Window(sweep=True)
        if import_from >= now:
            return None
        after = import_from
    # Never an empty or inverted window, whatever the clocks say.
    before = max(min(after + span, now), after + timedelta(seconds=1))
    return Window(after, before)


@dataclass
class ServerClock:
    """Squarespace's time, estimated: this machine's clock plus the offset last measured
    from a response's ``Date``. The machine's clock may be minutes or days wrong."""

    local: Callable[[], datetime]
    offset: timedelta = timedelta(0)
    # A Squarespace time already seen (sync-stock's inventory read): never estimate before
    # it, whatever the machine's clock says within the slack.
    floor: datetime | None = None

    def now(self) -> datetime:
        estimate = self.local() + self.offset
        return estimate if self.floor is None else max(estimate, self.floor)

    def observe(self, server_time: datetime | None) -> bool:
        """Correct the estimate from Squarespace's answer; True if it was off by more than
        :data:`CLOCK_SLACK`."""
        if server_time is None:
            return False
        # Date is in whole seconds: Squarespace's time was up to a second later. Within the
        # slack the machine's clock is kept (or the earlier correction), not replaced.
        measured = server_time + timedelta(seconds=1) - self.local()
        if abs(measured - self.offset) <= CLOCK_SLACK:
            return False
        self.offset = measured if abs(measured) > CLOCK_SLACK else timedelta(0)
        return True


class _Replan(Exception):
    """Squarespace's clock showed the saved state to be in its future: plan again."""


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
    until: datetime | None = None,
    guard: Callable[[], None] = no_guard,
    progress: Sink = no_progress,
) -> JobResult:
    """Import (and update) one connection's orders; see the module docstring for the rules."""
    # Everything the start needs of the connection's state, in one read.
    saved = get_states(store, connection.name, _START_KEYS)
    saved_offset = saved.get(CLOCK_OFFSET_KEY)
    # ``until``: the windows read up to at least this Squarespace time (see ServerClock).
    server = ServerClock(clock, timedelta(seconds=float(saved_offset or 0)), floor=until)
    run = _Run(store, connection, dry_run=dry_run, now=server.now())
    if not run.start_without_writing(store, saved.get(SETTINGS_KEY)):
        with _unit_of_work(store, dry_run) as conn:
            owner = run.owner(conn)
            run.known_skus = catalog.known_skus(conn, owner.client_id)
            run.reevaluate(conn)
    reader = _Reader(client, store, connection, run, server, guard, progress, saved=saved)
    try:
        reader.reread_unreadable()
        for _ in range(3):
            try:
                reader.read_windows(since)
                break
            except _Replan:
                continue
    except (SquarespaceError, PagingError) as error:
        # The pages before stay committed; report them with the failure, keep the window.
        run.result.ok = False
        run.result.error = str(error)
        run.result.context_id = getattr(error, "context_id", None)
    finally:
        if not dry_run and server.offset.total_seconds() != float(saved_offset or 0):
            with store.transaction() as conn:
                offset = f"{server.offset.total_seconds():.3f}"
                set_state(conn, connection.name, CLOCK_OFFSET_KEY, offset)
    run.finish()
    return run.result


@dataclass
class _Reader:
    """Reads a run's windows, one after another, each committed when all of it is in."""

    client: Client
    store: Store
    connection: Connection
    run: _Run
    server: ServerClock
    guard: Callable[[], None]
    progress: Sink
    read: int = 0
    pages: int = 0
    checked: bool = False  # Squarespace's clock has been seen this run
    # The state as read at the start (the window keys are used), until this run changes
    # the window (None: read them again).
    saved: dict[str, str] | None = None

    @property
    def name(self) -> str:
        return self.connection.name

    def read_windows(self, since: datetime | None) -> None:
        """Every window from the saved state (or ``since``) until caught up."""
        first_start, saved_end = self._state()
        import_from = self.connection.import_from
        if saved_end is not None:
            after = saved_end - OVERLAP
        else:
            cut_short = first_start is not None
            if first_start is None:
                # Taken before the first read and saved with the first page: a first import
                # cut short is not a first import again next time.
                first_start = import_from or self.server.now()
                self.run.pending_state[FIRST_START_KEY] = utc_text(first_start)
            if import_from is not None:
                after = import_from
            else:
                # Every PENDING order (after a first import cut short: the ones it missed).
                # What changes meanwhile is read by the next run, from the sweep's start.
                self._read(Window(sweep=True), save=first_start)
                if not cut_short and since is None:
                    return
                # Cut short: orders it stored may have been cancelled or fulfilled since.
                after = first_start - OVERLAP
        if since is not None:
            if since >= self.server.now():
                raise UsageError(f"--since {utc_text(since)} is not in the past")
            after = min(since, after)  # a back-fill reads more, never less
        span = WINDOW_CAP
        for _ in range(MAX_WINDOWS):
            planned, offset = self.server.now(), self.server.offset
            window = plan_window(after, now=planned, import_from=import_from, span=span)
            if window is None or window.modified_before is None:
                log.info("%s: import_from is in the future; nothing to import yet", self.name)
                return
            pages_before = self.pages
            end = self._read(window, save=window.modified_before)
            span = min(span * 2, MAX_SPAN) if self.pages - pages_before <= 1 else WINDOW_CAP
            # Caught up when the window reached the time it was planned at: what changed
            # while the answer was on its way is the next run's (from this end, with the
            # overlap), or a busy host would read a second window whenever an answer took
            # over a second. Unless the clock was corrected meanwhile: then "now" was not.
            reached = planned if self.server.offset == offset else self.server.now()
            caught_up = window.modified_before >= reached - timedelta(seconds=1)
            if end is None or caught_up or end < window.modified_before:
                return
            after = end - OVERLAP

    def _state(self) -> tuple[datetime | None, datetime | None]:
        if self.saved is None:
            self.saved = get_states(self.store, self.name, _WINDOW_KEYS)
        first = self.saved.get(FIRST_START_KEY)
        end = self.saved.get(WINDOW_END_KEY)
        return (parse_time(first) if first else None, parse_time(end) if end else None)

    def _read(self, window: Window, *, save: datetime | None) -> datetime | None:
        """Read one window page by page; save its end (never later than Squarespace's
        time when it answered) once every page is committed. Returns that end."""
        log.debug("%s: reading orders with %s", self.name, window)
        end = save
        seen: set[str] = set()
        stale = pages = written = 0
        # Overlap: while this page is written, the next one is fetched and validated.
        # A power cut may lose the last pages' commits, but then also the window end.
        with (
            prefetched(self.client.iter_order_pages(**window.filters()), last=_last_page) as stream,
            self.store.deferred_sync(),
        ):
            for page in stream:
                if pages == 0:
                    self._check_clock(page.server_time)
                    if end is not None and page.server_time is not None:
                        end = min(end, page.server_time)
                pages += 1
                self.pages += 1
                fresh = {o.id for o in page.orders} | {i.id for i in page.invalid if i.id}
                stale = stale + 1 if fresh and fresh <= seen else 0
                seen |= fresh
                if pages > MAX_PAGES or stale >= MAX_STALE_PAGES:
                    raise PagingError(
                        f"{self.name}: Squarespace kept paging ({pages} pages, the last "
                        f"{stale} with no order not already read); stopped, the window is "
                        "read again next run"
                    )
                self.guard()
                # An empty page (a quiet connection's only one) has nothing to write: no
                # write lock for it.
                if page.orders or page.invalid:
                    written += 1
                    mapped = self.run.map_page(page)  # before the write lock, not under it
                    with _unit_of_work(self.store, self.run.dry_run) as conn:
                        self.run.apply_page(conn, page, mapped)
                        self.run.save_pending(conn)
                    self.store.orders_added(len(page.orders))
                self.read += len(page.orders) + len(page.invalid)
                self.progress(self.name, "orders", self.read)
        if end is not None and not self.run.dry_run:
            # Its fsync makes the pages' commits durable. A window that wrote nothing (a
            # quiet connection's) has none to make durable, and losing its end only means
            # reading the same empty window again: no fsync, and under ``run`` no commit
            # of its own either (it goes with the job's run-log row).
            if written == 0 and not self.run.pending_state:
                name, ended = self.name, end
                with self.store.deferred_sync():
                    self.store.carry(lambda conn: _save_window_end(conn, name, ended))
                return end
            # This connection's window state alone: no other writer's business.
            with self.store.transaction(connection_only=True) as conn:
                _save_window_end(conn, self.name, end)
                self.run.save_pending(conn)
        return end

    def _check_clock(self, server_time: datetime | None) -> None:
        if self.checked or server_time is None:
            return
        self.checked = True
        moved = self.server.observe(server_time)
        if moved:
            log.info(
                "%s: this machine's clock is %+.0f s from Squarespace's; windows follow "
                "Squarespace's",
                self.name,
                -self.server.offset.total_seconds(),
            )
        pending = self.run.pending_state.get(FIRST_START_KEY)
        if pending is not None and parse_time(pending) > server_time:
            self.run.pending_state[FIRST_START_KEY] = utc_text(server_time)
        self._repair_future(server_time)

    def _repair_future(self, now: datetime) -> None:
        """A saved time later than Squarespace's now came from a clock that was fast:
        replace it (with one warning) and plan again, rather than trust it."""
        first_start, saved_end = self._state()
        if saved_end is not None:
            first_start = None  # only a first import cut short still reads from its start
        future = [t for t in (first_start, saved_end) if t is not None and t > now + CLOCK_SLACK]
        if not future or self.run.dry_run:
            return
        self.saved = None  # replaced below: the plan made again reads them again
        with self.store.transaction() as conn:
            latest = order_writes.latest_modified_on(conn, self.name)
            if saved_end is not None and saved_end > now + CLOCK_SLACK:
                # Everything was read up to when that window was read, which was no later
                # than the newest change stored; read again from there.
                if latest is not None:
                    set_state(conn, self.name, WINDOW_END_KEY, utc_text(min(latest, now)))
                else:
                    delete_state(conn, self.name, WINDOW_END_KEY)
                    delete_state(conn, self.name, FIRST_START_KEY)
            elif first_start is not None:
                set_state(conn, self.name, FIRST_START_KEY, utc_text(latest or now))
        log.warning(
            "%s: the saved import window ends at %s, later than Squarespace's time %s "
            "(this machine's clock was ahead); it is replaced and read again",
            self.name,
            utc_text(max(future)),
            utc_text(now),
        )
        raise _Replan

    def reread_unreadable(self) -> None:
        """Fetch by id the orders Squarespace sent as records that could not be read."""
        for order_id in order_writes.unreadable_ids(self.store, self.name):
            try:
                order = self.client.get_order(order_id)
            except UnexpectedResponseError as error:
                self.run.still_unreadable(order_id, str(error))
                continue
            except NotFoundError:
                # Deleted in Squarespace (or never an order): nothing left to import.
                if not self.run.dry_run:
                    with self.store.transaction() as conn:
                        order_writes.forget_unreadable(conn, self.name, order_id)
                continue
            self.guard()
            with _unit_of_work(self.store, self.run.dry_run) as conn:
                self.run.apply_page(conn, OrderPage(orders=[order]))
                order_writes.forget_unreadable(conn, self.name, order_id)


class _Mapped:
    """:func:`map_order` of each order of a page (its record, or the MappingError it
    raised), worked out ahead of the page's transaction."""

    def __init__(
        self, settings: MappingSettings, known_skus: Collection[str], orders: Iterable[Order]
    ) -> None:
        self.settings = settings
        self.known_skus = known_skus
        # By object: a page may hold two copies of one order id (applied one after another).
        self._done: dict[int, OrderRecord | MappingError] = {}
        for order in orders:
            try:
                self._done[id(order)] = map_order(order, settings, known_skus)
            except MappingError as error:
                self._done[id(order)] = error

    def record(self, order: Order) -> OrderRecord:
        """The order's record; raises its :class:`MappingError`."""
        done = self._done.get(id(order))
        if done is None:  # not on the page it was made for
            return map_order(order, self.settings, self.known_skus)
        if isinstance(done, MappingError):
            raise MappingError(str(done))
        return done


def _last_page(page: OrderPage) -> bool:
    return not page.has_next_page


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
    # State to save with the run's first commit (never alone, so a run refused at its
    # first request leaves the store as it was).
    pending_state: dict[str, str] = field(default_factory=dict)
    seen: dict[str, datetime] = field(default_factory=dict)
    unreadable: set[str] = field(default_factory=set)
    result: JobResult = field(init=False)
    settings: MappingSettings = field(init=False)
    skipped: dict[str, int] = field(init=False)
    stamp: str = field(init=False)
    hold_warnings: int = 0
    _owner: OrderOwner | None = field(default=None, init=False)
    _mapped: _Mapped | None = field(default=None, init=False)
    _known_skus: set[str] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.result = JobResult(self.connection.name, JOB, dry_run=self.dry_run)
        self.result.counts = dict.fromkeys(COUNTS, 0)
        self.skipped = dict.fromkeys((reason.value for reason in SkipReason), 0)
        self.result.details["skipped_by_reason"] = self.skipped
        self.settings = MappingSettings.from_connection(self.connection)
        self.stamp = utc_text(self.now)

    @property
    def known_skus(self) -> set[str]:
        """The client's SKUs, read when first needed: a quiet tick maps no order and
        reads none (a client's catalogue may hold thousands)."""
        if self._known_skus is None:
            # Set by the start (start_without_writing, or the start's transaction).
            assert self._owner is not None, "the run's owner is looked up first"
            self._known_skus = catalog.known_skus(self.store, self._owner.client_id)
        return self._known_skus

    @known_skus.setter
    def known_skus(self, skus: set[str]) -> None:
        self._known_skus = skus

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

    def start_without_writing(self, db: Store, settings: str | None) -> bool:
        """Whether the run's start has nothing to write, found by reading alone: the ids
        exist, the settings are those of the last run (``settings``: the fingerprint it
        saved) and no order is HOLDING, as on nearly every cron tick. Then the ids are
        set (the known SKUs are read if a page has orders) and no write lock is taken
        (one per connection per tick, on a store several hosts share); otherwise
        :meth:`reevaluate` does the work in a transaction, reading it all again there."""
        c = self.connection
        ids = catalog.existing_ids(db, c.client, c.warehouse, c.channel)
        if ids is None or self.dry_run:
            return False
        if settings != self.settings.fingerprint():  # as saved, read with the others
            return False
        if order_writes.has_orders_in(db, c.name, ("HOLDING",)):
            return False
        self._owner = OrderOwner(c.name, *ids)
        return True

    def reevaluate(self, conn: sqlite3.Connection) -> None:
        """Bring stored open orders up to date with the config and the known SKUs.

        HOLDING orders are looked at every run (a SKU stocked releases them). When the
        settings that decide an order's SKUs and problems changed (sku_aliases,
        payment_states, shipping_zone), NEW orders are too: their items move to the SKU
        the aliases now name, so stock allocated to an old name is not advertised under
        the new one.
        """
        fingerprint = self.settings.fingerprint()
        changed = get_state(conn, self.connection.name, SETTINGS_KEY) != fingerprint
        statuses = ("NEW", "HOLDING") if changed else ("HOLDING",)
        for order in order_writes.orders_to_review(conn, self.connection.name, statuses):
            self._review(conn, order)
        if changed:
            # Noted with the run's first commit: a run that reads nothing changes nothing.
            self.pending_state[SETTINGS_KEY] = fingerprint

    def save_pending(self, conn: sqlite3.Connection) -> None:
        for key, value in self.pending_state.items():
            set_state(conn, self.connection.name, key, value)
        self.pending_state.clear()

    def _review(self, conn: sqlite3.Connection, order: order_writes.ReviewOrder) -> None:
        aliases = self.settings.sku_aliases
        moved = []
        items = []
        for item in order.items:
            sku = item.sku
            if item.channel_sku is not None or item.variant_id is not None:
                sku = warehouse_sku(item.channel_sku, item.variant_id, aliases)
            if sku != item.sku:
                moved.append((item.id, sku))
            items.append(
                ItemRecord(
                    item.line_id or "", sku, item.channel_sku, item.variant_id, None, 1, None
                )
            )
        country = order.country_code.strip().upper() if order.country_code else None
        derived = derived_problems(
            items,
            order.payment_state,
            country or None,
            self.settings,
            self.known_skus,
            shipping_method=order.shipping_method,
        )
        if not items and NO_PHYSICAL_LINES in order.problems:
            derived.append(NO_PHYSICAL_LINES)
        problems = merge_problems(order.problems, derived)
        if moved:
            order_writes.set_item_skus(conn, moved)
        courier = self.settings.courier_for(order.shipping_method)
        if courier != order.courier:
            order_writes.set_courier(conn, order.id, courier, self.stamp)
        if problems == order.problems:
            return
        status = "HOLDING" if problems else "NEW"
        order_writes.set_status(conn, order.id, status, problems, self.stamp)
        self.note_held(order.order_number, order.status, order.problems, problems)
        if status == "NEW":
            self.result.count("released")
        elif order.status == "NEW":
            self.result.count("held")

    def note_held(
        self,
        number: str,
        status: str | None,
        before: Collection[str],
        after: Collection[str],
    ) -> None:
        """Warn that the order is now HOLDING (``status``: what it was, None for a new
        order), or that a held order has a new problem; nothing when no problem is new."""
        new = [p for p in after if p not in before]
        if not after or not new:
            return
        self.hold_warnings += 1
        if self.hold_warnings > MAX_HOLD_WARNINGS:
            return
        name = self.connection.name
        # Problems listed as status --check lists them, so one order reads the same in both.
        if status == "HOLDING":
            what = f"is still HOLDING, now also for {', '.join(new)}"
        else:
            what = f"is HOLDING: {', '.join(after)}"
        if self.dry_run:
            log.info("%s: order %s would be held (dry run): %s", name, number, ", ".join(new))
            return
        log.warning("%s: order %s %s", name, number, what)

    def still_unreadable(self, order_id: str, error: str) -> None:
        self.unreadable.add(order_id)
        self.result.count("unreadable")
        if not self.dry_run:
            with self.store.transaction() as conn:
                order_writes.remember_unreadable(
                    conn, self.connection.name, order_id, error, self.stamp
                )

    def finish(self) -> None:
        """A run that left orders unstored did not do what it was asked: not ok."""
        more = self.hold_warnings - MAX_HOLD_WARNINGS
        if more > 0 and not self.dry_run:
            log.warning(
                "%s: and %d more orders newly HOLDING or with a new problem "
                "(`sqsync orders list --status HOLDING` lists them)",
                self.connection.name,
                more,
            )
        if not self.result.ok:
            return
        unstored = self.result.counts["failed"] + self.result.counts["unreadable"]
        if unstored:
            self.result.ok = False
            self.result.error = (
                f"{unstored} orders could not be imported (see the warnings; "
                "`sqsync status` lists the unreadable ones)"
            )

    # ------------------------------------------------------------------ one page

    def map_page(self, page: OrderPage) -> _Mapped:
        """The page's orders mapped, for :meth:`apply_page`: pure work, done before the
        page's transaction so the store's write lock is held for the writes only."""
        return _Mapped(self.settings, self.known_skus, page.orders)

    def apply_page(
        self, conn: sqlite3.Connection, page: OrderPage, mapped: _Mapped | None = None
    ) -> None:
        name = self.connection.name
        self._mapped = mapped or self.map_page(page)
        # An order read twice in one run (overlapping windows) is applied and counted once.
        fresh = [o for o in page.orders if self.seen.get(o.id) != o.modified_on]
        if len(fresh) < len(page.orders):
            page = OrderPage(fresh, page.invalid, page.has_next_page, page.next_page_cursor)
        self.seen.update((o.id, o.modified_on) for o in fresh)
        for invalid in page.invalid:
            if invalid.id is None:
                log.warning("%s: an order record with no id was skipped: %s", name, invalid.error)
                self.result.count("failed")
                continue
            # Remembered, and fetched again by id on later runs until it reads.
            first = order_writes.remember_unreadable(
                conn, name, invalid.id, invalid.error, self.stamp
            )
            log.log(
                logging.WARNING if first else logging.INFO,
                "%s: order %s could not be read%s: %s",
                name,
                invalid.id,
                "" if first else " again",
                invalid.error,
            )
            if invalid.id not in self.unreadable:
                self.unreadable.add(invalid.id)
                self.result.count("unreadable")
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

    def _record(self, order: Order) -> OrderRecord:
        if self._mapped is None:
            return map_order(order, self.settings, self.known_skus)
        return self._mapped.record(order)

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
        decision = skip_reason(order, self.settings) or self._record(order)
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
                self.note_held(record.order_number, None, (), record.problems)
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
            record = self._record(order)
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
        if status == "HOLDING":
            self.note_held(existing.order_number, existing.status, existing.problems, problems)
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
        self.note_held(existing.order_number, existing.status, existing.problems, problems)
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
