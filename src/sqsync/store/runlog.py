"""The run log: one row per job per connection per run, for `status` and for diagnosis.

A run is recorded as ``running`` when it starts, in its own transaction, so a run killed
half-way is still visible afterwards (still ``running``, no ``finished_at``) until the next
process holding the connection's lock marks it ``killed`` (:func:`mark_killed`).

The log is kept small by :func:`prune` (rows older than the retention period, in small
batches; the latest attempt of each job is always kept, since scheduling and the stock
sync's "has an import succeeded" read it), and every lookup is an index walk back from a
job's latest row (migration 0046), never a scan, so a month of one-minute runs costs a
cron tick what the first day did. A connection's failures and its ``running`` rows have
partial indexes of their own (migration 0048): indexing every row's outcome made each
prune rewrite a page of that index per connection, for lookups of rare outcomes only.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqsync.domain.runs import ATTEMPTED, JOB_NAMES, LastRun
from sqsync.store.database import Store, connection_of, now_text, parse_time, utc_text

OUTCOMES = ("running", "ok", "failed", "skipped", "killed")


def start_run(
    store: Store | sqlite3.Connection,
    connection: str,
    job: str,
    started_at: datetime | None = None,
) -> int:
    """Record a run as started; return its id for :func:`finish_run`."""
    cursor = connection_of(store).execute(
        "INSERT INTO run_log (connection, job, started_at) VALUES (?, ?, ?) RETURNING id",
        (connection, job, utc_text(started_at) if started_at else now_text()),
    )
    return int(cursor.fetchone()[0])


def finish_run(
    store: Store | sqlite3.Connection,
    run_id: int,
    *,
    outcome: str,
    counts: Mapping[str, int] | None = None,
    requests: int = 0,
    error: str | None = None,
    context_id: str | None = None,
    finished_at: datetime | None = None,
) -> None:
    connection_of(store).execute(
        "UPDATE run_log SET finished_at = ?, outcome = ?, counts = ?, requests = ?, error = ?,"
        " context_id = ? WHERE id = ?",
        (*_ending(outcome, counts, requests, error, context_id, finished_at), run_id),
    )


def record_run(
    store: Store | sqlite3.Connection,
    connection: str,
    job: str,
    *,
    started_at: datetime,
    **ending: Any,
) -> None:
    """Record a run that has already finished, start and end in one row (``run``: a job
    that did nothing, so needed no start written before it); ``ending`` as for
    :func:`finish_run`."""
    connection_of(store).execute(
        "INSERT INTO run_log (connection, job, started_at, finished_at, outcome, counts,"
        " requests, error, context_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (connection, job, utc_text(started_at), *_ending(**ending)),
    )


def _ending(
    outcome: str,
    counts: Mapping[str, int] | None = None,
    requests: int = 0,
    error: str | None = None,
    context_id: str | None = None,
    finished_at: datetime | None = None,
) -> tuple[str, str, str, int, str | None, str | None]:
    if outcome not in OUTCOMES[1:]:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES[1:])}, got {outcome!r}")
    finished = utc_text(finished_at) if finished_at else now_text()
    return (
        finished,
        outcome,
        json.dumps(dict(counts or {}), sort_keys=True),
        requests,
        error,
        context_id,
    )


def mark_killed(store: Store | sqlite3.Connection, connection: str) -> list[str]:
    """Mark the ``running`` rows of ``connection`` ``killed``; return their jobs.

    Only for a caller holding the connection's lock: then no live process can be running
    a job of it, so every ``running`` row is from a process that died half-way.
    """
    # 'running' written out, not a parameter, so that the partial index run_log_running
    # finds the rows (a handful, however long the log).
    rows = connection_of(store).execute(
        "UPDATE run_log SET outcome = 'killed' WHERE connection = ? AND outcome = 'running'"
        " RETURNING job",
        (connection,),
    )
    return sorted({row["job"] for row in rows})


def reset_future_starts(
    store: Store | sqlite3.Connection, connection: str, jobs: Collection[str], now: datetime
) -> None:
    """Set to ``now`` the start (and finish) times after ``now`` of ``jobs`` of ``connection``:
    times written while the machine's clock was fast."""
    marks = ", ".join("?" for _ in jobs)
    text = utc_text(now)
    connection_of(store).execute(
        "UPDATE run_log SET started_at = CASE WHEN started_at > ? THEN ? ELSE started_at END,"
        " finished_at = CASE WHEN finished_at > ? THEN ? ELSE finished_at END"
        f" WHERE connection = ? AND job IN ({marks}) AND (started_at > ? OR finished_at > ?)",
        (text, text, text, text, connection, *jobs, text, text),
    )


def run_dict(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    data["counts"] = json.loads(data["counts"])
    return data


def last_runs(store: Store | sqlite3.Connection) -> list[dict[str, Any]]:
    """The latest run of every (connection, job), sorted by connection then job."""
    rows = connection_of(store).execute(
        "SELECT r.* FROM run_log r JOIN ("
        "  SELECT connection, job, max(id) AS id FROM run_log GROUP BY connection, job"
        ") latest ON latest.id = r.id ORDER BY r.connection, r.job"
    )
    return [run_dict(row) for row in rows]


def last_attempts(store: Store | sqlite3.Connection, connection: str) -> dict[str, LastRun]:
    """The latest attempted run of each job of ``connection`` (skipped runs ignored).

    One indexed lookup per job, all in one statement (a round trip each was most of a
    PostgreSQL ``run``'s scheduling): walking back from the job's latest row, a skipped
    run is passed over and the first attempt is the answer.
    """
    db = connection_of(store)
    found = {}
    for row in db.execute(_LAST_ATTEMPTS, (connection,) * len(JOB_NAMES)):
        found[row["job"]] = LastRun(parse_time(row["started_at"]), row["outcome"])
    return found


def _last_attempts_sql() -> str:
    attempted = ", ".join(f"'{outcome}'" for outcome in sorted(ATTEMPTED))
    return " UNION ALL ".join(
        f"SELECT '{job}' AS job, started_at, outcome FROM (SELECT started_at, outcome"
        f" FROM run_log WHERE connection = ? AND job = '{job}' AND outcome IN ({attempted})"
        f" ORDER BY id DESC LIMIT 1) AS latest_{n}"
        for n, job in enumerate(JOB_NAMES)
    )


_LAST_ATTEMPTS = _last_attempts_sql()


def prune(store: Store, *, before: datetime, batch: int = 2_000, max_batches: int = 10) -> int:
    """Delete run-log rows started before ``before``; return how many.

    Each batch is its own short transaction, so a cron run never holds the write lock
    long, and at most ``max_batches`` run per call: a large backlog (a first upgrade) is
    worked off over a few runs. The latest attempt of each job of each connection is kept
    however old (a connection switched off for months still knows its last import).
    """
    attempted = ", ".join(f"'{outcome}'" for outcome in sorted(ATTEMPTED))
    sql = (
        "DELETE FROM run_log WHERE id IN ("
        " SELECT r.id FROM run_log r WHERE r.started_at < ?"
        "  AND EXISTS (SELECT 1 FROM run_log l"
        "   WHERE l.connection = r.connection AND l.job = r.job AND l.id > r.id"
        f"   AND l.outcome IN ({attempted}))"
        " ORDER BY r.started_at LIMIT ?)"
    )
    deleted = 0
    for _ in range(max_batches):
        with store.transaction() as conn:
            count = conn.execute(sql, (utc_text(before), batch)).rowcount
        deleted += count
        if count < batch:
            break
    return deleted


def last_run(store: Store | sqlite3.Connection, connection: str, job: str) -> dict[str, Any] | None:
    """The latest run of one job, as ``status --json`` shows it (``None``: never run)."""
    row = (
        connection_of(store)
        .execute(
            "SELECT * FROM run_log WHERE connection = ? AND job = ? ORDER BY id DESC LIMIT 1",
            (connection, job),
        )
        .fetchone()
    )
    if row is None:
        return None
    return {
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "outcome": row["outcome"],
        "counts": json.loads(row["counts"]),
        "requests": row["requests"],
        "error": row["error"],
        "context_id": row["context_id"],
    }


def last_error(store: Store | sqlite3.Connection, connection: str) -> dict[str, Any] | None:
    """The latest failed run of any job of ``connection``: job, started_at, error, contextId."""
    row = (
        connection_of(store)
        .execute(
            # 'failed' written out, not a parameter: only then can SQLite use the partial
            # index of failures (run_log_failed).
            "SELECT job, started_at, error, context_id FROM run_log"
            " WHERE connection = ? AND outcome = 'failed' ORDER BY id DESC LIMIT 1",
            (connection,),
        )
        .fetchone()
    )
    return dict(row) if row is not None else None
