"""When each job of a connection is due: pure functions of the last runs and the clock.

``sqsync run`` is started by cron every few minutes and runs only what is due:
import-orders and push-despatch every ``frequency`` minutes, sync-stock every
``stock_sync_frequency`` minutes when ``stock_sync`` is on, always in that order (orders
first so their allocation is counted before stock is pushed).

A job is due when it has never run, or when its last run started at least one interval
ago. Two choices the issue leaves open:

* **A failed run is retried soon**, not a whole interval later: after
  ``min(interval, RETRY_AFTER)``. A warehouse operator would rather have a 5xx blip retried
  at the next cron tick than wait an hour for the next stock sync.
* **A killed run is retried at once**: a run left ``running`` (its process died) or marked
  ``killed`` is due now. If its process is in fact still working, it holds the
  connection's lock and ``run`` skips the connection.
* **Cron ticks drift**: a run that started at 10:00:02 must be due again at the 10:15:00
  tick, so the interval is shortened by ``GRACE`` (half of cron's one-minute tick).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

from sqsync.domain.runs import LastRun

RETRY_AFTER = timedelta(minutes=5)
# Less than cron's one-minute tick, so start-up jitter cannot make a job due a tick early.
GRACE = timedelta(seconds=30)


class Scheduled(Protocol):
    """What the schedule needs of a connection (a :class:`~sqsync.config.Connection`)."""

    frequency: int
    stock_sync: bool
    stock_sync_frequency: int


def jobs_for(connection: Scheduled) -> list[str]:
    """The jobs ``run`` runs for a connection, in the order it runs them."""
    jobs = ["import-orders", "push-despatch"]
    if connection.stock_sync:
        jobs.append("sync-stock")
    return jobs


def interval(connection: Scheduled, job: str) -> timedelta:
    """How often ``job`` runs for ``connection``."""
    minutes = connection.stock_sync_frequency if job == "sync-stock" else connection.frequency
    return timedelta(minutes=minutes)


def next_due(connection: Scheduled, job: str, last: LastRun | None) -> datetime | None:
    """When ``job`` is next due; ``None`` means now (never run, or killed half-way)."""
    if last is None or last.unfinished:
        return None
    wait = interval(connection, job)
    if last.failed:
        wait = min(wait, RETRY_AFTER)
    return last.started_at + max(wait - GRACE, timedelta(0))


def is_due(connection: Scheduled, job: str, last: LastRun | None, now: datetime) -> bool:
    due = next_due(connection, job, last)
    return due is None or due <= now


def next_job(
    connection: Scheduled, last_runs: Mapping[str, LastRun]
) -> tuple[str, datetime | None]:
    """The job of ``connection`` due first and when (``None``: now); run order breaks ties."""
    times = [(job, next_due(connection, job, last_runs.get(job))) for job in jobs_for(connection)]
    return min(times, key=lambda pair: (pair[1] is not None, pair[1] or datetime.min))


def due_jobs(
    connection: Scheduled,
    last_runs: Mapping[str, LastRun],
    now: datetime,
    *,
    force: bool = False,
) -> list[str]:
    """The jobs to run now, in run order; with ``force`` every job of the connection."""
    return [
        job
        for job in jobs_for(connection)
        if force or is_due(connection, job, last_runs.get(job), now)
    ]
