"""import-orders windows: what each run asks Squarespace for, and when the window end is saved.

Requests are recorded on their way to the emulator over real loopback HTTP, so the
assertions are on the exact query strings Squarespace would receive.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from factories import write_config
from sqsync.config import PAYMENT_STATES, load_config
from sqsync.emulator import EmulatorState
from sqsync.errors import UsageError
from sqsync.jobs.import_orders import (
    FIRST_START_KEY,
    WINDOW_END_KEY,
    Window,
    parse_since,
    plan_window,
)
from sqsync.jobs.runner import run_job
from sqsync.squarespace import Client
from sqsync.store import Store
from sqsync.store.sync_state import get_state

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
ALL_STATES = ",".join(sorted(PAYMENT_STATES))


class Recording(httpx.HTTPTransport):
    """A real HTTP transport that remembers each request's query parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.params: list[dict[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.params.append(dict(request.url.params))
        return super().handle_request(request)


class ShopClock:
    """Squarespace's time in the emulator (its Date header), set by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def shop_clock():
    return ShopClock(NOW)


@pytest.fixture
def emulator(make_emulator, shop_clock):
    return make_emulator(EmulatorState(now=shop_clock))


@pytest.fixture
def setup(tmp_path, emulator):
    def make(**overrides):
        path = write_config(tmp_path, api_url=emulator.url, api_key=emulator.api_key, **overrides)
        connection = load_config(path).connections[0]
        store = Store.open(load_config(path).store_path)
        return connection, store

    return make


def run(connection, store, emulator, clock, **options):
    transport = Recording()
    client = Client(
        emulator.api_key,
        base_url=emulator.url,
        transport=transport,
        max_attempts=1,
        sleep=lambda seconds: None,
    )
    with client:
        result = run_job("import-orders", connection, store, client=client, clock=clock, **options)
    return result, transport.params


def stamp(moment: datetime) -> str:
    """The API's (and the store's) form: milliseconds and Z."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def add_orders(emulator, count):
    return [emulator.add_order(emulator.make_order(sku="RED-S")) for _ in range(count)]


def test_first_import_asks_pending_orders_in_every_payment_state_then_only_the_cursor(
    setup, emulator
):
    connection, store = setup()
    add_orders(emulator, 60)
    result, params = run(connection, store, emulator, lambda: NOW)
    assert result.ok, result.error
    assert params[0] == {"fulfillmentStatus": "PENDING", "paymentStates": ALL_STATES}
    assert list(params[1]) == ["cursor"]
    # What changed while the sweep ran is read by the next run, from the sweep's start.
    assert len(params) == 2
    assert get_state(store, connection.name, FIRST_START_KEY) == stamp(NOW)
    assert get_state(store, connection.name, WINDOW_END_KEY) == stamp(NOW)


def test_first_import_with_import_from_reads_modified_windows_from_it(setup, emulator):
    connection, store = setup(import_from="2026-03-09T00:00:00Z")
    _, params = run(connection, store, emulator, lambda: NOW)
    assert params == [
        {
            "modifiedAfter": "2026-03-09T00:00:00.000Z",
            "modifiedBefore": "2026-03-10T00:00:00.000Z",
            "paymentStates": ALL_STATES,
        },
        {
            "modifiedAfter": "2026-03-09T23:50:00.000Z",
            "modifiedBefore": stamp(NOW),
            "paymentStates": ALL_STATES,
        },
    ]


def test_later_imports_overlap_ten_minutes_and_drop_the_status_filter(setup, emulator, shop_clock):
    connection, store = setup()
    run(connection, store, emulator, lambda: NOW)
    second = NOW + timedelta(minutes=15)
    shop_clock.now = second
    _, params = run(connection, store, emulator, lambda: second)
    assert params == [
        {
            "modifiedAfter": stamp(NOW - timedelta(minutes=10)),
            "modifiedBefore": stamp(second),
            "paymentStates": ALL_STATES,
        }
    ]
    assert get_state(store, connection.name, WINDOW_END_KEY) == stamp(second)


def test_an_answer_slower_than_a_second_is_not_a_reason_to_read_again(setup, emulator, shop_clock):
    # Both clocks move on while the request is out (a loaded host, a slow Squarespace):
    # the window read up to when it was asked for, and what changed since is the next
    # run's, read from this end with the overlap. Chasing the answer's own delay made a
    # second request on a busy host, every tick.
    connection, store = setup()
    run(connection, store, emulator, lambda: NOW)
    asked = NOW + timedelta(minutes=15)
    clock = ShopClock(asked)
    shop_clock.now = asked + timedelta(seconds=1)  # the Date of the answer: a second on

    class Slow(Recording):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = super().handle_request(request)
            clock.now += timedelta(seconds=3)  # here, three seconds went by meanwhile
            return response

    transport = Slow()
    client = Client(emulator.api_key, base_url=emulator.url, transport=transport, max_attempts=1)
    with client:
        result = run_job("import-orders", connection, store, client=client, clock=clock)
    assert result.ok, result.error
    assert transport.params == [
        {
            "modifiedAfter": stamp(NOW - timedelta(minutes=10)),
            "modifiedBefore": stamp(asked),
            "paymentStates": ALL_STATES,
        }
    ]
    assert get_state(store, connection.name, WINDOW_END_KEY) == stamp(asked)


def test_since_back_fills_without_status_filter_and_keeps_the_later_window_end(
    setup, emulator, shop_clock
):
    connection, store = setup()
    run(connection, store, emulator, lambda: NOW)
    since = NOW - timedelta(hours=5)
    later = NOW + timedelta(minutes=1)
    shop_clock.now = later
    _, params = run(connection, store, emulator, lambda: later, since=since)
    assert params[0]["modifiedAfter"] == stamp(since)
    assert "fulfillmentStatus" not in params[0]
    assert get_state(store, connection.name, WINDOW_END_KEY) == stamp(later)


def test_a_failed_page_keeps_the_window_so_the_next_run_reads_it_again(setup, emulator):
    connection, store = setup()
    add_orders(emulator, 75)
    emulator.faults.add(method="GET", path="/1.0/commerce/orders", kind="503", count=1)
    # Page 1 gets the fault: nothing imported, no window end.
    result, _ = run(connection, store, emulator, lambda: NOW)
    assert not result.ok
    assert get_state(store, connection.name, WINDOW_END_KEY) is None
    # Page 2 fails: page 1 stays committed, the window end is still not saved.
    calls = {"n": 0}

    def fail_second(method, path):
        calls["n"] += 1
        if calls["n"] == 2:
            emulator.faults.add(method="GET", path="/1.0/commerce/orders", kind="500", count=1)

    emulator.before_request = fail_second
    result, params = run(connection, store, emulator, lambda: NOW)
    assert not result.ok
    assert result.counts["imported"] == 50
    assert get_state(store, connection.name, WINDOW_END_KEY) is None
    # The sweep again (which finds page 1 already stored), then the changes since.
    emulator.before_request = None
    result, params = run(connection, store, emulator, lambda: NOW)
    assert params[0]["fulfillmentStatus"] == "PENDING"
    assert "fulfillmentStatus" not in params[-1]
    assert result.counts["imported"] == 25
    assert store.conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 75


@pytest.mark.parametrize(
    ("after", "import_from", "expected"),
    [
        (None, None, Window(sweep=True)),
        (None, NOW - timedelta(hours=3), Window(NOW - timedelta(hours=3), NOW)),
        (None, NOW + timedelta(days=1), None),
        (NOW - timedelta(hours=1), None, Window(NOW - timedelta(hours=1), NOW)),
        # A long outage: a day at a time.
        (NOW - timedelta(days=3), None, Window(NOW - timedelta(days=3), NOW - timedelta(days=2))),
        # Never an empty or inverted window, whatever the clocks say.
        (
            NOW + timedelta(hours=1),
            None,
            Window(NOW + timedelta(hours=1), NOW + timedelta(hours=1, seconds=1)),
        ),
    ],
    ids=["first", "first-from", "from-in-future", "later", "capped", "never-inverted"],
)
def test_plan_window(after, import_from, expected):
    assert plan_window(after, now=NOW, import_from=import_from) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T09:30:00Z", datetime(2026, 3, 1, 9, 30, tzinfo=UTC)),
        ("2026-03-01T10:30:00+01:00", datetime(2026, 3, 1, 9, 30, tzinfo=UTC)),
        ("2026-03-01T09:30", datetime(2026, 3, 1, 9, 30, tzinfo=UTC)),
        ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
    ],
)
def test_parse_since(text, expected):
    assert parse_since(text) == expected


def test_parse_since_refuses_the_future_before_any_job_runs():
    with pytest.raises(UsageError, match="not in the past"):
        parse_since("2026-03-02", now=datetime(2026, 3, 1, tzinfo=UTC))


def test_parse_since_names_a_bad_value():
    with pytest.raises(UsageError, match="'yesterday' is not an ISO date"):
        parse_since("yesterday")
