"""Recording a despatch for an order the warehouse was told not to ship (issue 14).

A HOLDING order (refunded, fulfilled elsewhere, an unknown SKU) or a CANCELLED one is
refused with the reason unless --force. Forced, a HOLDING order is despatched as usual; a
parcel for a CANCELLED order (the goods left before the cancellation arrived) takes its
units off on hand and is never pushed. A feed with refused rows is refused whole, one
line per refused row (exit 1, like every refused feed), unless --skip-refused. Tracking
numbers are compared without case or spaces.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from factories import FactoryRunner, insert_order, write_config
from sqsync.cli import cli
from sqsync.config import load_config
from sqsync.squarespace import Client
from sqsync.store import Store
from sqsync.store.movements import history
from sqsync.store.orders import find_orders
from sqsync.store.stock import set_on_hand, stock_rows

HEADER = "order_number,carrier,service,tracking_number\n"
PARCEL = ("--carrier", "DPD", "--service", "Next Day")


@pytest.fixture
def config_path(tmp_path):
    return write_config(tmp_path)


@pytest.fixture
def store(config_path):
    with Store.open(load_config(config_path).store_path) as opened:
        yield opened


@pytest.fixture
def run(config_path):
    def invoke(*args: str, input: str | None = None):
        return CliRunner().invoke(cli, ["--config", str(config_path), *args], input=input)

    return invoke


def order(store, number):
    [found] = find_orders(store, number)
    return found


def on_hand(store, sku="RED-S"):
    return {r["sku"]: r["on_hand"] for r in stock_rows(store)}[sku]


@pytest.mark.parametrize(
    "problem", ["payment_state:REFUNDED", "fulfilled_in_squarespace", "unknown_sku:RED-S"]
)
def test_a_holding_order_is_refused_with_its_reason(run, store, problem):
    insert_order(store, order_number="SQ-1", status="HOLDING", problems=[problem])
    set_on_hand(store, "ACME", "MAIN", "RED-S", 5)

    result = run("despatch", "add", "SQ-1", *PARCEL, "--tracking-number", "T1")

    assert result.exit_code == 1
    assert result.stderr == (
        f"sqsync: error: despatch SQ-1: order SQ-1 is HOLDING ({problem}); not recorded "
        "(--force records it anyway)\n"
    )
    assert order(store, "SQ-1")["status"] == "HOLDING"
    assert order(store, "SQ-1")["shipments"] == [] and on_hand(store) == 5


def test_a_cancelled_order_is_refused(run, store):
    insert_order(store, order_number="SQ-1", status="CANCELLED")
    result = run("despatch", "add", "SQ-1", *PARCEL)
    assert result.exit_code == 1
    assert "order SQ-1 is CANCELLED; not recorded (--force records it anyway)" in result.stderr
    assert order(store, "SQ-1")["shipments"] == []


def test_forced_a_holding_order_is_despatched_and_pushed_as_usual(run, store):
    insert_order(store, order_number="SQ-1", status="HOLDING", problems=["unknown_sku:RED-S"],
                 items=[("RED-S", 2)])  # fmt: skip
    set_on_hand(store, "ACME", "MAIN", "RED-S", 5)

    result = run("despatch", "add", "SQ-1", *PARCEL, "--tracking-number", "T1", "--force")

    assert result.exit_code == 0, result.output
    despatched = order(store, "SQ-1")
    assert despatched["status"] == "DESPATCHED"
    assert [s["push_state"] for s in despatched["shipments"]] == ["pending"]
    assert on_hand(store) == 3


def test_a_forced_parcel_for_a_cancelled_order_takes_stock_and_is_never_pushed(
    tmp_path, emulator, monkeypatch
):
    monkeypatch.setenv("ACME_KEY", emulator.api_key)
    config = write_config(tmp_path, api_url=emulator.url)
    sq_id = emulator.add_order(emulator.make_order())
    with Store.open(load_config(config).store_path) as store:
        insert_order(store, order_number="SQ-1", squarespace_id=sq_id, status="CANCELLED",
                     items=[("RED-S", 2)])  # fmt: skip
        set_on_hand(store, "ACME", "MAIN", "RED-S", 5)

    def sqsync(*args: str):
        factory = FactoryRunner(
            lambda c, **o: Client(c.api_key(), base_url=c.api_url, sleep=lambda s: None, **o)
        )
        return factory.invoke(cli, ["--config", str(config), *args])

    first = sqsync("despatch", "add", "SQ-1", *PARCEL, "--tracking-number", "T1", "--force")
    second = sqsync("despatch", "add", "SQ-1", *PARCEL, "--tracking-number", "T2", "--force")
    pushed = sqsync("push-despatch", "--json")

    assert first.exit_code == 0, first.output
    assert "1 for cancelled orders (never pushed)" in first.stderr
    assert second.exit_code == 0, second.output
    assert pushed.exit_code == 0, pushed.output
    assert '"requests": 0' in pushed.stdout
    assert emulator.stats.requests == 0 and not emulator.orders[sq_id].get("fulfillments")
    with Store.open(load_config(config).store_path) as store:
        cancelled = order(store, "SQ-1")
        assert cancelled["status"] == "CANCELLED"
        assert [s["push_state"] for s in cancelled["shipments"]] == ["local_only"] * 2
        assert on_hand(store) == 3  # once, for the first parcel only
        [moved] = [m for m in history(store, "RED-S") if m["source"] == "despatch"]
        assert moved["delta"] == -2 and "left after it was cancelled" in moved["reason"]


def test_a_feed_with_refused_rows_is_refused_whole_one_line_each(run, store):
    insert_order(store, order_number="SQ-1")
    insert_order(store, order_number="SQ-2", status="HOLDING", problems=["payment_state:REFUNDED"])
    insert_order(store, order_number="SQ-3", status="CANCELLED")
    set_on_hand(store, "ACME", "MAIN", "RED-S", 5)
    feed = HEADER + "SQ-1,DPD,Next Day,T1\nSQ-2,DPD,Next Day,T2\nSQ-3,DPD,Next Day,T3\n"

    result = run("despatch", "import", "-", input=feed)

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "sqsync: refused: stdin line 3: order SQ-2 is HOLDING (payment_state:REFUNDED); "
        "not recorded",
        "sqsync: refused: stdin line 4: order SQ-3 is CANCELLED; not recorded",
        "sqsync: error: despatch import: 2 of 3 rows refused, nothing recorded (fix them, or "
        "--skip-refused records the others, --force records them all)",
    ]
    assert order(store, "SQ-1")["status"] == "NEW" and order(store, "SQ-1")["shipments"] == []
    assert on_hand(store) == 5


def test_skip_refused_records_the_others_and_lists_what_it_skipped(run, store):
    insert_order(store, order_number="SQ-1")
    insert_order(store, order_number="SQ-2", status="CANCELLED")
    set_on_hand(store, "ACME", "MAIN", "RED-S", 5)
    feed = HEADER + "SQ-2,DPD,Next Day,T2\nSQ-1,DPD,Next Day,T1\n"

    result = run("despatch", "import", "-", "--skip-refused", input=feed)

    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "despatch import: skipped stdin line 2: order SQ-2 is CANCELLED; not recorded",
        "despatch import: recorded 1 shipments: 1 orders despatched, 0 late parcels; "
        "1 refused (skipped)",
    ]
    assert order(store, "SQ-1")["status"] == "DESPATCHED"
    assert order(store, "SQ-2")["shipments"] == []


def test_a_forced_feed_records_every_row(run, store):
    insert_order(store, order_number="SQ-1", status="HOLDING", problems=["unknown_sku:X"])
    insert_order(store, order_number="SQ-2", status="CANCELLED")
    feed = HEADER + "SQ-1,DPD,Next Day,T1\nSQ-2,DPD,Next Day,T2\n"
    result = run("despatch", "import", "-", "--force", input=feed)
    assert result.exit_code == 0, result.output
    assert [s["push_state"] for s in order(store, "SQ-1")["shipments"]] == ["pending"]
    assert [s["push_state"] for s in order(store, "SQ-2")["shipments"]] == ["local_only"]


def test_force_and_skip_refused_together_is_a_usage_error(run, store):
    result = run("despatch", "import", "-", "--force", "--skip-refused", input=HEADER)
    assert result.exit_code == 2
    assert result.stderr == (
        "sqsync: error: give --force (record every row) or --skip-refused, not both\n"
    )


def test_a_bad_row_still_stops_the_feed_at_its_line(run, store):
    insert_order(store, order_number="SQ-2", status="CANCELLED")
    feed = HEADER + "SQ-2,DPD,Next Day,T2\nSQ-404,DPD,Next Day,T9\n"
    result = run("despatch", "import", "-", "--skip-refused", input=feed)
    assert result.exit_code == 1
    assert result.stderr == "sqsync: error: stdin line 3: order SQ-404 not found\n"


# -- tracking numbers without case or spaces --------------------------------------------


def test_the_same_parcel_in_another_format_is_already_recorded(run, store):
    insert_order(store, order_number="SQ-1")
    first = run("despatch", "add", "SQ-1", *PARCEL, "--tracking-number", "RM 1234 5678 5GB")
    assert first.exit_code == 0, first.output

    again = run("despatch", "import", "-", input=HEADER + "SQ-1,DPD,Next Day,rm123456785gb\n")
    added = run("despatch", "add", "SQ-1", *PARCEL, "--tracking-number", "Rm123456785Gb")

    assert again.exit_code == 0 and "1 already recorded (skipped)" in again.stderr
    assert added.exit_code == 0 and "1 already recorded (skipped)" in added.stderr
    assert [s["tracking_number"] for s in order(store, "SQ-1")["shipments"]] == ["RM 1234 5678 5GB"]


def test_the_same_parcel_twice_in_one_feed_in_two_formats_names_both_lines(run, store):
    insert_order(store, order_number="SQ-1")
    feed = HEADER + "SQ-1,DPD,Next Day,RM123456785GB\nSQ-1,DPD,Next Day,rm 123456785 gb\n"
    result = run("despatch", "import", "-", input=feed)
    assert result.exit_code == 1
    assert "stdin line 3: order SQ-1: the same parcel (tracking number rm 123456785 gb)" in (
        result.stderr
    )
    assert "is already on stdin line 2" in result.stderr
