"""sync-stock: make a Squarespace store advertise what the warehouse can really ship.

One run for one connection:

0. Refuse while the connection's latest import-orders has failed (or was killed): sales
   it missed allocate nothing yet, so the targets would advertise stock already sold.
1. Recover: prune old finished journal rows, then resend every batch an earlier run left
   pending (same Idempotency-Key, same body), so anything left in flight by a crash is
   applied exactly once *before* the stock is read. A batch older than the key's life is
   abandoned instead (resending it could apply it twice); step 2 corrects the stock anyway.
2. Read the warehouse availability (one query) and the whole Squarespace inventory, and
   plan the changes (:mod:`sqsync.jobs.stock_plan`).
3. For each batch: journal it with a new key (committed), send it, mark it applied on 204.
   A 409 a re-read can fix marks it superseded; those variants are re-read by id, the
   batch recomputed and sent once more under a new journalled key. A batch refused for
   good (here or when resent in step 1) is marked failed and makes the job not ok (exit
   1), the run going on with the other batches. Any other error leaves the batch pending
   for the next run's step 1 and fails the job with the error's one line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqsync.clock import utcnow
from sqsync.jobs import JobResult, no_guard
from sqsync.jobs.stock_plan import StockPlan, make_batches, plan_stock
from sqsync.progress import Sink, no_progress
from sqsync.squarespace.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    SquarespaceError,
)
from sqsync.squarespace.models import InventoryItem, StockOperation
from sqsync.store import adjustments, runlog
from sqsync.store.adjustments import JournalEntry
from sqsync.store.stock import availability, counted_skus
from sqsync.store.sync_state import get_state, set_state

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
REREAD_SUBTYPES = frozenset({"INSUFFICIENT_STOCK", "CONCURRENT_MODIFICATION", "STOCK_NOT_TRACKED"})
# Answers that mean the batch was refused and nothing was applied: resending cannot help.
REFUSED = (ConflictError, InvalidRequestError, NotFoundError)

PlannedSink = Callable[[str, list[dict[str, Any]]], None]
COUNTS = (
    "adjusted",
    "unchanged",
    "unlimited",
    "unmatched",
    "duplicate_sku",
    "uncounted",
    "failed",
    "resent",
)
UNCOUNTED_KEY = "sync_stock.uncounted"


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

    With ``dry_run`` nothing is sent or journalled; the planned changes are in
    ``details["planned"]`` and, when given, passed to ``on_planned(connection, rows)``.
    """
    result = JobResult(connection.name, JOB, dry_run=dry_run)
    for name in COUNTS:
        result.counts[name] = 0
    waiting_for, last_import = connection.name, None
    for name in connection.stock_pool:
        # Stock is the client's pool: a sale another shop's failed import missed is as
        # unallocated as one of our own.
        waiting_for = name
        last_import = runlog.last_attempts(store, name).get("import-orders")
        if last_import is None or last_import.failed:
            break
    if (last_import is None or last_import.failed) and not dry_run:
        # Stock is advertised as on hand less what open orders allocate; orders the failed
        # import did not bring in allocate nothing yet, so pushing stock now would
        # advertise units customers have already bought (oversell).
        result.ok = False
        whose = "" if waiting_for == connection.name else f" of connection {waiting_for}"
        result.error = (
            f"not run: the last import-orders{whose} failed, and stock is not pushed without "
            "the allocations of the orders it would have brought in"
            if last_import is not None
            else f"not run yet: no import-orders{whose} has succeeded, so open orders "
            "allocate nothing and stock would advertise units already sold; run "
            "import-orders first"
        )
        return result
    run = _Run(client, store, connection, clock, result, guard, progress)
    try:
        if not dry_run:
            run.recover()
        plan = run.plan()
        if dry_run:
            rows = [change.row() for change in plan.changes]
            result.details["planned"] = rows
            if on_planned is not None and rows:
                on_planned(connection.name, rows)
            return result
        for batch in plan.batches():
            guard()
            entry = adjustments.record(
                store, connection.name, batch.increments, batch.decrements, now=clock()
            )
            run.deliver(entry)
    except SquarespaceError as error:
        # Keep what this run did (counts) next to the error that stopped it.
        result.ok, result.error, result.context_id = False, str(error), error.context_id
    run.finish()
    return result


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
            try:
                self._send(entry)
            except REFUSED as error:
                # Nothing was applied; the fresh read below plans what is still needed. A
                # 409 a re-read fixes is superseded by that plan; any other refusal is
                # failed and makes the job not ok (the connection is not wedged: a failed
                # batch is never resent).
                if _rereadable(error):
                    log.info("%s: earlier stock batch %s refused: %s", self.name, entry.id, error)
                    self._mark(entry, "superseded", str(error))
                else:
                    self._refused(entry, error)
                continue
            self._mark(entry, "applied")
            self.result.count("resent")
            log.info("%s: resent stock batch %s from an earlier run", self.name, entry.id)

    # -- step 2 ------------------------------------------------------------------------

    def plan(self) -> StockPlan:
        c = self.connection
        self.levels = availability(self.store, c.client, c.warehouse)
        self.counted = counted_skus(self.store, c.client, c.warehouse)
        items: list[InventoryItem] = []
        for page in self.client.iter_inventory_pages():
            items.extend(page.items)
            for bad in page.invalid:
                log.warning(
                    "%s: inventory item %s left alone: %s", self.name, bad.id or "?", bad.error
                )
            self.progress(self.name, "variants", len(items))
        plan = self._plan(items)
        counts = plan.counts()
        if not self.result.dry_run:
            del counts["adjusted"]  # counted as batches are applied
        self.result.counts.update(counts)
        for unmatched in plan.unmatched:
            why = "has no SKU" if unmatched.sku is None else "has a SKU the warehouse does not know"
            log.info(
                "%s: variant %s (SKU %s) left alone: it %s",
                self.name,
                unmatched.variant_id,
                unmatched.sku or "-",
                why,
            )
        for sku, variant_ids in plan.duplicates.items():
            log.warning(
                "%s: SKU %s is on %d variants (%s); each advertises the full available quantity",
                self.name,
                sku,
                len(variant_ids),
                ", ".join(variant_ids),
            )
        self._report_uncounted(plan)
        self.result.details["unmatched_variants"] = [u.row() for u in plan.unmatched]
        self.result.details["duplicate_skus"] = plan.duplicates
        return plan

    def _report_uncounted(self, plan: StockPlan) -> None:
        """A SKU on sale and on open orders but never counted is left alone. It is news
        once (a WARNING, shown under --quiet too), then listed in status, not repeated."""
        self.result.details["uncounted_skus"] = sorted(plan.uncounted)
        before = set(json.loads(get_state(self.store, self.name, UNCOUNTED_KEY) or "[]"))
        for sku in sorted(set(plan.uncounted) - before):
            log.warning(
                "%s: SKU %s was never counted in %s/%s, so its %d variant(s) are left "
                "alone; `sqsync stock set %s N` (0 if you have none) makes it synced",
                self.name,
                sku,
                self.connection.client,
                self.connection.warehouse,
                len(plan.uncounted[sku]),
                sku,
            )
        now = sorted(plan.uncounted)
        if not self.result.dry_run and now != sorted(before):
            with self.store.transaction() as conn:
                set_state(conn, self.name, UNCOUNTED_KEY, json.dumps(now))

    def _plan(self, items: list[InventoryItem]) -> StockPlan:
        assert self.levels is not None
        return plan_stock(
            items,
            self.levels,
            aliases=self.connection.sku_aliases,
            buffer=self.connection.stock_buffer,
            counted=self.counted,
        )

    # -- step 3 ------------------------------------------------------------------------

    def deliver(self, entry: JournalEntry) -> None:
        """Send a journalled batch; on a fixable 409, re-read, recompute and send once more."""
        try:
            self._send(entry)
        except REFUSED as error:
            if not _rereadable(error):
                self._refused(entry, error)
                return
            self._mark(entry, "superseded", str(error))
            log.info("%s: stock batch %s refused (%s); re-reading", self.name, entry.id, error)
            retry = self._recompute(entry)
            if retry is None:
                return
            try:
                self._send(retry)
            except REFUSED as again:
                self._refused(retry, again)
                return
            entry = retry
        self._mark(entry, "applied")
        self.result.count("adjusted", entry.operations)

    def _recompute(self, entry: JournalEntry) -> JournalEntry | None:
        """The batch recomputed from a fresh read of its variants, journalled (or None)."""
        ids = [vid for vid, _ in entry.increments + entry.decrements]
        plan = self._plan(self.client.get_inventory(ids))
        self.result.count("unchanged", plan.unchanged)
        batches = make_batches(plan.changes)
        if not batches:
            return None
        (batch,) = batches  # a subset of one batch fits in one batch
        return adjustments.record(
            self.store,
            self.name,
            batch.increments,
            batch.decrements,
            now=self.clock(),
            replaces=entry.id,
        )

    def _send(self, entry: JournalEntry) -> None:
        self.client.adjust_inventory(
            idempotency_key=entry.idempotency_key,
            increments=[StockOperation(variant_id=v, quantity=q) for v, q in entry.increments],
            decrements=[StockOperation(variant_id=v, quantity=q) for v, q in entry.decrements],
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
        failed = self.result.counts.get("failed", 0)
        if failed and self.result.ok:
            self.result.ok = False
            self.result.error = (
                f"{failed} stock {'adjustment was' if failed == 1 else 'adjustments were'} "
                "refused by Squarespace and not applied "
                f"(first: {self.first_refusal})"
            )


def _rereadable(error: SquarespaceError) -> bool:
    return isinstance(error, ConflictError) and error.subtype in REREAD_SUBTYPES
