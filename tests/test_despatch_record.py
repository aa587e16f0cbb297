"""`sqsync despatch add|import|list|retry`: recording what the warehouse shipped (issue 5)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from factories import DEFAULT_CONNECTION, insert_order, insert_shipment, write_config
from sqsync.cli import cli
from sqsync.config import load_config
from sqsync.store import Store
from sqsync.store.orders import find_orders
from sqsync.store.stock import set_on_hand, stock_rows

HEADER = "order_number,carrier,service,tracking_number,tracking_url,shipped_at\n"


@pytest.fixture
def config_path(tmp_path):
    return write_config(tmp_path)


@pytest.fixture
def store(config_path):
    with Store.open(load_config(config_path).store_path) as store:
        yield store


@pytest.fixture
def run(config_path):
    def invoke(*args: str, input: str | None = None):
        return CliRunner().invoke(cli, ["--config", str(config_path), *args], input=input)

    return invoke


def order(store, number, client="ACME"):
    [found] = find_orders(store, number, client)
    return found


def on_hand(store, sku):
    return {r["sku"]: (r["on_hand"], r["allocated"]) for r in stock_rows(store)}[sku]


def test_add_despatches_order_takes_stock_and_releases_allocation(run, store):
    insert_order(store, order_number="SQ-1", items=[("RED-S", 2), ("BLUE-M", 1)])
    set_on_hand(store, "ACME", "MAIN", "RED-S", 10)
    set_on_hand(store, "ACME", "MAIN", "BLUE-M", 5)
    assert on_hand(store, "RED-S") == (10, 2)

    result = run(
        "despatch", "add", "SQ-1", "--carrier", "Royal Mail", "--service", "Tracked 48",
        "--tracking-number", "RM1", "--tracking-url", "https://track.example/RM1",
        "--shipped-at", "2026-11-27T10:00:00+01:00",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    despatched = order(store, "SQ-1")
    assert despatched["status"] == "DESPATCHED"
    assert despatched["despatched_at"] == "2026-11-27T09:00:00.000Z"
    [shipment] = despatched["shipments"]
    assert shipment["tracking_number"] == "RM1"
    assert shipment["tracking_url"] == "https://track.example/RM1"
    assert shipment["push_state"] == "pending"
    assert on_hand(store, "RED-S") == (8, 0)
    assert on_hand(store, "BLUE-M") == (4, 0)


def test_add_a_late_parcel_to_a_despatched_order_leaves_stock_alone(run, store):
    insert_order(store, order_number="SQ-1", items=[("RED-S", 2)])
    set_on_hand(store, "ACME", "MAIN", "RED-S", 10)
    parcel = ("despatch", "add", "SQ-1", "--carrier", "DPD", "--service", "Next Day")
    assert run(*parcel, "--tracking-number", "T1").exit_code == 0
    late = run(*parcel, "--tracking-number", "T2")
    assert late.exit_code == 0 and "1 late parcels" in late.stderr
    assert [s["tracking_number"] for s in order(store, "SQ-1")["shipments"]] == ["T1", "T2"]
    assert on_hand(store, "RED-S") == (8, 0)


def test_shipped_at_defaults_to_now_in_utc(run, store):
    insert_order(store, order_number="SQ-1")
    assert (
        run("despatch", "add", "SQ-1", "--carrier", "DPD", "--service", "Next Day").exit_code == 0
    )
    [shipment] = order(store, "SQ-1")["shipments"]
    assert shipment["shipped_at"].endswith("Z")
    assert shipment["tracking_number"] is None


def test_a_naive_time_is_refused(run, store):
    insert_order(store, order_number="SQ-1")
    result = run(
        "despatch", "add", "SQ-1", "--carrier", "DPD", "--service", "Next Day",
        "--shipped-at", "2026-11-27T10:00:00",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "shipped_at: has no timezone" in result.stderr
    assert order(store, "SQ-1")["status"] == "NEW"


def test_import_split_parcels_and_a_late_parcel_touch_stock_once(run, store):
    insert_order(store, order_number="SQ-1", items=[("RED-S", 3)])
    set_on_hand(store, "ACME", "MAIN", "RED-S", 10)
    feed = HEADER + "SQ-1,DPD,Next Day,T1,,\nSQ-1,DPD,Next Day,T2,,\n"
    result = run("despatch", "import", "-", input=feed)
    assert result.exit_code == 0, result.output
    assert "2 shipments: 1 orders despatched, 0 late parcels" in result.stderr
    assert on_hand(store, "RED-S") == (7, 0)

    late = run("despatch", "import", "-", input=HEADER + "SQ-1,DPD,Next Day,T3,,\n")
    assert late.exit_code == 0, late.output
    assert "1 late parcels" in late.stderr
    shipments = order(store, "SQ-1")["shipments"]
    assert [s["tracking_number"] for s in shipments] == ["T1", "T2", "T3"]
    assert on_hand(store, "RED-S") == (7, 0)


def test_importing_the_same_feed_twice_records_each_parcel_once(run, store):
    insert_order(store, order_number="SQ-1")
    feed = HEADER + "SQ-1,DPD,Next Day,T1,,\nSQ-1,DPD,Next Day,,,\n"
    assert run("despatch", "import", "-", input=feed).exit_code == 0
    again = run("despatch", "import", "-", input=feed)
    assert again.exit_code == 0
    assert "2 already recorded" in again.stderr
    assert len(order(store, "SQ-1")["shipments"]) == 2


def test_identical_trackless_rows_are_split_parcels_recorded_once_each(run, store):
    insert_order(store, order_number="SQ-1", items=[("RED-S", 2)])
    insert_order(store, order_number="SQ-2", squarespace_id="sq-2")
    feed = HEADER + (
        "SQ-1,Royal Mail,2nd Class,,,\nSQ-1,Royal Mail,2nd Class,,,\nSQ-2,DPD,Next Day,T9,,\n"
    )
    first = run("despatch", "import", "-", input=feed)
    assert first.exit_code == 0, first.stderr
    assert len(order(store, "SQ-1")["shipments"]) == 2
    assert len(order(store, "SQ-2")["shipments"]) == 1

    again = run("despatch", "import", "-", input=feed)
    assert again.exit_code == 0 and "3 already recorded" in again.stderr
    assert len(order(store, "SQ-1")["shipments"]) == 2

    late = HEADER + "SQ-1,Royal Mail,2nd Class,,,2026-11-29T09:00:00Z\n"
    assert run("despatch", "import", "-", input=late).exit_code == 0
    assert len(order(store, "SQ-1")["shipments"]) == 3


def test_the_same_parcel_twice_in_one_feed_names_both_lines(run, store):
    insert_order(store, order_number="SQ-1")
    feed = HEADER + "SQ-1,DPD,Next Day,T1,,\nSQ-1,DPD,Next Day,T1,,\n"
    result = run("despatch", "import", "-", input=feed)
    assert result.exit_code == 1
    assert "stdin line 3: order SQ-1: the same parcel (tracking number T1)" in result.stderr
    assert "stdin line 2" in result.stderr


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("SQ-404,DPD,Next Day,T9,,", "line 3: order SQ-404 not found"),
        (f"SQ-1,{'C' * 101},Next Day,T9,,", "line 3: carrier: 101 characters; Squarespace takes"),
        (f"SQ-1,DPD,Next Day,{'9' * 101},,", "line 3: tracking_number: 101 characters"),
        ("SQ-1,DPD,Next Day,T9,ftp://x/y,", "line 3: tracking_url: must be an http(s) URL"),
        ("SQ-1,DPD,Next Day,,https://t.example/1,", "line 3: tracking_url given without"),
        ("SQ-1,DPD,Next Day,T9,,yesterday", "line 3: shipped_at: must be an ISO-8601 time"),
        # no service, and no courier map to take it from
        ("SQ-1,DPD,,T9,,", "line 3: order SQ-1: no service given, and the order has no ship"),
    ],
    ids=["unknown", "long-carrier", "long-tracking", "url", "url-only", "time", "svc"],
)
def test_a_bad_row_is_named_and_nothing_is_written(run, store, row, message):
    insert_order(store, order_number="SQ-1", items=[("RED-S", 1)])
    insert_order(store, order_number="SQ-2", items=[("RED-S", 1)])
    insert_order(store, order_number="SQ-X", status="CANCELLED")
    set_on_hand(store, "ACME", "MAIN", "RED-S", 5)
    feed = HEADER + "SQ-2,DPD,Next Day,T1,,\n" + row + "\n"

    result = run("despatch", "import", "-", input=feed)

    assert result.exit_code == 1
    assert f"sqsync: error: stdin {message}" in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert order(store, "SQ-2")["status"] == "NEW"
    assert order(store, "SQ-2")["shipments"] == []
    assert on_hand(store, "RED-S") == (5, 2)


def test_over_long_values_are_not_echoed(run, store):
    insert_order(store, order_number="SQ-1")
    result = run("despatch", "import", "-", input=HEADER + f"SQ-1,DPD,Next Day,{'9' * 5000},,\n")
    assert result.exit_code == 1
    assert len(result.stderr) < 300


def test_ndjson_feed_with_file_and_format_by_extension(run, store, tmp_path):
    insert_order(store, order_number="1001")
    feed = tmp_path / "shipped.ndjson"
    line = {"order_number": 1001, "carrier": "DPD", "service": "Next Day", "tracking_number": 7}
    feed.write_text(json.dumps(line) + "\n")
    result = run("despatch", "import", str(feed))
    assert result.exit_code == 0, result.output
    assert order(store, "1001")["shipments"][0]["tracking_number"] == "7"


def test_ambiguous_order_number_needs_a_client(tmp_path):
    other = {**DEFAULT_CONNECTION, "name": "globex", "client": "GLOBEX", "api_key_env": "G_KEY"}
    config_path = write_config(tmp_path, connections=[DEFAULT_CONNECTION, other])
    store = Store.open(load_config(config_path).store_path)
    insert_order(store, order_number="1001", client="ACME")
    insert_order(store, order_number="1001", client="GLOBEX", connection="globex")

    def run(*args, input=None):
        return CliRunner().invoke(cli, ["--config", str(config_path), *args], input=input)

    ambiguous = run("despatch", "add", "1001", "--carrier", "DPD", "--service", "Next Day")
    # The same ambiguity exits 2 in every command (orders show, despatch add/import/retry).
    assert ambiguous.exit_code == 2
    assert ambiguous.stderr == (
        "sqsync: error: despatch 1001: order 1001 exists for several clients (ACME, GLOBEX);"
        " give --client\n"
    )
    feed = "order_number,carrier,service,client\n1001,DPD,Next Day,GLOBEX\n"
    assert run("despatch", "import", "-", input=feed).exit_code == 0
    assert run("despatch", "add", "1001", "--carrier", "DPD", "--service", "Express", "--client",
               "ACME").exit_code == 0  # fmt: skip
    assert [o["status"] for o in find_orders(store, "1001")] == ["DESPATCHED", "DESPATCHED"]
    store.close()


def test_a_short_count_stops_at_zero(run, store):
    # Replaces "a holding order can be despatched": a HOLDING order is now refused unless
    # --force (tests/test_despatch_refusals.py); forced, the short count rule still holds.
    insert_order(store, order_number="SQ-1", status="HOLDING", items=[("RED-S", 3)])
    set_on_hand(store, "ACME", "MAIN", "RED-S", 1)
    parcel = ("despatch", "add", "SQ-1", "--carrier", "DPD", "--service", "Next Day")
    assert run(*parcel).exit_code == 1
    result = run(*parcel, "--force")
    assert result.exit_code == 0, result.output
    assert "RED-S: 3 shipped, 1 on hand" in result.stderr
    assert on_hand(store, "RED-S") == (0, 0)


def test_list_and_retry(run, store):
    order_id = insert_order(store, order_number="SQ-1", status="DESPATCHED")
    insert_shipment(store, order_id, tracking_number="T1", push_state="failed", push_error="bad")
    insert_shipment(store, order_id, tracking_number="T2", push_state="pushed")

    listed = run("despatch", "list", "--state", "failed", "--format", "json")
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.stdout)
    assert (row["order_number"], row["tracking_number"], row["push_error"]) == ("SQ-1", "T1", "bad")

    retried = run("despatch", "retry", "SQ-1")
    assert retried.exit_code == 0, retried.output
    assert "1 failed shipments set to pending" in retried.stderr
    states = [s["push_state"] for s in order(store, "SQ-1")["shipments"]]
    assert states == ["pending", "pushed"]
    assert run("despatch", "retry", "SQ-404").exit_code == 1


def test_add_a_second_trackless_parcel_later_records_it(run, store):
    insert_order(store, order_number="SQ-1")
    parcel = ("despatch", "add", "SQ-1", "--carrier", "Royal Mail", "--service", "2nd Class")
    assert run(*parcel).exit_code == 0
    assert run(*parcel).exit_code == 0  # the same carrier and service, another parcel
    assert len(order(store, "SQ-1")["shipments"]) == 2
