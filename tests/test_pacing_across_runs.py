"""Pacing is per key across processes (issue 15): a run started right after another one
counts that one's requests of the last minute, instead of meeting the 429 they earned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from factories import record_import, write_config
from sqsync.config import load_config
from sqsync.jobs.runner import run_job
from sqsync.squarespace import Client
from sqsync.squarespace._pacing import Pacer
from sqsync.store import Store
from sqsync.store.pacing import recent_ages, save_recent

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


class FakeTime:
    """A monotonic clock that only sleeping moves; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def test_preloaded_requests_fill_the_window_until_they_age_out():
    fake = FakeTime()
    pacer = Pacer(3, sleep=fake.sleep, monotonic=fake.monotonic)
    pacer.preload([30.0, 20.0, 10.0, 75.0])  # 75 s ago no longer counts

    pacer.wait()

    assert fake.sleeps == [pytest.approx(30.0)]  # the one 30 s old leaves the window
    assert pacer.recent_ages() == pytest.approx([50.0, 40.0, 0.0])  # 30 s later


def test_the_ages_a_pacer_gives_are_what_another_one_counts():
    fake = FakeTime()
    first = Pacer(2, sleep=fake.sleep, monotonic=fake.monotonic)
    first.wait()
    first.completed()
    fake.now += 5
    first.wait()
    first.completed()
    ages = first.recent_ages()
    assert ages == pytest.approx([5.0, 0.0])

    second = Pacer(2, sleep=fake.sleep, monotonic=fake.monotonic)
    second.preload(ages)
    second.wait()
    assert fake.sleeps == [pytest.approx(55.0)]


def test_saved_times_in_the_future_count_as_now_and_old_ones_not_at_all(tmp_path):
    with Store.open(tmp_path / "p.db") as store:
        save_recent(store, "acme", [0.0, 30.0, 90.0], NOW)
        assert sorted(recent_ages(store, "acme", NOW)) == [0.0, 30.0]
        # the clock went back 10 minutes: the saved times are in the future
        assert recent_ages(store, "acme", NOW - timedelta(minutes=10)) == [0.0, 0.0, 0.0]
        assert recent_ages(store, "other", NOW) == []


def test_a_run_right_after_another_waits_for_the_first_ones_requests(
    emulator, tmp_path, monkeypatch
):
    monkeypatch.setenv("ACME_KEY", emulator.api_key)
    connection = load_config(write_config(tmp_path, api_url=emulator.url)).connections[0]
    times: list[FakeTime] = []

    def factory(conn):
        times.append(FakeTime())
        return Client(
            conn.api_key(),
            base_url=conn.api_url,
            rate_limit_per_minute=1,
            sleep=times[-1].sleep,
            monotonic=times[-1].monotonic,
        )

    with Store.open(load_config(tmp_path / "sqsync.toml").store_path) as store:
        record_import(store)
        first = run_job(
            "import-orders", connection, store, client_factory=factory, clock=lambda: NOW
        )
        assert first.ok and first.requests == 1 and times[0].sleeps == []

        second = run_job(
            "import-orders", connection, store, client_factory=factory, clock=lambda: NOW
        )

    assert second.ok
    # Its first request waited for the first run's to leave the minute: no 429 earned.
    assert times[1].sleeps and times[1].sleeps[0] == pytest.approx(60.0)
