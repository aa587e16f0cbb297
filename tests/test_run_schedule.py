"""Due times of `sqsync run` (issue 6 rule 1), with an injected clock."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqsync.jobs.schedule import RETRY_AFTER, LastRun, due_jobs, jobs_for, next_due, next_job

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


@dataclass
class Conn:
    frequency: int = 15
    stock_sync: bool = True
    stock_sync_frequency: int = 60


def ran(minutes_ago: float, outcome: str = "ok") -> LastRun:
    return LastRun(NOW - timedelta(minutes=minutes_ago), outcome)


def test_never_run_jobs_are_all_due_in_run_order():
    assert due_jobs(Conn(), {}, NOW) == ["import-orders", "push-despatch", "sync-stock"]


def test_sync_stock_is_not_a_job_without_stock_sync():
    assert jobs_for(Conn(stock_sync=False)) == ["import-orders", "push-despatch"]
    assert due_jobs(Conn(stock_sync=False), {}, NOW) == ["import-orders", "push-despatch"]


def test_each_job_waits_its_own_interval():
    last = {"import-orders": ran(16), "push-despatch": ran(5), "sync-stock": ran(30)}
    assert due_jobs(Conn(), last, NOW) == ["import-orders"]
    last = {"import-orders": ran(5), "push-despatch": ran(5), "sync-stock": ran(61)}
    assert due_jobs(Conn(), last, NOW) == ["sync-stock"]


def test_nothing_due_within_the_interval():
    last = {job: ran(10) for job in jobs_for(Conn())}
    assert due_jobs(Conn(), last, NOW) == []


def test_force_runs_everything_whatever_the_due_times():
    last = {job: ran(1) for job in jobs_for(Conn())}
    assert due_jobs(Conn(), last, NOW, force=True) == jobs_for(Conn())


def test_cron_tick_a_few_seconds_early_still_runs_the_job():
    # Started 10:00:02, next tick 10:15:00: 14 min 58 s later must count as 15 minutes.
    last = {"import-orders": LastRun(NOW - timedelta(minutes=15) + timedelta(seconds=2), "ok")}
    assert "import-orders" in due_jobs(Conn(), last, NOW)


def test_a_failed_run_is_retried_soon_not_a_whole_interval_later():
    conn = Conn(stock_sync_frequency=240)
    assert due_jobs(conn, {"sync-stock": ran(RETRY_AFTER.total_seconds() / 60)}, NOW) == [
        "import-orders",
        "push-despatch",
    ]
    failed = {"sync-stock": ran(RETRY_AFTER.total_seconds() / 60, "failed")}
    assert "sync-stock" in due_jobs(conn, failed, NOW)
    assert "sync-stock" not in due_jobs(conn, {"sync-stock": ran(2, "failed")}, NOW)


def test_a_run_killed_half_way_is_due_at_once_and_counts_as_failed():
    # Issue 12: not after the 5-minute failed-retry wait. Left "running" by its dead
    # process, or marked "killed" by the next one to hold the lock.
    for outcome in ("running", "killed"):
        assert "import-orders" in due_jobs(Conn(), {"import-orders": ran(0, outcome)}, NOW)
        assert ran(0, outcome).failed  # sync-stock's "the latest import failed"


def test_next_job_is_the_earliest_due_in_run_order():
    last = {"import-orders": ran(5), "push-despatch": ran(5), "sync-stock": ran(55)}
    assert next_job(Conn(), last) == ("sync-stock", NOW + timedelta(minutes=4, seconds=30))
    assert next_job(Conn(), {job: ran(1) for job in jobs_for(Conn())})[0] == "import-orders"


def test_short_interval_failure_waits_no_longer_than_the_interval():
    conn = Conn(frequency=2)
    assert next_due(conn, "import-orders", ran(0, "failed")) == NOW + timedelta(seconds=90)


def test_next_due_is_none_for_a_job_that_never_ran():
    assert next_due(Conn(), "import-orders", None) is None
    assert next_due(Conn(), "import-orders", ran(0)) == NOW + timedelta(minutes=14, seconds=30)


def test_a_run_started_late_in_its_minute_is_not_due_a_tick_early():
    # Every-minute cron, a 2-minute job: started at 10:00:00.6, the 10:01:00.7 tick must
    # not run it again (start-up jitter is under a second, the grace half a minute).
    conn = Conn(frequency=2)
    last = {"import-orders": ran(0)}
    late_tick = NOW + timedelta(minutes=1, seconds=0.1)
    assert "import-orders" not in due_jobs(conn, last, late_tick)
    assert "import-orders" in due_jobs(
        conn, last, NOW + timedelta(minutes=2) - timedelta(seconds=1)
    )
