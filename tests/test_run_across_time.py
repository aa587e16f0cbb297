"""`sqsync run` and `status` across time (issue 12): killed runs, nothing due under -v, a
clock that was fast, and a connection whose schedule cannot be worked out.

The jobs are the recording fakes of test_run_command.py; the clock is injected by
replacing the runner's ``utcnow``, so nothing sleeps.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest

from factories import write_config
from sqsync.domain.runs import LastRun
from sqsync.jobs import runner
from sqsync.store import Store
from sqsync.store.locks import acquire
from sqsync.store.runlog import last_attempts, mark_killed, start_run
from test_run_command import connections, jobs, sqsync  # noqa: F401 (jobs is a fixture)

T = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock(T)
    monkeypatch.setattr(runner, "utcnow", fake)
    return fake


def outcomes(tmp_path):
    with Store.open(tmp_path / "sqsync.db") as store:
        rows = store.conn.execute("SELECT job, outcome FROM run_log ORDER BY id").fetchall()
    return [tuple(row) for row in rows]


def test_a_killed_run_is_reported_killed_and_retried_at_the_next_tick(tmp_path, jobs):  # noqa: F811
    path = write_config(tmp_path, connections=connections("acme"))
    assert sqsync(path, "run").exit_code == 0
    # Killed half-way a minute ago: its row is still "running" and nobody holds the lock.
    with Store.open(tmp_path / "sqsync.db") as store:
        start_run(store, "acme", "import-orders", datetime.now(UTC) - timedelta(minutes=1))

    report = json.loads(sqsync(path, "status", "--json").stdout)
    imported = report[0]["jobs"]["import-orders"]
    assert imported["last_run"]["outcome"] == "killed" and imported["next_due"] == "now"
    human = sqsync(path, "status").output
    assert "killed" in human and "running" not in human

    jobs.calls.clear()
    result = sqsync(path, "run")
    assert result.exit_code == 0, result.output
    assert jobs.calls == [("acme", "import-orders")]  # at once, not 5 minutes on
    assert outcomes(tmp_path)[2:] == [("import-orders", "killed"), ("import-orders", "ok")]


def test_a_run_still_going_is_not_reported_killed(tmp_path, jobs):  # noqa: F811
    path = write_config(tmp_path, connections=connections("acme"))
    with Store.open(tmp_path / "sqsync.db") as store:  # held open: the live holder
        acquire(store, "acme", command="sqsync run", host="elsewhere")
        start_run(store, "acme", "import-orders")
        report = json.loads(sqsync(path, "status", "--json").stdout)
    assert report[0]["jobs"]["import-orders"]["last_run"]["outcome"] == "running"


def test_a_killed_import_still_counts_as_failed_for_sync_stock(tmp_path):
    with Store.open(tmp_path / "sqsync.db") as store:
        start_run(store, "acme", "import-orders", T)
        assert mark_killed(store, "acme") == ["import-orders"]
        assert last_attempts(store, "acme") == {"import-orders": LastRun(T, "killed")}
        assert last_attempts(store, "acme")["import-orders"].failed


def test_verbose_run_with_nothing_due_says_what_is_next(tmp_path, jobs, clock):  # noqa: F811
    path = write_config(tmp_path, connections=connections("acme", "beta", frequency=15))
    assert sqsync(path, "run").exit_code == 0
    clock.now = T + timedelta(minutes=1)
    assert sqsync(path, "run").output == ""  # cron mails nothing
    result = sqsync(path, "-v", "run")
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "acme: nothing due; next import-orders at 2026-03-10 12:14 UTC",
        "beta: nothing due; next import-orders at 2026-03-10 12:14 UTC",
    ]


def test_runs_stamped_by_a_fast_clock_are_reset_with_one_warning(tmp_path, jobs, clock):  # noqa: F811
    path = write_config(tmp_path, connections=connections("acme"))
    clock.now = T + timedelta(days=2)
    assert sqsync(path, "run").exit_code == 0
    clock.now = T  # corrected
    jobs.calls.clear()
    result = sqsync(path, "--quiet", "run")
    assert result.exit_code == 0, result.output
    assert jobs.calls == [("acme", "import-orders"), ("acme", "push-despatch")]
    [warning] = result.stderr.splitlines()
    assert "acme" in warning and "import-orders, push-despatch" in warning
    assert "2026-03-12 12:00 UTC" in warning

    clock.now = T + timedelta(minutes=1)
    jobs.calls.clear()
    third = sqsync(path, "run")
    assert third.exit_code == 0 and third.output == "" and jobs.calls == []
    with Store.open(tmp_path / "sqsync.db") as store:
        latest = store.conn.execute("SELECT max(started_at), max(finished_at) FROM run_log")
        assert tuple(latest.fetchone()) == ("2026-03-10T12:00:00.000Z",) * 2


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_a_connection_whose_schedule_breaks_fails_alone_without_a_traceback(
    tmp_path,
    jobs,  # noqa: F811
    force,
):
    path = write_config(tmp_path, connections=connections("bad", "good"))
    with Store.open(tmp_path / "sqsync.db") as store:
        store.conn.execute(
            "INSERT INTO run_log (connection, job, started_at, outcome)"
            " VALUES ('bad', 'import-orders', 'not a time', 'ok')"
        )
    result = sqsync(path, "run", *force)
    assert result.exit_code == 1
    assert {name for name, _ in jobs.calls} == {"good"}
    assert "bad run: FAILED: " in result.stderr and "not a time" in result.stderr
    assert "Traceback" not in result.output
