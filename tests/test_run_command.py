"""`sqsync run` (issue 6 rules 1-3 and 7): due jobs, order, isolation, locks, threads.

The jobs are replaced by recording fakes, so these tests are about `run` itself; the
end-to-end runs against the emulator are in test_run_emulator.py.
"""

import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from factories import DEFAULT_CONNECTION, write_config
from sqsync.cli import cli
from sqsync.jobs import JobResult, runner
from sqsync.store import Store
from sqsync.store.database import utc_text
from sqsync.store.locks import acquire


class FakeJobs:
    """Stands in for the three jobs; records every call (connection, job, thread, client)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.threads: dict[str, set[int]] = {}
        self.clients: dict[str, set[int]] = {}
        self.stores: dict[str, set[int]] = {}
        self.failing: set[str] = set()
        self.barrier: threading.Barrier | None = None
        self._lock = threading.Lock()

    def function(self, job: str):
        def fake(client, store, connection, *, dry_run=False, clock=None, **options):
            with self._lock:
                self.calls.append((connection.name, job))
                self.threads.setdefault(connection.name, set()).add(threading.get_ident())
                self.clients.setdefault(connection.name, set()).add(id(client))
                self.stores.setdefault(connection.name, set()).add(id(store))
            if self.barrier is not None and job == "import-orders":
                self.barrier.wait()  # every connection must be here at once
            result = JobResult(connection.name, job)
            if connection.name in self.failing:
                raise RuntimeError("boom")
            result.count("imported" if job == "import-orders" else "done")
            return result

        return fake


@pytest.fixture
def jobs(monkeypatch):
    fakes = FakeJobs()
    monkeypatch.setattr(runner, "job_function", fakes.function)
    monkeypatch.setenv("ACME_KEY", "test-key")
    # Each connection its own key (write_config names the variables <NAME>_KEY).
    for name in ("A2", "A3", "A4", "BETA", "GAMMA", "GOOD", "IDLE"):
        monkeypatch.setenv(f"{name}_KEY", f"test-key-{name.lower()}")
    return fakes


def connections(*names, **overrides):
    return [{**DEFAULT_CONNECTION, "name": n, "order_prefix": n, **overrides} for n in names]


def sqsync(path, *args):
    return CliRunner().invoke(cli, ["--config", str(path), *args])


def test_first_run_runs_every_job_in_order_then_nothing_is_due(tmp_path, jobs):
    path = write_config(tmp_path, connections=connections("acme", stock_sync=True))
    result = sqsync(path, "run")
    assert result.exit_code == 0, result.output
    assert jobs.calls == [
        ("acme", "import-orders"),
        ("acme", "push-despatch"),
        ("acme", "sync-stock"),
    ]
    assert "acme import-orders: imported 1" in result.output

    again = sqsync(path, "run")
    assert again.exit_code == 0
    assert again.output == ""  # nothing due: cron mails nothing
    assert len(jobs.calls) == 3


def test_force_ignores_due_times(tmp_path, jobs):
    path = write_config(tmp_path, connections=connections("acme"))
    assert sqsync(path, "run").exit_code == 0
    assert sqsync(path, "run", "--force").exit_code == 0
    assert [job for _, job in jobs.calls] == ["import-orders", "push-despatch"] * 2


def test_quiet_run_that_did_work_prints_nothing(tmp_path, jobs):
    path = write_config(tmp_path, connections=connections("acme"))
    result = sqsync(path, "--quiet", "run")
    assert result.exit_code == 0 and result.output == ""
    assert len(jobs.calls) == 2


def test_a_failing_connection_does_not_stop_the_others_and_exits_1(tmp_path, jobs):
    path = write_config(tmp_path, connections=connections("acme", "beta", "gamma"))
    jobs.failing = {"beta"}
    result = sqsync(path, "--quiet", "run", "--json")
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    outcome = {(line["connection"], line["job"]): line["ok"] for line in lines}
    assert outcome == {
        ("acme", "import-orders"): True,
        ("acme", "push-despatch"): True,
        ("beta", "import-orders"): False,
        ("beta", "push-despatch"): False,
        ("gamma", "import-orders"): True,
        ("gamma", "push-despatch"): True,
    }
    # Only the problems reach stderr under --quiet.
    assert "beta import-orders: FAILED" in result.stderr and "acme" not in result.stderr


def test_failed_job_is_retried_at_the_next_tick_but_ok_jobs_wait(tmp_path, jobs):
    path = write_config(tmp_path, connections=connections("acme", "beta"))
    jobs.failing = {"beta"}
    sqsync(path, "run")
    jobs.failing = set()
    jobs.calls.clear()
    # A minute later nothing is due yet (retry after 5 minutes): shown by backdating runs.
    with Store.open(tmp_path / "sqsync.db") as store:
        five_minutes_ago = utc_text(datetime.now(UTC) - timedelta(minutes=5))
        store.conn.execute("UPDATE run_log SET started_at = ?", (five_minutes_ago,))
    assert sqsync(path, "run").exit_code == 0
    assert jobs.calls == [("beta", "import-orders"), ("beta", "push-despatch")]


def test_inactive_connections_are_not_run(tmp_path, jobs):
    conns = connections("acme") + connections("idle", active=False)
    path = write_config(tmp_path, connections=conns)
    assert sqsync(path, "run").exit_code == 0
    assert {name for name, _ in jobs.calls} == {"acme"}


def test_a_locked_connection_is_skipped_without_error(tmp_path, jobs):
    path = write_config(tmp_path, connections=connections("acme", "beta"))
    with Store.open(tmp_path / "sqsync.db") as elsewhere:  # held open: a live holder
        acquire(elsewhere, "acme", command="sqsync run", host="elsewhere")
        result = sqsync(path, "run", "--json")
        assert result.exit_code == 0, result.output
        assert {name for name, _ in jobs.calls} == {"beta"}
        assert "acme: skipped, locked by sqsync run" in result.stderr
        first = json.loads(result.stdout.splitlines()[0])
        assert first["connection"] == "acme" and first["skipped"] == "locked"
        quiet = sqsync(path, "-q", "run", "--force")
        assert quiet.exit_code == 0 and quiet.stderr == ""


def test_a_job_command_refuses_a_locked_connection_in_one_line(tmp_path, jobs):
    path = write_config(tmp_path, connections=connections("acme"))
    with Store.open(tmp_path / "sqsync.db") as elsewhere:  # held open: a live holder
        acquire(elsewhere, "acme", command="sqsync run", host="elsewhere")
        result = sqsync(path, "import-orders")
    assert result.exit_code == 1
    assert jobs.calls == []
    [line] = result.stderr.splitlines()
    assert "acme" in line and "busy: locked by sqsync run" in line


def test_the_lock_is_released_after_the_run(tmp_path, jobs):
    path = write_config(tmp_path, connections=connections("acme"))
    assert sqsync(path, "run").exit_code == 0
    assert sqsync(path, "import-orders").exit_code == 0
    with Store.open(tmp_path / "sqsync.db") as store:
        assert store.conn.execute("SELECT count(*) FROM connection_locks").fetchone()[0] == 0


def test_connections_run_concurrently_each_with_its_own_store_and_client(tmp_path, jobs):
    path = write_config(tmp_path, connections=connections("acme", "beta", "gamma"))
    jobs.barrier = threading.Barrier(3, timeout=10)  # fails unless all three run at once
    result = sqsync(path, "run", "--workers", "3")
    assert result.exit_code == 0, result.output
    threads = [next(iter(jobs.threads[n])) for n in ("acme", "beta", "gamma")]
    assert len(set(threads)) == 3
    for name in ("acme", "beta", "gamma"):
        # One client and one store connection serve all of a connection's jobs...
        assert len(jobs.clients[name]) == 1 and len(jobs.stores[name]) == 1
    # ... and no two connections share either (pacing is per key; sqlite is per thread).
    assert len({next(iter(jobs.clients[n])) for n in jobs.clients}) == 3


def test_one_worker_runs_connections_one_at_a_time(tmp_path, jobs):
    path = write_config(tmp_path, connections=connections("acme", "beta"))
    result = sqsync(path, "run", "--workers", "1")
    assert result.exit_code == 0
    # one connection's jobs, then the other's (which goes first: see run_due's start)
    first, _, second, _ = names = [name for name, _ in jobs.calls]
    assert names == [first, first, second, second] and {first, second} == {"acme", "beta"}


def test_unknown_connection_is_a_config_error(tmp_path, jobs):
    path = write_config(tmp_path, connections=connections("acme"))
    result = sqsync(path, "run", "-c", "nope")
    assert result.exit_code == 2 and "no connection named 'nope'" in result.output


def test_a_connection_whose_key_is_missing_is_a_config_error_before_anything_runs(
    tmp_path, jobs, monkeypatch
):
    # An unset key variable exits 2 in every command, `run` included (issue 12).
    monkeypatch.delenv("BETA_KEY")
    conns = connections("acme") + connections("beta", api_key_env="BETA_KEY")
    path = write_config(tmp_path, connections=conns)
    result = sqsync(path, "-q", "run")
    assert result.exit_code == 2
    assert jobs.calls == []
    assert result.stderr.count("\n") == 1 and "BETA_KEY" in result.stderr


def test_a_database_error_in_one_connection_is_reported_with_the_others(
    tmp_path, jobs, monkeypatch
):
    real = runner.run_connection

    def broken(connection, *args, **kwargs):
        if connection.name == "bad":
            raise sqlite3.OperationalError("disk I/O error")
        return real(connection, *args, **kwargs)

    monkeypatch.setattr(runner, "run_connection", broken)
    path = write_config(tmp_path, connections=connections("bad", "good"))
    result = sqsync(path, "run")
    assert result.exit_code == 1
    assert ("good", "import-orders") in jobs.calls
    assert "bad run: FAILED: internal error" in result.output


def test_four_connections_run_at_once_by_default(tmp_path, jobs):
    path = write_config(tmp_path, connections=connections("a1", "a2", "a3", "a4"))
    jobs.barrier = threading.Barrier(4, timeout=10)  # breaks unless all four run at once
    result = sqsync(path, "run")
    assert result.exit_code == 0, result.output
    assert len({next(iter(jobs.threads[n])) for n in ("a1", "a2", "a3", "a4")}) == 4


def test_the_cli_default_workers_is_the_runners():
    from sqsync.cli import cli
    from sqsync.jobs.runner import DEFAULT_WORKERS

    [option] = [p for p in cli.commands["run"].params if p.name == "workers"]
    assert option.default == DEFAULT_WORKERS
