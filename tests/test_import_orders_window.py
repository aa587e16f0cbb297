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
from sqsync.errors import UsageError
from sqsync.jobs.import_orders import WINDOW_END_KEY, Window, parse_since, plan_window
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
    now = datetime.now(UTC) + timedelta(seconds=1)
    result, params = run(connection, store, emulator, lambda: now)
    assert result.ok, result.error
    assert params[0] == {"fulfillmentStatus": "PENDING", "paymentStates": ALL_STATES}
    assert list(params[1]) == ["cursor"]
    assert len(params) == 2
    # Without import_from, the window end of a first import is the run's start.
    assert get_state(store, connection.name, WINDOW_END_KEY) == stamp(now)


def test_first_import_with_import_from_is_windowed_and_pending_only(setup, emulator):
    connection, store = setup(import_from="2026-01-01T00:00:00Z")
    now = datetime.now(UTC)
    _, params = run(connection, store, emulator, lambda: now)
    assert params[0]["fulfillmentStatus"] == "PENDING"
    assert params[0]["modifiedAfter"] == "2026-01-01T00:00:00.000Z"
    assert params[0]["modifiedBefore"] == stamp(now)
    assert params[0]["paymentStates"] == ALL_STATES


def test_later_imports_overlap_ten_minutes_and_drop_the_status_filter(setup, emulator):
    connection, store = setup()
    first = datetime.now(UTC).replace(microsecond=0)
    run(connection, store, emulator, lambda: first)
    second = first + timedelta(minutes=15)
    _, params = run(connection, store, emulator, lambda: second)
    assert params == [
        {
            "modifiedAfter": stamp(first - timedelta(minutes=10)),
            "modifiedBefore": stamp(second),
            "paymentStates": ALL_STATES,
        }
    ]
    assert get_state(store, connection.name, WINDOW_END_KEY) == stamp(second)


def test_since_back_fills_without_status_filter_and_keeps_the_later_window_end(setup, emulator):
    connection, store = setup()
    first = datetime.now(UTC).replace(microsecond=0)
    run(connection, store, emulator, lambda: first)
    since = datetime(2026, 1, 5, tzinfo=UTC)
    _, params = run(connection, store, emulator, lambda: first + timedelta(minutes=1), since=since)
    assert params[0]["modifiedAfter"] == "2026-01-05T00:00:00.000Z"
    assert "fulfillmentStatus" not in params[0]


def test_a_failed_page_keeps_the_window_so_the_next_run_reads_it_again(setup, emulator):
    connection, store = setup()
    add_orders(emulator, 75)
    emulator.faults.add(method="GET", path="/1.0/commerce/orders", kind="503", count=1)
    # Page 1 gets the fault: nothing imported, no window end.
    result, _ = run(connection, store, emulator, lambda: datetime.now(UTC))
    assert not result.ok
    assert get_state(store, connection.name, WINDOW_END_KEY) is None
    # Page 2 fails: page 1 stays committed, the window end is still not saved.
    calls = {"n": 0}

    def fail_second(method, path):
        calls["n"] += 1
        if calls["n"] == 2:
            emulator.faults.add(method="GET", path="/1.0/commerce/orders", kind="500", count=1)

    emulator.before_request = fail_second
    result, params = run(connection, store, emulator, lambda: datetime.now(UTC))
    assert not result.ok
    assert result.counts["imported"] == 50
    assert get_state(store, connection.name, WINDOW_END_KEY) is None
    # A first import again (PENDING filter), which finds page 1 already stored.
    emulator.before_request = None
    result, params = run(connection, store, emulator, lambda: datetime.now(UTC))
    assert params[0]["fulfillmentStatus"] == "PENDING"
    assert (result.counts["imported"], result.counts["unchanged"]) == (25, 50)
    assert store.conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 75


@pytest.mark.parametrize(
    ("saved", "import_from", "since", "expected"),
    [
        (None, None, None, Window(end=NOW, fulfillment_status="PENDING")),
        (
            None,
            NOW - timedelta(days=3),
            None,
            Window(NOW, "PENDING", NOW - timedelta(days=3), NOW),
        ),
        (None, NOW + timedelta(days=1), None, None),
        (NOW - timedelta(hours=1), None, None, Window(NOW, None, NOW - timedelta(minutes=70), NOW)),
        # A saved end in the future (the clock went back) still gives a 10-minute window.
        (NOW + timedelta(hours=1), None, None, Window(NOW, None, NOW - timedelta(minutes=10), NOW)),
        (
            NOW - timedelta(hours=1),
            None,
            NOW - timedelta(days=7),
            Window(NOW, None, NOW - timedelta(days=7), NOW),
        ),
        # A --since later than the saved end still reads from the saved end (minus overlap).
        (
            NOW - timedelta(hours=3),
            None,
            NOW - timedelta(hours=1),
            Window(NOW, None, NOW - timedelta(hours=3, minutes=10), NOW),
        ),
    ],
    ids=[
        "first",
        "first-from",
        "from-in-future",
        "later",
        "clock-went-back",
        "since",
        "since-after-saved-end",
    ],
)
def test_plan_window(saved, import_from, since, expected):
    assert plan_window(saved, now=NOW, import_from=import_from, since=since) == expected


def test_since_in_the_future_is_a_usage_error():
    with pytest.raises(UsageError, match="not in the past"):
        plan_window(None, now=NOW, since=NOW + timedelta(seconds=1))


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
