"""The run log stays small and its lookups never scan it (issue 15).

Times are asserted in bench/, never here: these tests pin the behaviour that keeps them
flat (rows pruned, the latest attempts kept, every lookup an index search).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from factories import write_config
from sqsync.config import load_config
from sqsync.domain.runs import ATTEMPTED
from sqsync.jobs import runner
from sqsync.store import Store
from sqsync.store.runlog import (
    finish_run,
    last_attempts,
    last_error,
    last_run,
    mark_killed,
    prune,
    start_run,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "runs.db") as store:
        yield store


def log_run(store, connection, job, when, outcome="ok"):
    with store.transaction() as conn:
        run_id = start_run(conn, connection, job, when)
        if outcome != "running":
            finish_run(conn, run_id, outcome=outcome, finished_at=when)
    return run_id


def ids(store):
    return [row[0] for row in store.conn.execute("SELECT id FROM run_log ORDER BY id")]


def test_prune_deletes_old_rows_but_keeps_each_jobs_latest_attempt(store):
    old = NOW - timedelta(days=40)
    kept_import = log_run(store, "idle", "import-orders", old)  # a connection switched off
    log_run(store, "idle", "import-orders", old + timedelta(minutes=1), "skipped")
    gone = [log_run(store, "acme", "import-orders", old + timedelta(minutes=n)) for n in range(5)]
    recent = log_run(store, "acme", "import-orders", NOW - timedelta(days=1))
    failed = log_run(store, "acme", "sync-stock", old, "failed")  # its job's latest attempt

    deleted = prune(store, before=NOW - timedelta(days=30))

    assert deleted == len(gone)
    remaining = ids(store)
    assert kept_import in remaining and recent in remaining and failed in remaining
    assert not set(gone) & set(remaining)
    # what scheduling and status read is unchanged
    assert set(last_attempts(store, "idle")) == {"import-orders"}
    assert last_error(store, "acme")["job"] == "sync-stock"


def test_prune_works_in_bounded_batches(store):
    old = NOW - timedelta(days=40)
    with store.transaction() as conn:
        for n in range(50):
            start_run(conn, "acme", "import-orders", old + timedelta(seconds=n))
    log_run(store, "acme", "import-orders", NOW)

    assert prune(store, before=NOW - timedelta(days=30), batch=10, max_batches=2) == 20
    assert prune(store, before=NOW - timedelta(days=30), batch=10, max_batches=10) == 30
    assert prune(store, before=NOW - timedelta(days=30)) == 0
    assert len(ids(store)) == 1


def test_run_prunes_the_run_log(tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_KEY", "unused")
    config = load_config(write_config(tmp_path, frequency=15))
    with Store.open(config.store_path) as store:
        for day in range(60, 0, -1):
            log_run(store, "acme", "import-orders", NOW - timedelta(days=day))
        log_run(store, "acme", "import-orders", NOW - timedelta(minutes=1))

    runner.run_due(config.connections, config.store_path, clock=lambda: NOW, run_log_days=30)

    with Store.open(config.store_path) as store:
        starts = [
            row[0]
            for row in store.conn.execute(
                "SELECT started_at FROM run_log WHERE started_at < ?", ("2026-12-01T12:00",)
            )
        ]
    assert len(starts) == 31  # the 30 days inside the period, and a minute ago
    assert min(starts) == "2026-11-01T12:00:00.000Z"


def plan(store, sql, params):
    return " ".join(row[-1] for row in store.conn.execute("EXPLAIN QUERY PLAN " + sql, params))


@pytest.mark.sqlite_only  # SQLite's planner; PostgreSQL has the same indexes (test_store_postgres)
def test_every_run_log_lookup_is_an_index_search_not_a_scan(store, monkeypatch):
    # Record the statements the lookups run, then ask SQLite how it runs each one.
    statements: list[tuple[str, tuple]] = []
    for n in range(3):
        log_run(store, "acme", "import-orders", NOW + timedelta(minutes=n))
    log_run(store, "acme", "sync-stock", NOW, "failed")
    log_run(store, "acme", "push-despatch", NOW, "running")
    store.conn.execute("ANALYZE")  # the planner's choice with real statistics
    real = store.conn

    class Recording:
        def execute(self, sql, params=()):
            if "run_log" in sql and sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
                statements.append((sql, tuple(params)))
            return real.execute(sql, params)

        def __getattr__(self, name):
            return getattr(real, name)

    recording = Recording()
    last_attempts(recording, "acme")  # type: ignore[arg-type]
    last_run(recording, "acme", "import-orders")  # type: ignore[arg-type]
    last_error(recording, "acme")  # type: ignore[arg-type]
    # the failure and the running rows have partial indexes: a month of 'ok' rows is
    # not walked to find them
    assert mark_killed(recording, "acme") == ["push-despatch"]  # type: ignore[arg-type]

    assert len(statements) >= 4
    for sql, params in statements:
        how = plan(store, sql, params)
        # found by walking an index back from the latest row: no scan of the table (a
        # SCAN of a one-row subquery's result is fine), no sort
        assert "USING INDEX" in how and "SCAN run_log" not in how, how
        assert "TEMP B-TREE" not in how, how
        for outcome in ("failed", "running"):  # a rare outcome: its own small index
            if f"outcome = '{outcome}'" in sql:
                assert f"USING INDEX run_log_{outcome} " in how, how
    prune_sql = (
        "SELECT r.id FROM run_log r WHERE r.started_at < ? AND EXISTS (SELECT 1 FROM run_log l"
        " WHERE l.connection = r.connection AND l.job = r.job AND l.id > r.id"
        f" AND l.outcome IN ({', '.join(repr(o) for o in sorted(ATTEMPTED))}))"
        " ORDER BY r.started_at LIMIT 10"
    )
    assert "SCAN r" not in plan(store, prune_sql, ("2026",))


def test_run_log_days_comes_from_the_store_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_KEY", "unused")
    path = write_config(tmp_path)
    text = path.read_text().replace('path = "sqsync.db"', 'path = "sqsync.db"\nrun_log_days = 7')
    path.write_text(text)
    assert load_config(path).store.run_log_days == 7
    path.write_text(text.replace("run_log_days = 7", "run_log_days = 0"))
    with pytest.raises(Exception, match="run_log_days"):
        load_config(path)


def test_sqsync_run_prunes_with_the_configured_days(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from sqsync.cli import cli

    monkeypatch.setenv("ACME_KEY", "unused")
    path = write_config(tmp_path)
    path.write_text(
        path.read_text().replace('path = "sqsync.db"', 'path = "sqsync.db"\nrun_log_days = 7')
    )
    now = datetime.now(UTC)
    with Store.open(load_config(path).store_path) as store:
        old = log_run(store, "acme", "import-orders", now - timedelta(days=10))
        for job in ("import-orders", "push-despatch"):  # nothing is due
            log_run(store, "acme", job, now)

    result = CliRunner().invoke(cli, ["--config", str(path), "run"])

    assert result.exit_code == 0, result.output
    with Store.open(load_config(path).store_path) as store:
        assert old not in ids(store) and len(ids(store)) == 2
