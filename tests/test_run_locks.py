"""The per-connection lock (issue 6 rule 2): one holder, bounded expiry, dead pids."""

import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import pytest

from sqsync.store import Store
from sqsync.store.locks import LEASE, ConnectionLocked, LockLost, acquire, holder

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "sqsync.db") as store:
        yield store


@pytest.fixture
def other(tmp_path, store):
    """The same store as another process sees it: its own connection (on PostgreSQL, its
    own session, so the database's lock tells the two apart)."""
    with Store.open(tmp_path / "sqsync.db") as other:
        yield other


def take(store, clock, *, pid=1001, host="box", alive=lambda pid: True, command="sqsync run"):
    return acquire(store, "acme", command=command, clock=clock, host=host, pid=pid, alive=alive)


def test_a_second_taker_is_refused_naming_the_holder(store, other):
    clock = Clock()
    take(store, clock, pid=1001)
    with pytest.raises(ConnectionLocked) as refused:
        take(other, clock, pid=1002)
    message = str(refused.value)
    assert "acme" in message and "sqsync run" in message and "pid 1001" in message
    assert "\n" not in message


def test_other_connections_are_not_locked(store):
    clock = Clock()
    take(store, clock)
    acquire(store, "other", command="sqsync run", clock=clock, host="box", pid=1002)


def test_released_lock_can_be_taken_again(store):
    clock = Clock()
    take(store, clock, pid=1001).release()
    assert holder(store, "acme") is None
    take(store, clock, pid=1002)


@pytest.mark.sqlite_only  # on PostgreSQL no lease ends: test_store_postgres.py
def test_stale_lock_expires_after_the_lease(store):
    clock = Clock()
    take(store, clock, pid=1001, host="other-host")  # a process elsewhere, never released
    clock.now = T0 + LEASE - timedelta(seconds=1)
    with pytest.raises(ConnectionLocked):
        take(store, clock, pid=1002)
    clock.now = T0 + LEASE
    lease = take(store, clock, pid=1002)
    assert holder(store, "acme").owner == lease.owner


@pytest.mark.sqlite_only  # on PostgreSQL no lease ends: test_store_postgres.py
def test_renewing_keeps_a_working_holder_safe(store):
    clock = Clock()
    lease = take(store, clock, pid=1001, host="other-host")
    clock.now = T0 + LEASE - timedelta(minutes=1)
    lease.renew()
    clock.now = T0 + LEASE + timedelta(minutes=5)
    with pytest.raises(ConnectionLocked):
        take(store, clock, pid=1002)


def test_a_dead_process_on_this_host_is_taken_over_at_once(store):
    clock = Clock()
    take(store, clock, pid=1001, host="box")
    lease = take(store, clock, pid=1002, host="box", alive=lambda pid: pid != 1001)
    assert holder(store, "acme").pid == 1002
    assert lease.owner.startswith("box:1002:")


def test_a_process_on_another_host_is_never_judged_by_our_pids(store, other):
    clock = Clock()
    take(store, clock, pid=1001, host="elsewhere")
    with pytest.raises(ConnectionLocked):
        take(other, clock, pid=1002, host="box", alive=lambda pid: False)


def test_a_holder_whose_lease_was_taken_over_learns_it_when_renewing(store):
    clock = Clock()
    first = take(store, clock, pid=1001, host="elsewhere")
    clock.now = T0 + LEASE
    take(store, clock, pid=1002)
    with pytest.raises(LockLost):
        first.renew()
    first.release()  # releasing a lost lease leaves the new holder's row alone
    assert holder(store, "acme").pid == 1002


def test_lock_survives_in_the_file_for_other_processes(tmp_path):
    clock = Clock()
    with Store.open(tmp_path / "s.db") as one, Store.open(tmp_path / "s.db") as two:
        take(one, clock, pid=1001)
        with pytest.raises(ConnectionLocked):
            take(two, clock, pid=1002)


def test_heartbeat_thread_starts_and_stops_with_the_lease(store):
    lease = take(store, Clock())
    lease.start_heartbeat(timedelta(hours=1))
    lease.release()
    assert holder(store, "acme") is None


def test_heartbeat_renews_the_lease_while_a_long_job_works(store, other):
    renewed = threading.Event()
    later = T0 + timedelta(minutes=40)

    def clock():
        if threading.current_thread().name.startswith("sqsync-lease-"):
            renewed.set()
            return later
        return T0

    lease = take(store, clock, host="elsewhere")
    lease.start_heartbeat(timedelta(milliseconds=1))
    assert renewed.wait(timeout=30)
    lease._stop.set()  # stop beating before reading, so the value is settled
    lease._thread.join()
    assert holder(store, "acme").expires_at >= later + LEASE
    # Without the heartbeat the lease would have ended at T0 + LEASE and been taken over.
    with pytest.raises(ConnectionLocked):
        take(other, lambda: later + LEASE - timedelta(seconds=1), pid=1002)


def test_check_refuses_once_the_lease_was_taken_over(store):
    clock = Clock()
    first = take(store, clock, pid=1001, host="elsewhere")
    first.check()  # held: nothing to say
    clock.now = T0 + LEASE
    take(store, clock, pid=1002)
    with pytest.raises(LockLost):
        first.renew()
    with pytest.raises(LockLost):
        first.check()  # and every write the job attempts afterwards


def test_check_refuses_when_no_renewal_succeeded_for_a_whole_lease(store):
    # Suspended, or the heartbeat could not reach the database: the lease may have ended
    # and been taken, so the job must stop writing even before it learns who took it.
    clock = Clock()
    lease = take(store, clock)
    clock.now = T0 + LEASE - timedelta(seconds=1)
    lease.check()
    clock.now = T0 + LEASE
    with pytest.raises(LockLost):
        lease.check()


def test_a_failed_renewal_does_not_stop_the_heartbeat(store, monkeypatch):
    from sqsync.store import locks

    real_renew = locks._renew
    calls = {"n": 0}
    renewed = threading.Event()

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise sqlite3.OperationalError("database is locked")
        ok = real_renew(*args, **kwargs)
        renewed.set()
        return ok

    monkeypatch.setattr(locks, "_renew", flaky)
    lease = take(store, Clock())
    lease.start_heartbeat(timedelta(milliseconds=1))
    assert renewed.wait(timeout=30)
    lease.release()
    assert calls["n"] >= 2
