"""Run one job for one connection: build its client, record the run, capture the failure.

A failure in one connection is returned as a failed :class:`JobResult` (and recorded in
the run log with Squarespace's contextId), never raised, so the other connections of a
``run`` or a multi ``-c`` invocation still go ahead.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqsync.errors import SqsyncError
from sqsync.jobs import JobResult

if TYPE_CHECKING:
    from sqsync.config import Connection
    from sqsync.squarespace import Client
    from sqsync.store import Store

log = logging.getLogger("sqsync.jobs")

# Job name -> (module, function). Imported on demand: a cron run that has nothing due
# should not pay for importing every job.
_JOBS = {
    "import-orders": ("sqsync.jobs.import_orders", "import_orders"),
    "push-despatch": ("sqsync.jobs.push_despatch", "push_despatch"),
    "sync-stock": ("sqsync.jobs.sync_stock", "sync_stock"),
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def job_function(job: str) -> Callable[..., JobResult]:
    module, name = _JOBS[job]
    return getattr(importlib.import_module(module), name)


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
    dry_run: bool = False,
    clock: Callable[[], datetime] = utcnow,
    **options: Any,
) -> JobResult:
    """Run ``job`` for ``connection`` and record it in the run log (not for a dry run)."""
    from sqsync.squarespace.errors import SquarespaceError
    from sqsync.store import runlog

    fn = job_function(job)
    run_id = None if dry_run else runlog.start_run(store, connection.name, job, clock())
    own_client = client is None
    before = client.request_count if client is not None else 0
    try:
        if client is None:
            client = make_client(connection)
        result = fn(client, store, connection, dry_run=dry_run, clock=clock, **options)
    except SquarespaceError as error:
        result = JobResult(connection.name, job, ok=False, error=str(error))
        result.context_id = error.context_id
    except SqsyncError as error:
        result = JobResult(connection.name, job, ok=False, error=str(error))
    except Exception as error:  # a bug: keep the other connections going, but show it
        log.error("%s %s: internal error", connection.name, job, exc_info=True)
        result = JobResult(connection.name, job, ok=False, error=f"internal error: {error!r}")
    finally:
        if client is not None:
            requests = client.request_count - before
            if own_client:
                client.close()
        else:
            requests = 0
    result.requests = requests
    result.dry_run = dry_run
    if run_id is not None:
        runlog.finish_run(
            store,
            run_id,
            outcome="ok" if result.ok else "failed",
            counts=result.counts,
            requests=result.requests,
            error=result.error,
            context_id=result.context_id,
            finished_at=clock(),
        )
    return result
