"""Run jobs: one job for one connection (:func:`run_job`), or everything due (:func:`run_due`).

A failure in one connection is returned as a failed :class:`JobResult` (and recorded in
the run log with Squarespace's contextId), never raised, so the other connections of a
``run`` or a multi ``-c`` invocation still go ahead.

:func:`run_due` is ``sqsync run``: it reads the run log once to find what is due (a cron
tick with nothing due opens no connection to Squarespace and starts no thread), then works
on each connection with due jobs in its own thread, with its own store connection (sqlite3
connections belong to one thread), its own client (pacing is per key) and the
connection's lock held throughout (:mod:`sqsync.store.locks`).
"""

from __future__ import annotations

import gc
import logging
import queue
import random
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqsync.clock import CLOCK_SLACK, utcnow
from sqsync.errors import SqsyncError
from sqsync.jobs import JobResult
from sqsync.jobs.schedule import due_jobs, jobs_for, next_job
from sqsync.progress import Sink, no_progress

if TYPE_CHECKING:
    from sqsync.config import Connection
    from sqsync.squarespace import Client
    from sqsync.store import Store
    from sqsync.store.locks import Holder, Lease, LockLost

log = logging.getLogger("sqsync.jobs")
# sqsync.logs.VERBOSE (shown by -v); not imported, as the jobs layer may not import the CLI.
VERBOSE = 15
# Run-log rows are kept this many days by default ([store] run_log_days).
RUN_LOG_DAYS = 30
# Connections worked on at once by `run`, shared among its worker processes. Measured
# (bench/bench_run_many.py, 200 quiet connections at 50 ms a request, 2 cores, the
# emulator on them too; medians of 4, two worker processes): 1 worker 11.9 s, 8: 2.24 s,
# 16: 1.71 s, 24: 1.87 s, 32: 1.97 s. Again after the start-up cuts of 2026-12-03
# (medians of 8, interleaved): 12: 1.66 s, 16: 1.48 s, 20: 1.49 s, 24: 1.52 s. Once a
# quiet connection took two store transactions, not three (medians of 8, interleaved,
# 2026-12-03): 16: 1.36 s, 20: 1.27 s, 24: 1.28 s, 28: 1.31 s. Past 20 the store's one
# writer, held longer by each process's GIL the more threads wait for it, is the limit.
DEFAULT_WORKERS = 20
# A run forks a worker process per this many connections with due jobs, up to one per core
# (sqsync.jobs.processes): below it the threads of one process keep up.
PROCESS_SHARE = 20

# ``factory(connection, **client_options)``: the CLI's, or a test's (no sleeping, a mock
# transport); ``job(client, store, connection, **options)``.
ClientFactory = Callable[..., "Client"]
Job = Callable[..., JobResult]


class ScheduleError(SqsyncError):
    """What is due for a connection cannot be worked out (its run log does not read)."""


def job_function(job: str) -> Job:
    """The function of ``job``. Imported here, not at module level: a cron run that has
    nothing due should not pay for importing every job."""
    if job == "import-orders":
        from sqsync.jobs.import_orders import import_orders

        return import_orders
    if job == "push-despatch":
        from sqsync.jobs.push_despatch import push_despatch

        return push_despatch
    if job == "sync-stock":
        from sqsync.jobs.sync_stock import sync_stock

        return sync_stock
    raise ValueError(f"unknown job {job!r}")


def make_client(connection: Connection, **overrides: Any) -> Client:
    """The Squarespace client for a connection (its key, its URL, its own pacing)."""
    from sqsync.squarespace import Client

    return Client(connection.api_key(), base_url=connection.api_url, **overrides)


def run_job(
    job: str,
    connection: Connection,
    store: Store,
    *,
    client: Client | None = None,
    client_factory: ClientFactory = make_client,
    dry_run: bool = False,
    clock: Callable[[], datetime] = utcnow,
    **options: Any,
) -> JobResult:
    """Run ``job`` for ``connection`` and record it in the run log (not for a dry run).

    With no ``client``, one is made with ``client_factory`` and closed afterwards.
    """
    from sqsync.store import runlog

    fn = job_function(job)
    # Run-log rows are redone when lost (a lost "running" row is a job run again, and every
    # job is safe to rerun), so they are committed without their own fsync.
    run_id = None
    if not dry_run:
        with store.deferred_sync():
            run_id = runlog.start_run(store, connection.name, job, clock())
    with store.carrying() as carried:
        result = _perform(
            fn, job, connection, store, client, client_factory, dry_run, clock, options
        )
    if run_id is not None:
        with store.deferred_sync(), store.transaction(connection_only=True) as conn:
            _finish(conn, run_id, result, clock, carried)
    return result


def _perform(
    fn: Job,
    job: str,
    connection: Connection,
    store: Store,
    client: Client | None,
    client_factory: ClientFactory,
    dry_run: bool,
    clock: Callable[[], datetime],
    options: dict[str, Any],
) -> JobResult:
    """Run ``fn`` and make its result, whatever it raises; no run-log row."""
    from sqsync.squarespace.errors import SquarespaceError
    from sqsync.store.database import store_error

    own_client = client is None
    before = client.request_count if client is not None else 0
    try:
        if client is None:
            client = paced_client(connection, store, client_factory, clock)
        result = fn(client, store, connection, dry_run=dry_run, clock=clock, **options)
    except SquarespaceError as error:
        result = JobResult(connection.name, job, ok=False, error=str(error))
        result.context_id = error.context_id
    except SqsyncError as error:
        result = JobResult(connection.name, job, ok=False, error=str(error))
    except Exception as error:  # a bug: keep the other connections going, but show it
        trouble = store_error(store.path, error) if isinstance(error, sqlite3.Error) else None
        if trouble is not None:  # the store itself (a full disk, a bad page): one line
            result = JobResult(connection.name, job, ok=False, error=str(trouble))
        else:
            log.error("%s %s: internal error", connection.name, job, exc_info=True)
            result = JobResult(connection.name, job, ok=False, error=f"internal error: {error!r}")
    finally:
        if client is not None:
            requests = client.request_count - before
            if own_client:
                close_client(client, connection, store, clock, save=not dry_run)
        else:
            requests = 0
    result.requests = requests
    result.dry_run = dry_run
    _note_unreadable(store, connection.name, result)
    return result


def _finish(
    db: Store | sqlite3.Connection,
    run_id: int,
    result: JobResult,
    clock: Callable[[], datetime],
    carried: Sequence[Callable[[sqlite3.Connection], None]] = (),
    finished_at: datetime | None = None,
) -> None:
    """Record the job's end (at ``finished_at``, by default now), with the writes it left
    for this transaction (:meth:`Store.carry`)."""
    from sqsync.store import runlog
    from sqsync.store.database import connection_of

    for write in carried:
        write(connection_of(db))
    runlog.finish_run(db, run_id, **_ending(result, clock, finished_at))


def _ending(
    result: JobResult, clock: Callable[[], datetime], finished_at: datetime | None = None
) -> dict[str, Any]:
    """How ``result`` ends its run-log row (:func:`sqsync.store.runlog.finish_run`)."""
    return {
        "outcome": "ok" if result.ok else "failed",
        "counts": result.counts,
        "requests": result.requests,
        "error": result.error,
        "context_id": result.context_id,
        "finished_at": finished_at or clock(),
    }


def paced_client(
    connection: Connection,
    store: Store,
    client_factory: ClientFactory,
    clock: Callable[[], datetime],
) -> Client:
    """A client for ``connection`` that counts its key's requests of the last minute made
    by earlier processes (:mod:`sqsync.store.pacing`) against the rate limit."""
    from sqsync.store import pacing

    client = client_factory(connection)
    try:
        client.preload_pacing(pacing.recent_ages(store, connection.name, clock()))
    except (SqsyncError, sqlite3.Error) as error:  # pacing from scratch, as before
        log.debug("%s: earlier requests not read for pacing: %s", connection.name, error)
    return client


def close_client(
    client: Client,
    connection: Connection,
    store: Store,
    clock: Callable[[], datetime],
    *,
    save: bool = True,
) -> None:
    """Close ``client``, saving (unless not ``save``: a dry run writes nothing) when its
    requests of the last minute were answered."""
    from sqsync.store import pacing

    try:
        ages = client.recent_request_ages() if save else []
        if ages:
            pacing.save_recent(store, connection.name, ages, clock())
    except (SqsyncError, sqlite3.Error) as error:  # the next run paces from scratch
        log.debug("%s: requests not saved for pacing: %s", connection.name, error)
    finally:
        client.close()


def _note_unreadable(store: Store, connection: str, result: JobResult) -> None:
    """Orders Squarespace sent that could not be read show in every job's result until
    they read: the window moved on, the order may not be forgotten."""
    from sqsync.store.order_writes import unreadable_ids

    try:
        ids = unreadable_ids(store, connection)
    except (SqsyncError, sqlite3.Error):  # the job's own result already says what failed
        return
    if ids:
        result.details["unreadable_orders"] = ids


# ---------------------------------------------------------------------------- sqsync run


@dataclass
class ConnectionRun:
    """What ``run`` did for one connection: its job results, or why it did nothing."""

    connection: str
    due: list[str] = field(default_factory=list)
    results: list[JobResult] = field(default_factory=list)
    locked_by: Holder | None = None
    # It failed as a whole (the lock lost, store trouble, a bug): its store is not reused.
    broken: bool = field(default=False, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)


def run_connection(
    connection: Connection,
    store_path: Path | str,
    *,
    force: bool = False,
    clock: Callable[[], datetime] = utcnow,
    client_factory: ClientFactory = make_client,
    progress: Sink = no_progress,
    store: Store | None = None,
) -> ConnectionRun:
    """Run the jobs of ``connection`` that are due, under its lock, in run order.

    Opens its own store connection (unless given ``store``, one of this thread's), so it
    may run in any thread. Due times are checked again once the lock is held: another
    process may have just run the jobs.

    The run log and the lock are written in two transactions for two quiet jobs: the lock
    with the first job's start (and killed runs' rows marked), and the last finish with
    the pacing times and the release. A job that sends a request or writes has its start
    committed first, with the previous job's finish and the lock's renewal, so a kill
    leaves what it did; a later job that one read shows has nothing to do is written, start
    and finish, with the next of those transactions (see :func:`_run_jobs`).
    """
    from sqsync.store import Store
    from sqsync.store.locks import ConnectionLocked, hold

    outcome = ConnectionRun(connection.name)
    own_store = store is None
    db = Store.open(store_path) if store is None else store
    try:
        started: list[int] = []

        def begin(conn: sqlite3.Connection) -> None:
            started.extend(_begin(conn, connection, db, outcome, clock, force=force))

        with hold(db, connection.name, command="sqsync run", clock=clock, also=begin) as lease:
            if started:
                run_id = started[0]
                outcome.results, last_writes, lost = _run_jobs(
                    connection, db, outcome.due, run_id, lease, clock, client_factory, progress
                )
                lease.release(last_writes)
                if lost:  # found by the release: the quiet jobs' rows were not written
                    raise lost[0]
    except ConnectionLocked as locked:
        # Cron overlapping a long run: not an error, the other process is doing the work.
        log.info("%s: skipped, locked by %s", connection.name, locked.holder.describe())
        outcome.locked_by = locked.holder
    finally:
        if own_store:
            db.close()
    return outcome


def _begin(
    conn: sqlite3.Connection,
    connection: Connection,
    store: Store,
    outcome: ConnectionRun,
    clock: Callable[[], datetime],
    *,
    force: bool,
) -> list[int]:
    """In the transaction that takes the lock: mark rows of killed runs, work out what is
    due (into ``outcome.due``) and record the first due job as started ([its run id])."""
    from sqsync.store.runlog import mark_killed, start_run

    # Under the lock no live process runs a job of this connection: a row still
    # "running" is from one that died half-way.
    for job in mark_killed(conn, connection.name):
        log.info("%s %s: a run killed half-way is marked killed", connection.name, job)
    outcome.due = _due(connection, store, clock(), force=force, fix_clock=True)
    if not outcome.due:
        return []
    return [start_run(conn, connection.name, outcome.due[0], clock())]


def run_locked(
    job: str,
    connection: Connection,
    store: Store,
    *,
    dry_run: bool = False,
    client_factory: ClientFactory = make_client,
    **options: Any,
) -> JobResult:
    """One job command (``sqsync sync-stock`` ...): ``job`` under the connection's lock.

    Two concurrent stock syncs would apply each delta twice, so a connection that is busy
    is a failed result naming the holder. A dry run writes nothing and takes no lock.
    """
    from sqsync.store.locks import ConnectionLocked, hold

    if dry_run:
        return run_job(
            job, connection, store, dry_run=True, client_factory=client_factory, **options
        )
    try:
        with hold(store, connection.name, command=f"sqsync {job}") as lease:
            return run_job(
                job, connection, store, guard=lease.check, client_factory=client_factory, **options
            )
    except ConnectionLocked as locked:
        return JobResult(connection.name, job, ok=False, error=str(locked))


def _run_jobs(
    connection: Connection,
    store: Store,
    jobs: Sequence[str],
    run_id: int,
    lease: Lease,
    clock: Callable[[], datetime],
    client_factory: ClientFactory,
    progress: Sink,
) -> tuple[list[JobResult], Callable[[sqlite3.Connection], None], list[LockLost]]:
    """Run ``jobs`` (the first already recorded as started, as ``run_id``); return their
    results, the last writes, for the transaction that releases the lock, and the list
    those writes put a lost lock in, to raise once that transaction has committed.

    A later job that reading the store shows has nothing to do (:func:`_quiet`) needs no
    start committed before it: it makes no request and no write. Its start and finish are
    written with the next transaction, once the lock is known still ours there (renewed,
    or deleted as ours by the release); if it is not, they are not written and the run
    stops as when a job's start cannot be.
    """
    from sqsync.store import pacing, runlog
    from sqsync.store.locks import LockLost

    # One client for the connection's jobs, so its pacing covers all of them. If it cannot
    # be built (say the key's variable is unset) each job builds its own and records why.
    try:
        client: Client | None = paced_client(connection, store, client_factory, clock)
    except SqsyncError:
        client = None
    results: list[JobResult] = []
    quiet: list[tuple[datetime, JobResult]] = []  # done, not yet in the run log

    def record_quiet(conn: sqlite3.Connection, *, renew: bool = True) -> None:
        """Once the lock is known ours (renewed now, or, releasing, just deleted as ours),
        write the quiet jobs' rows."""
        if renew:
            lease.renew(conn)
        lease.check()
        for started_at, done in quiet:
            runlog.record_run(
                conn, connection.name, done.job, started_at=started_at, **_ending(done, clock)
            )
        quiet.clear()

    carried: Sequence[Callable[[sqlite3.Connection], None]] = ()
    last: JobResult | None = None  # the job of run_id, finished, not yet recorded
    last_at = clock()
    try:
        for index, job in enumerate(jobs):
            if index > 0:
                started_at = clock()
                done = _quiet(job, client, store, connection, clock)
                if done is not None:
                    quiet.append((started_at, done))
                    results.append(done)
                    continue
                lost: LockLost | None = None
                with store.deferred_sync(), store.transaction(connection_only=True) as conn:
                    if last is not None:
                        _finish(conn, run_id, last, clock, carried, last_at)
                        last = None
                    try:
                        record_quiet(conn)
                    except LockLost as error:  # what finished is kept, the next never starts
                        lost = error
                    else:
                        run_id = runlog.start_run(conn, connection.name, job, clock())
                if lost is not None:
                    raise lost
            with store.carrying() as carried:
                last = _perform(
                    job_function(job),
                    job,
                    connection,
                    store,
                    client,
                    client_factory,
                    False,
                    clock,
                    {"guard": lease.check, "progress": progress},
                )
            last_at = clock()  # its finish may be written after a quiet job's start
            results.append(last)
    except BaseException:
        if client is not None:
            close_client(client, connection, store, clock)
        raise
    ages = _recent_ages(client, connection)
    if client is not None:
        client.close()
    lost_at_release: list[LockLost] = []

    def last_writes(conn: sqlite3.Connection) -> None:
        if last is not None:
            _finish(conn, run_id, last, clock, carried, last_at)
        if ages:
            pacing.save_recent(conn, connection.name, ages, clock())
        if quiet:
            try:
                record_quiet(conn, renew=False)  # the release deleted the lock first
            except LockLost as error:  # raised once the release has committed
                lost_at_release.append(error)

    return results, last_writes, lost_at_release


def _quiet(
    job: str,
    client: Client | None,
    store: Store,
    connection: Connection,
    clock: Callable[[], datetime],
) -> JobResult | None:
    """``job``'s result, when one read of the store shows it has nothing to do (today:
    push-despatch with nothing to push), made as :func:`_perform` makes it; else None,
    and the job runs as usual (trouble reading included: the job meets it and says so)."""
    if job != "push-despatch" or client is None:
        return None
    from sqsync.jobs.push_despatch import nothing_to_push, push_despatch

    if job_function(job) is not push_despatch:  # a stand-in job (tests) runs as given
        return None
    before = client.request_count
    try:
        result = nothing_to_push(client, store, connection, clock=clock)
    except Exception:  # the job itself reads again and reports what is wrong
        log.debug("%s %s: not known quiet", connection.name, job, exc_info=True)
        return None
    if result is None:
        return None
    result.requests = client.request_count - before
    _note_unreadable(store, connection.name, result)
    return result


def _recent_ages(client: Client | None, connection: Connection) -> list[float]:
    if client is None:
        return []
    try:
        return client.recent_request_ages()
    except SqsyncError as error:  # the next run paces from scratch
        log.debug("%s: requests not saved for pacing: %s", connection.name, error)
        return []


def run_due(
    connections: Sequence[Connection],
    store_path: Path | str,
    *,
    force: bool = False,
    workers: int = DEFAULT_WORKERS,
    clock: Callable[[], datetime] | None = None,
    client_factory: ClientFactory = make_client,
    progress: Sink = no_progress,
    run_log_days: int = RUN_LOG_DAYS,
    processes: int | None = None,
) -> list[ConnectionRun]:
    """``sqsync run``: the due jobs of every connection, ``workers`` connections at a time.

    ``processes``: worker processes to share the workers among (None: one per
    :data:`PROCESS_SHARE` connections with due jobs, at most one per core; see
    :mod:`sqsync.jobs.processes`).

    Results come back in the order of ``connections``. Connections with nothing due are
    returned with an empty ``due`` and cost one query in total, not a thread each. Run-log
    rows older than ``run_log_days`` are pruned first, a few small batches per run.
    """
    from sqsync.store import Store

    clock = clock or utcnow  # looked up now, so a test can replace the module's clock
    failed: dict[str, ConnectionRun] = {}
    busy: list[Connection] = []
    store = Store.open(store_path)  # applies migrations once, before the threads start
    try:
        now = clock()
        _prune_run_log(store, now - timedelta(days=run_log_days))
        for connection in connections:
            if force:
                busy.append(connection)
                continue
            # A scheduling problem of one connection (an unreadable run log row, a bug)
            # fails that connection only, in one line: no traceback, the others go ahead.
            try:
                due = _due(connection, store, now)
            except Exception as error:
                log.debug("%s: cannot work out what is due", connection.name, exc_info=True)
                why = str(error) if isinstance(error, SqsyncError) else f"internal error: {error!r}"
                message = f"cannot work out what is due: {why}"
                result = JobResult(connection.name, "run", ok=False, error=message)
                failed[connection.name] = ConnectionRun(connection.name, results=[result])
                continue
            if due:
                busy.append(connection)
            elif log.isEnabledFor(VERBOSE):  # its own run-log reads: only when shown
                log.log(VERBOSE, "%s", _nothing_due(connection, store))
        if not busy:
            return [failed.get(c.name) or ConnectionRun(c.name) for c in connections]

        def work(connection: Connection, store: Store) -> ConnectionRun:
            try:
                return run_connection(
                    connection,
                    store_path,
                    force=force,
                    clock=clock,
                    client_factory=client_factory,
                    progress=progress,
                    store=store,
                )
            except SqsyncError as error:  # the lock lost, the store unreadable
                failed = JobResult(connection.name, "run", ok=False, error=str(error))
                return ConnectionRun(connection.name, results=[failed], broken=True)
            except Exception as error:  # a database error, a bug: the others still report
                log.error("%s: internal error", connection.name, exc_info=True)
                failed = JobResult(
                    connection.name, "run", ok=False, error=f"internal error: {error!r}"
                )
                return ConnectionRun(connection.name, results=[failed], broken=True)

        count = max(1, min(workers, len(busy)))
        # Work from a random place in the list, round to it: hosts started by cron at the
        # same moment then each begin in a part of their own, instead of all queueing for
        # the first connections' locks and skipping them one after another.
        start = random.randrange(len(busy))
        busy = busy[start:] + busy[:start]
        if processes is None:
            processes = _processes(len(busy))
        processes = max(1, min(processes, count))
        if processes == 1:
            todo: queue.SimpleQueue[Connection] = queue.SimpleQueue()
            for connection in busy:
                todo.put(connection)

            def take() -> Connection | None:
                try:
                    return todo.get_nowait()
                except queue.Empty:
                    return None

            # This store stays open while the workers run: the last connection to close a
            # WAL database checkpoints it, which every worker's close would otherwise do.
            done: dict[str, ConnectionRun] = {}
            with _start_up_frozen():
                _work_through(take, count, store_path, work, done.__setitem__)
        else:
            done = _in_processes(busy, processes, count, store, store_path, work)
        done.update(failed)
        return [done.get(c.name) or ConnectionRun(c.name) for c in connections]
    finally:
        store.close()


@contextmanager
def _start_up_frozen() -> Iterator[None]:
    """While the jobs run, the cyclic garbage collector is on (a program start keeps it
    off until then: see :mod:`sqsync.__main__`) and leaves alone every object that exists
    when they start: the modules, classes and config of the start-up, a few hundred
    thousand objects that live as long as the process.

    Without this each of its full collections walked all of them again: 9.6% of the
    instructions of a ``run`` over 200 quiet connections (callgrind: 2,411 M, 2,180 M
    frozen). Forked workers also keep those objects' pages shared with the parent instead
    of copying each one the collector touches. Unfrozen after, so a process that goes on
    (a test, a caller of the library) collects them as before.
    """
    collecting = gc.isenabled()
    gc.freeze()
    gc.enable()
    try:
        yield
    finally:
        gc.unfreeze()
        if not collecting:
            gc.disable()


def _processes(busy: int) -> int:
    """How many worker processes a run with ``busy`` connections to work on forks: one
    per :data:`PROCESS_SHARE` of them, at most one per core, none where fork is not
    (see :mod:`sqsync.jobs.processes`)."""
    from sqsync.jobs.processes import can_fork, cores

    if busy < 2 * PROCESS_SHARE or not can_fork():
        return 1
    return min(cores(), busy // PROCESS_SHARE)


def _work_through(
    take: Callable[[], Connection | None],
    threads: int,
    store_path: Path | str,
    work: Callable[[Connection, Store], ConnectionRun],
    report: Callable[[str, ConnectionRun], None],
) -> None:
    """Work on the connections ``take()`` gives, ``threads`` at a time, until it gives
    None, and ``report`` each one's outcome as it ends. Each thread has one store
    connection for all its connections (sqlite3 connections belong to their thread, and
    opening one costs more than a quiet job's queries), closed after any trouble (with
    it, on PostgreSQL, its session locks)."""
    from sqsync.squarespace.client import shared_pool
    from sqsync.store import Store

    def worker() -> None:
        mine: Store | None = None
        try:
            while (connection := take()) is not None:
                try:
                    mine = mine or Store.open(store_path)
                except SqsyncError as error:
                    result = JobResult(connection.name, "run", ok=False, error=str(error))
                    report(connection.name, ConnectionRun(connection.name, results=[result]))
                    continue
                outcome = work(connection, mine)
                report(connection.name, outcome)
                if outcome.broken:
                    mine.close()
                    mine = None
        finally:
            if mine is not None:
                mine.close()

    with (
        shared_pool(),
        ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sqsync") as pool,
    ):
        for future in [pool.submit(worker) for _ in range(threads)]:
            future.result()


def _in_processes(
    busy: list[Connection],
    processes: int,
    threads: int,
    store: Store,
    store_path: Path | str,
    work: Callable[[Connection, Store], ConnectionRun],
) -> dict[str, ConnectionRun]:
    """:func:`_work_through` in ``processes`` forked workers sharing ``threads`` between
    them (:mod:`sqsync.jobs.processes`). What a worker that died had not reported is a
    failed result of its connection, for the next run to finish."""
    from sqsync.jobs.processes import share_out
    from sqsync.squarespace.client import prepare_workers
    from sqsync.store import Store

    # The jobs these connections do, imported once here, not once in every worker (a run
    # with no stock sync does not import sync-stock's modules).
    for job in {job for connection in busy for job in jobs_for(connection)}:
        job_function(job)
    from sqsync.store import locks, pacing  # noqa: F401  (every connection's, inherited too)

    prepare_workers(tls=any(not c.api_url.startswith("http:") for c in busy))
    store.close()  # a store connection must not cross a fork (see sqsync.jobs.processes)
    shares = threads_per_process(threads, processes)

    def in_child(
        take: Callable[[], Connection | None],
        report: Callable[[str, ConnectionRun], None],
        number: int,
    ) -> None:
        # Open while the threads work: the last connection to close a WAL database
        # checkpoints it, which every thread's close would otherwise do.
        with Store.open(store_path):
            _work_through(take, shares[number], store_path, work, report)

    with _start_up_frozen():
        done, dead = share_out(busy, processes, in_child)
    if dead:
        why = "; ".join(dead)
        for connection in busy:
            if connection.name not in done:
                error = f"not finished: {why}; the next run goes on with it"
                result = JobResult(connection.name, "run", ok=False, error=error)
                done[connection.name] = ConnectionRun(connection.name, results=[result])
    return done


def threads_per_process(threads: int, processes: int) -> list[int]:
    """``threads`` shared among ``processes`` as evenly as they go, none over: 25 in two
    are 13 and 12 (rounding each up made 26, one connection at a time more than asked)."""
    share, extra = divmod(threads, processes)
    return [share + (1 if number < extra else 0) for number in range(processes)]


def _prune_run_log(store: Store, before: datetime) -> None:
    """Keep the run log to its retention period; trouble here never stops a run."""
    from sqsync.store import runlog

    try:
        pruned = runlog.prune(store, before=before)
    except (SqsyncError, sqlite3.Error) as error:
        log.warning("run log: old rows not pruned: %s", error)
        return
    if pruned:
        log.debug("run log: pruned %d rows started before %s", pruned, _when(before))


def _due(
    connection: Connection,
    store: Store,
    now: datetime,
    *,
    force: bool = False,
    fix_clock: bool = False,
) -> list[str]:
    """The jobs of ``connection`` due at ``now``.

    A job whose last run started in the future (the machine's clock was fast, then
    corrected) is due now: otherwise it would wait, silently, until the clock caught up.
    With ``fix_clock`` (under the connection's lock) those start times are set to ``now``,
    with one warning, so later runs schedule from there.
    """
    from sqsync.store.runlog import last_attempts, reset_future_starts

    try:
        last = last_attempts(store, connection.name)
    except (ValueError, TypeError) as error:  # a start time that does not parse
        raise ScheduleError(f"cannot read the run log: {error}") from error
    future = sorted(job for job, run in last.items() if run.started_at > now + CLOCK_SLACK)
    if future and fix_clock:
        latest = max(last[job].started_at for job in future)
        reset_future_starts(store, connection.name, future, now)
        log.warning(
            "%s: the run log has %s starting at %s, later than now (was the clock fast?);"
            " reset to now and run now",
            connection.name,
            ", ".join(future),
            _when(latest),
        )
    return due_jobs(
        connection, {j: r for j, r in last.items() if j not in future}, now, force=force
    )


def _nothing_due(connection: Connection, store: Store) -> str:
    """ "acme: nothing due; next import-orders at 2026-03-10 12:15 UTC" (for ``-v``)."""
    from sqsync.store.runlog import last_attempts

    job, when = next_job(connection, last_attempts(store, connection.name))
    return f"{connection.name}: nothing due; next {job} at {_when(when) if when else 'once due'}"


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
