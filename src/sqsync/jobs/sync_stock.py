"""sync-stock: make a Squarespace store advertise what the warehouse can really ship.

One run for one connection, under its lock:

0. Wait while any connection selling this stock (:attr:`Connection.stock_pool`) has a
   failed, killed or no import-orders: sales it missed allocate nothing yet, so the targets
   would advertise stock already sold.
1. Recover: prune old finished journal rows, then resend every batch an earlier run left
   pending, under its own Idempotency-Key and body, *before* the stock is read. A 204
   settles it. A 409 CONCURRENT_MODIFICATION means that key may still be being applied:
   the batch stays pending and its variants are left out of this run, since planning them
   under a new key would apply the change twice once the first attempt lands. Any other
   answer (a 4xx, a 5xx) means nothing was applied: the batch is superseded and step 2's
   fresh read plans its variants again. A batch older than the key's life is abandoned.
2. Read the whole Squarespace inventory, *then* bring the connection's orders up to date
   with an import window that ends after that read, then read the warehouse availability
   and plan (:mod:`sqsync.jobs.stock_plan`). A sale before the read is both in the
   quantity read and allocated; one after it is allocated, and the relative operation
   keeps Squarespace's own deduction: under-advertised until the next sync, never oversold.
3. Deliver the batches from a queue: journal (committed) with a new key, send, settle.
   - 204: applied.
   - 409 CONCURRENT_MODIFICATION (after the client's same-key retries): left pending, as
     in step 1; the job is not ok until a later run gets Squarespace's final answer.
   - 409 INSUFFICIENT_STOCK / STOCK_NOT_TRACKED (a sale moved the stock): superseded; its
     variants re-read by id, recomputed and sent once more under a new key.
   - any other 4xx or 5xx on a batch of several: superseded and split in two halves, each
     re-read and recomputed, queued behind the other batches; so a variant deleted since
     the read (a 404 on re-read) is dropped, and one item the server keeps failing on ends
     as one failed operation while the other 49 go through.
   - the same on a single variant: failed (counted, job not ok); the next run re-plans it.
   - 401, 402, 403: the batch is dropped (failed) and the job stops: every other request
     would be refused too, and resending stale deltas hours later would be wrong.
   - no answer at all (network, 429): left pending for the next run's step 1; job stops.
   Squarespace failing (5xx) on ``MAX_SERVER_FAILURES`` sends in a row stops the job.

Incremental syncs (issue 15): after a full sync that ended clean, the figure each variant
was set to is kept (:mod:`sqsync.store.stock_synced`). A later sync compares it with the
figure the warehouse gives now and reads by id (50 per request) only the variants that
differ, then imports and plans as above. Any doubt makes the sync a full one, reading
every page: no clean full sync yet, ``stock_full_sync_frequency`` elapsed (daily by
default; a time in the future counts as elapsed), a batch still pending, the rules,
aliases or counted SKUs changed, a variant deleted. A sync that does not end clean clears
the kept figures, so the next one is full. Edits made in Squarespace itself are so
corrected within a day; drift is reported by full syncs.

Drift (a variant whose SKU the warehouse does not know, say renamed in Squarespace; a
SKU on several variants; a SKU never counted) is a WARNING the first time it is seen,
shown under ``--quiet``, then kept in the store for ``status`` and not repeated.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqsync.clock import CLOCK_SLACK, utcnow
from sqsync.jobs import JobResult, no_guard
from sqsync.jobs.stock_plan import Batch, StockPlan, make_batches, plan_stock, shape
from sqsync.progress import Sink, no_progress
from sqsync.squarespace.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    SquarespaceError,
    WebsiteExpiredError,
)
from sqsync.squarespace.models import InventoryItem, StockOperation
from sqsync.store import adjustments, runlog, stock_synced
from sqsync.store.adjustments import JournalEntry
from sqsync.store.database import parse_time, utc_text
from sqsync.store.stock import availability, counted_skus
from sqsync.store.sync_state import delete_state, get_state, set_state

if TYPE_CHECKING:
    from sqsync.config import Connection
    from sqsync.squarespace import Client
    from sqsync.store import Store

log = logging.getLogger("sqsync.jobs.sync_stock")

JOB = "sync-stock"
# Finished journal rows are kept this long for diagnosis, then pruned at the start of a run.
PRUNE_AFTER = timedelta(days=7)
# Squarespace remembers a used Idempotency-Key for at least 48 hours; a pending batch older
# than half that is not resent, since a forgotten key would apply it a second time.
KEY_LIFETIME = timedelta(hours=24)
# 409s that mean "the stock moved under you": a re-read and a recomputed batch fix them.
REREAD_SUBTYPES = frozenset({"INSUFFICIENT_STOCK", "STOCK_NOT_TRACKED"})
# Final answers saying the batch was not applied: the next move is ours (re-read, split).
ANSWERED = (InvalidRequestError, NotFoundError, ConflictError, ServerError)
# The key or the site is refused: every other batch would be too.
DROPPED = (AuthenticationError, PermissionDeniedError, WebsiteExpiredError)
# Sends answered 5xx in a row after which Squarespace, not one batch, is taken to be down.
MAX_SERVER_FAILURES = 3
# New drift lines printed per run; the rest are summed up in one line (status lists all).
MAX_NEWS_LINES = 20

PlannedSink = Callable[[str, list[dict[str, Any]]], None]
COUNTS = (
    "adjusted",
    "unchanged",
    "unlimited",
    "unmatched",
    "duplicate_sku",
    "uncounted",
    "deleted",
    "in_flight",
    "failed",
    "resent",
)
UNCOUNTED_KEY = "sync_stock.uncounted"
FULL_AT_KEY = "sync_stock.full_at"
FINGERPRINT_KEY = "sync_stock.fingerprint"
UNMATCHED_KEY = "sync_stock.unmatched"
DUPLICATES_KEY = "sync_stock.duplicates"


def sync_stock(
    client: Client,
    store: Store,
    connection: Connection,
    *,
    dry_run: bool = False,
    clock: Callable[[], datetime] = utcnow,
    on_planned: PlannedSink | None = None,
    guard: Callable[[], None] = no_guard,
    progress: Sink = no_progress,
) -> JobResult:
    """Sync one connection's Squarespace inventory to the warehouse's availability.

    With ``dry_run`` nothing is sent, journalled or imported (the plan uses the orders
    already in the store); the planned changes are in ``details["planned"]`` and, when
    given, passed to ``on_planned(connection, rows)``.
    """
    result = JobResult(connection.name, JOB, dry_run=dry_run)
    for name in COUNTS:
        result.counts[name] = 0
    waiting = None if dry_run else _waiting_for(store, connection)
    if waiting is not None:
        result.ok, result.error = False, waiting
        return result
    run = _Run(client, store, connection, clock, result, guard, progress)
    try:
        if not dry_run:
            run.recover()
        plan = run.plan_changed() if not dry_run and run.can_go_incremental() else run.plan()
        if plan is None:
            return result
        if dry_run:
            rows = [change.row() for change in plan.changes]
            result.details["planned"] = rows
            if on_planned is not None and rows:
                on_planned(connection.name, rows)
            return result
        run.deliver(plan.batches())
        run.remember(plan)
    except SquarespaceError as error:
        # Keep what this run did (counts) next to the error that stopped it.
        result.ok, result.error, result.context_id = False, str(error), error.context_id
    run.finish()
    return result


def _waiting_for(store: Store, connection: Connection) -> str | None:
    """Why the sync must wait for an import (None: it need not).

    Stock is the client's pool: a sale another shop's failed import missed is as
    unallocated as one of our own, and pushing stock now would advertise units customers
    have already bought (oversell).
    """
    for name in connection.stock_pool:
        last = runlog.last_attempts(store, name).get("import-orders")
        if last is not None and not last.failed:
            continue
        whose = "" if name == connection.name else f" of connection {name}"
        if last is None:
            return (
                f"not run yet: no import-orders{whose} has succeeded, so open orders "
                "allocate nothing and stock would advertise units already sold; run "
                "import-orders first"
            )
        return (
            f"not run: the last import-orders{whose} failed, and stock is not pushed without "
            "the allocations of the orders it would have brought in"
        )
    return None


@dataclass(frozen=True)
class _Work:
    """One delivery step: a planned batch to send as it is, or variants to re-read and
    recompute first (after a refusal), standing in for journal row ``replaces``."""

    batch: Batch | None = None
    ids: tuple[str, ...] = ()
    replaces: int | None = None
    rereads: int = 1


@dataclass
class _Run:
    client: Client
    store: Store
    connection: Connection
    clock: Callable[[], datetime]
    result: JobResult
    guard: Callable[[], None] = no_guard
    progress: Sink = no_progress
    levels: dict[str, tuple[int, int]] | None = None
    counted: set[str] | None = None
    first_refusal: str | None = None
    # Variants of batches Squarespace may still be applying: not planned again this run.
    in_flight: set[str] = field(default_factory=set)
    server_failures: int = 0
    full: bool = True  # reading every page (not only the variants that changed)
    levels_before: dict[str, tuple[int, int]] | None = None  # before the sync's import
    _fingerprint: str | None = None

    @property
    def name(self) -> str:
        return self.connection.name

    # -- step 1 ------------------------------------------------------------------------

    def recover(self) -> None:
        now = self.clock()
        pruned = adjustments.prune(self.store, before=now - PRUNE_AFTER)
        if pruned:
            log.debug("%s: pruned %d old stock adjustment batches", self.name, pruned)
        for entry in adjustments.pending(self.store, self.name):
            if now - entry.created_at > KEY_LIFETIME:
                log.warning(
                    "%s: stock batch %s (%d operations) was left unconfirmed since %s; not "
                    "resent, as its Idempotency-Key may have expired; this run's fresh read "
                    "corrects the stock instead",
                    self.name,
                    entry.idempotency_key,
                    entry.operations,
                    entry.created_at.isoformat(),
                )
                self._mark(entry, "abandoned", "not resent: older than the key's lifetime")
                continue
            self.guard()
            error = self._send(entry)
            if error is None:
                self._mark(entry, "applied")
                self.result.count("resent")
                log.info("%s: resent stock batch %s from an earlier run", self.name, entry.id)
            elif _in_flight(error):
                self._wait_for(entry)
            else:
                # Nothing was applied; the fresh read below plans what is still needed.
                log.info("%s: earlier stock batch %s refused: %s", self.name, entry.id, error)
                self._mark(entry, "superseded", str(error))

    # -- step 2 ------------------------------------------------------------------------

    def plan(self) -> StockPlan | None:
        """Read the inventory, import the orders up to after it, plan (None: stopped)."""
        items: list[InventoryItem] = []
        for page in self.client.iter_inventory_pages():
            items.extend(item for item in page.items if item.variant_id not in self.in_flight)
            for bad in page.invalid:
                log.warning(
                    "%s: inventory item %s left alone: %s", self.name, bad.id or "?", bad.error
                )
            self.progress(self.name, "variants", len(items))
        c = self.connection
        if not self.result.dry_run:
            self.levels_before = availability(self.store, c.client, c.warehouse)
            if not self._import_orders():
                return None
        self.levels = availability(self.store, c.client, c.warehouse)
        self.counted = counted_skus(self.store, c.client, c.warehouse)
        plan = self._plan(items)
        counts = plan.counts()
        if not self.result.dry_run:
            del counts["adjusted"]  # counted as batches are applied
        self.result.counts.update(counts)
        self._report_drift(plan)
        return plan

    # -- step 2, incremental -------------------------------------------------------------

    def fingerprint(self) -> str:
        """What decides every figure besides the stock itself: a change makes a full sync.

        Worked out once per run (it hashes every counted SKU); counts do not change during
        the sync's import, so the figure checked before it is the one saved after."""
        import hashlib

        if self._fingerprint is not None:
            return self._fingerprint
        c = self.connection
        rules = {sku: c.stock_rule(sku).__dict__ for sku in sorted(c.stock_rules)}
        basis = {
            "aliases": c.sku_aliases,
            "rule": c.stock_rule("").__dict__,
            "rules": rules,
            "counted": sorted(counted_skus(self.store, c.client, c.warehouse)),
        }
        text = json.dumps(basis, sort_keys=True, default=sorted)
        self._fingerprint = hashlib.sha256(text.encode()).hexdigest()
        return self._fingerprint

    def can_go_incremental(self) -> bool:
        """Whether this sync may read only the variants that changed (see the module doc)."""
        if self.in_flight or adjustments.pending(self.store, self.name):
            return False
        saved = get_state(self.store, self.name, FULL_AT_KEY)
        if saved is None:
            return False
        now = self.clock()
        try:
            full_at = parse_time(saved)
        except ValueError:
            return False
        every = timedelta(minutes=self.connection.stock_full_sync_frequency)
        if full_at > now + CLOCK_SLACK or now - full_at >= every:
            return False  # due, or saved by a clock that was fast: read everything
        return get_state(self.store, self.name, FINGERPRINT_KEY) == self.fingerprint()

    def plan_changed(self) -> StockPlan | None:
        """Read by id the variants whose figure the warehouse would change, import, plan."""
        c = self.connection
        synced = stock_synced.load(self.store, self.name)
        levels = availability(self.store, c.client, c.warehouse)
        changed = [
            vid
            for vid, (sku, target) in synced.items()
            if sku not in levels or self._target(sku, levels[sku]) != target
        ]
        try:
            items = self.client.get_inventory(changed) if changed else []
        except NotFoundError:
            log.info("%s: a synced variant was deleted in Squarespace; reading every page", c.name)
            return self.plan()
        self.full = False
        self.result.details["incremental"] = True
        self.result.details["variants_read"] = len(items)
        self.progress(self.name, "variants", len(items))
        self.levels_before = levels
        if not self._import_orders():
            return None
        self.levels = availability(self.store, c.client, c.warehouse)
        self.counted = counted_skus(self.store, c.client, c.warehouse)
        plan = self._plan(items)
        counts = plan.counts()
        del counts["adjusted"]  # counted as batches are applied
        self.result.counts.update(counts)
        return plan

    def _target(self, sku: str, level: tuple[int, int]) -> int:
        return shape(level[0], level[1], self.connection.stock_rule(sku))[0]

    def remember(self, plan: StockPlan) -> None:
        """Keep the figures of a sync that ended clean; after any other, forget them all,
        so that the next sync reads every page."""
        counts = self.result.counts
        clean = (
            self.result.ok and not self.in_flight and not counts["failed"] and not counts["deleted"]
        )
        # A sale the import brought in between the read and the write is taken off twice
        # (Squarespace's own deduction, and our relative operation): that variant shows
        # less than its figure until read again, so it is kept as "read next time" (-1).
        before, after = self.levels_before or {}, self.levels or {}
        targets = {
            vid: (sku, target if before.get(sku) == after.get(sku) else -1)
            for vid, (sku, target) in plan.targets.items()
        }
        with self.store.transaction() as conn:
            if not clean:
                stock_synced.clear(conn, self.name)
                delete_state(conn, self.name, FULL_AT_KEY)
                return
            if not self.full:
                stock_synced.update(conn, self.name, targets)
                return
            stock_synced.replace_all(conn, self.name, targets)
            set_state(conn, self.name, FULL_AT_KEY, utc_text(self.clock()))
            set_state(conn, self.name, FINGERPRINT_KEY, self.fingerprint())

    def _import_orders(self) -> bool:
        """Bring the orders up to date after the inventory read; False when that failed."""
        from sqsync.jobs.import_orders import import_orders

        # Up to after the inventory read on Squarespace's own clock: its Date is in whole
        # seconds, and a machine clock a few seconds slow (within the slack, so kept)
        # would otherwise end the window before sales the read already showed.
        read_at = self.client.last_server_time
        imported = import_orders(
            self.client,
            self.store,
            self.connection,
            until=read_at + timedelta(seconds=1) if read_at is not None else None,
            clock=self.clock,
            guard=self.guard,
            progress=self.progress,
        )
        self.result.details["orders_imported"] = imported.counts.get("imported", 0)
        if imported.ok:
            return True
        self.result.ok = False
        self.result.context_id = imported.context_id
        self.result.error = (
            "not run: the orders could not be brought up to date after the inventory read "
            f"({imported.error or 'some orders were not imported'}), and stock is not "
            "pushed without their allocations"
        )
        return False

    def _report_drift(self, plan: StockPlan) -> None:
        """Variants left alone are news once (a WARNING, shown under --quiet), then kept for
        status and not repeated, so cron mails only what changed."""
        unmatched = {u.variant_id: u.sku for u in plan.unmatched}
        self.result.details["unmatched_variants"] = [u.row() for u in plan.unmatched]
        self.result.details["duplicate_skus"] = plan.duplicates
        self.result.details["uncounted_skus"] = sorted(plan.uncounted)
        news: list[str] = []
        now = {
            UNMATCHED_KEY: unmatched,
            DUPLICATES_KEY: plan.duplicates,
            UNCOUNTED_KEY: sorted(plan.uncounted),
        }
        before = {key: json.loads(get_state(self.store, self.name, key) or "null") for key in now}
        seen = before[UNMATCHED_KEY] or {}
        for variant_id, sku in unmatched.items():
            if variant_id in seen and seen[variant_id] == sku:
                continue
            news.append(
                f"variant {variant_id} has no SKU, so it is left alone"
                if sku is None
                else f"variant {variant_id} has SKU {sku}, which {self.connection.client}/"
                f"{self.connection.warehouse} does not know (renamed in Squarespace? add "
                "it to sku_aliases), so it is left alone"
            )
        seen_duplicates = before[DUPLICATES_KEY] or {}
        for sku, ids in plan.duplicates.items():
            if seen_duplicates.get(sku) != ids:
                news.append(
                    f"SKU {sku} is on {len(ids)} variants ({', '.join(ids)}); each "
                    "advertises the full available quantity"
                )
        seen_uncounted = before[UNCOUNTED_KEY] or []
        for sku in sorted(set(plan.uncounted) - set(seen_uncounted)):
            news.append(
                f"SKU {sku} was never counted in {self.connection.client}/"
                f"{self.connection.warehouse}, so its {len(plan.uncounted[sku])} variant(s) "
                f"are left alone; `sqsync stock set {sku} N` (0 if you have none) makes it "
                "synced"
            )
        changed = {key: value for key, value in now.items() if value != before[key]}
        if changed and not self.result.dry_run:
            with self.store.transaction() as conn:
                for key, value in changed.items():
                    set_state(conn, self.name, key, json.dumps(value))
        for line in news[:MAX_NEWS_LINES]:
            log.warning("%s: %s", self.name, line)
        if len(news) > MAX_NEWS_LINES:
            log.warning(
                "%s: and %d more variants or SKUs left alone; `sqsync status` lists them all",
                self.name,
                len(news) - MAX_NEWS_LINES,
            )

    def _plan(self, items: list[InventoryItem]) -> StockPlan:
        assert self.levels is not None
        return plan_stock(
            items,
            self.levels,
            aliases=self.connection.sku_aliases,
            rules=self.connection.stock_rule,
            counted=self.counted,
        )

    # -- step 3 ------------------------------------------------------------------------

    def deliver(self, batches: Iterable[Batch]) -> None:
        """Send every batch; a refused one is re-read or split and queued behind the rest."""
        queue = deque(_Work(batch=batch) for batch in batches)
        while queue:
            self.guard()
            queue.extend(self._step(queue.popleft()))

    def _step(self, work: _Work) -> list[_Work]:
        """Journal, send and settle one batch; return the work its refusal leaves."""
        batch = work.batch if work.batch is not None else self._recompute(work)
        if batch is None or isinstance(batch, list):
            return batch or []
        entry = adjustments.record(
            self.store,
            self.name,
            batch.increments,
            batch.decrements,
            now=self.clock(),
            replaces=work.replaces,
        )
        error = self._send(entry)
        if error is None:
            self._mark(entry, "applied")
            self.result.count("adjusted", entry.operations)
            self.server_failures = 0
            return []
        if _in_flight(error):
            self._wait_for(entry)
            return []
        if isinstance(error, ServerError):
            self.server_failures += 1
            if self.server_failures >= MAX_SERVER_FAILURES:
                self._refused(entry, error)
                raise error
        ids = tuple(batch.variant_ids)
        # Settled before anything else is asked of Squarespace: should the read below fail,
        # the next run must not resend this refused batch under its key.
        self._mark(entry, "superseded", str(error))
        refused_one = len(ids) == 1 and isinstance(error, InvalidRequestError | NotFoundError)
        if refused_one and self._deleted(ids[0]):
            self._mark(entry, "superseded", f"variant deleted: {error}")
            return []
        if work.rereads and _rereadable(error):
            follow = [_Work(ids=ids, replaces=entry.id, rereads=0)]
        elif len(ids) > 1:
            follow = [_Work(ids=part, replaces=entry.id, rereads=0) for part in _halves(ids)]
        else:
            self._refused(entry, error)
            return []
        log.info(
            "%s: stock batch %s refused (%s); re-reading %s",
            self.name,
            entry.id,
            error,
            "it" if len(follow) == 1 else "it in two halves",
        )
        return follow

    def _recompute(self, work: _Work) -> Batch | list[_Work] | None:
        """The changes ``work.ids`` still need, from a fresh read by id (None: none).

        Squarespace answers 404 when any of the ids is unknown: a variant deleted since
        the read. Then its halves are queued instead, down to the one variant, dropped.
        """
        try:
            items = self.client.get_inventory(work.ids)
        except NotFoundError:
            if len(work.ids) > 1:
                return [replace(work, ids=part) for part in _halves(work.ids)]
            self._dropped(work.ids[0])
            return None
        plan = self._plan(items)
        self.result.count("unchanged", plan.unchanged)
        batches = make_batches(plan.changes)
        if not batches:
            return None
        (batch,) = batches  # a subset of one batch fits in one batch
        return batch

    def _deleted(self, variant_id: str) -> bool:
        """Whether a variant a batch named no longer exists (Squarespace answers 404)."""
        try:
            self.client.get_inventory([variant_id])
        except NotFoundError:
            self._dropped(variant_id)
            return True
        return False

    def _dropped(self, variant_id: str) -> None:
        log.info("%s: variant %s was deleted in Squarespace; dropped", self.name, variant_id)
        self.result.count("deleted")

    def _send(self, entry: JournalEntry) -> SquarespaceError | None:
        """Send a journalled batch: None when applied, or Squarespace's final refusal.

        A refused key or site drops the batch and raises; no answer at all raises and
        leaves the batch pending, to be resent under the same key.
        """
        try:
            self.client.adjust_inventory(
                idempotency_key=entry.idempotency_key,
                increments=[StockOperation(variant_id=v, quantity=q) for v, q in entry.increments],
                decrements=[StockOperation(variant_id=v, quantity=q) for v, q in entry.decrements],
            )
        except DROPPED as error:
            self._refused(entry, error)
            raise
        except ANSWERED as error:
            return error
        except SquarespaceError as error:
            # Any other 4xx (405, 413, 422, ...) is a refusal too: resent every run under
            # the same key it would get the same answer, and block the sync for a day.
            if error.status is not None and 400 <= error.status < 500 and error.status != 429:
                return error
            raise
        return None

    def _wait_for(self, entry: JournalEntry) -> None:
        ids = [vid for vid, _ in entry.increments + entry.decrements]
        self.in_flight.update(ids)
        log.warning(
            "%s: stock batch %s is still being applied by Squarespace (409 "
            "CONCURRENT_MODIFICATION); left pending, to be resent under the same key by the "
            "next run",
            self.name,
            entry.id,
        )

    def _refused(self, entry: JournalEntry, error: SquarespaceError) -> None:
        self._mark(entry, "failed", str(error))
        self.result.count("failed", entry.operations)
        log.error("%s: stock batch %s refused: %s", self.name, entry.id, error)
        if self.first_refusal is None:
            self.first_refusal = str(error)
            self.result.context_id = error.context_id

    def _mark(self, entry: JournalEntry, state: str, error: str | None = None) -> None:
        adjustments.mark(self.store, entry.id, state, now=self.clock(), error=error)

    def finish(self) -> None:
        self.result.counts["in_flight"] = len(self.in_flight)
        failed, waiting = self.result.counts.get("failed", 0), len(self.in_flight)
        problems = []
        if failed:
            problems.append(
                f"{failed} stock {'adjustment was' if failed == 1 else 'adjustments were'} "
                f"refused by Squarespace (first: {self.first_refusal}); the next run re-reads "
                "and re-plans them"
            )
        if waiting:
            problems.append(
                f"{waiting} variant{'' if waiting == 1 else 's'} wait for Squarespace to "
                "finish an earlier adjustment (409 CONCURRENT_MODIFICATION); the next run "
                "resends it under the same key"
            )
        if problems and self.result.ok:
            self.result.ok = False
            self.result.error = "; ".join(problems)


def _halves(ids: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    half = len(ids) // 2
    return ids[:half], ids[half:]


def _rereadable(error: SquarespaceError) -> bool:
    return isinstance(error, ConflictError) and error.subtype in REREAD_SUBTYPES


def _in_flight(error: SquarespaceError) -> bool:
    return isinstance(error, ConflictError) and error.subtype == "CONCURRENT_MODIFICATION"
