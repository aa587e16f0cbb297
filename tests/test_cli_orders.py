"""`sqsync orders list|show` against a seeded store, in every output format."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from factories import DEFAULT_CONNECTION, insert_order, insert_shipment, write_config
from sqsync.cli import cli
from sqsync.config import load_config
from sqsync.store import Store

HYPERLINK = '=HYPERLINK("https://evil.example","click")'


@pytest.fixture
def config_path(tmp_path):
    beta = {**DEFAULT_CONNECTION, "name": "beta", "client": "BETA"}
    return write_config(tmp_path, connections=[DEFAULT_CONNECTION, beta])


@pytest.fixture
def store(config_path):
    with Store.open(load_config(config_path).store_path) as opened:
        yield opened


@pytest.fixture
def run(config_path):
    def invoke(*args: str):
        return CliRunner().invoke(cli, ["--config", str(config_path), *args])

    return invoke


@pytest.fixture
def seeded(store):
    first = insert_order(
        store, order_number="SQ-1", items=[("RED-S", 2)], first_name=HYPERLINK, total="18.50"
    )
    insert_shipment(store, first, tracking_number="RM1", push_state="pushed")
    insert_order(store, order_number="SQ-2", status="HOLDING", problems=["unknown_sku:NOPE"])
    insert_order(store, order_number="B-1", connection="beta", client="BETA")
    return store


def test_list_table(run, seeded):
    result = run("orders", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["order_number", "connection", "status"]
    assert [line.split()[0] for line in lines[2:]] == ["SQ-1", "SQ-2", "B-1"]


def test_list_json_has_the_full_shape(run, seeded):
    result = run("orders", "list", "--format", "json")
    assert result.exit_code == 0, result.output
    orders = json.loads(result.stdout)
    assert [o["order_number"] for o in orders] == ["SQ-1", "SQ-2", "B-1"]
    first = orders[0]
    assert first["shipping_address"]["first_name"] == HYPERLINK  # JSON keeps data as it is
    assert first["total"] == "18.50"
    assert first["items"][0]["sku"] == "RED-S" and first["items"][0]["quantity"] == 2
    assert first["shipments"][0]["tracking_number"] == "RM1"
    assert first["shipments"][0]["pushed"] is True
    assert orders[1]["problems"] == ["unknown_sku:NOPE"]


def test_list_ndjson_filters(run, seeded):
    result = run("orders", "list", "--format", "ndjson", "--status", "new", "-c", "acme")
    assert result.exit_code == 0, result.output
    orders = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(o["order_number"], o["status"], o["connection"]) for o in orders] == [
        ("SQ-1", "NEW", "acme")
    ]


def test_list_csv_neutralises_formulas(run, seeded):
    result = run("orders", "list", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["order_number"] for r in rows] == ["SQ-1", "SQ-2", "B-1"]
    assert rows[0]["first_name"] == "'" + HYPERLINK
    assert rows[0]["items"] == "RED-S x2"
    assert rows[0]["tracking_numbers"] == "RM1"
    assert rows[1]["problems"] == "unknown_sku:NOPE"
    assert HYPERLINK not in result.stdout.replace("'" + HYPERLINK, "")


def test_list_empty(run, store):
    result = run("orders", "list", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


def test_list_unknown_connection_is_a_config_error(run, seeded):
    result = run("orders", "list", "-c", "nope")
    assert result.exit_code == 2
    assert "no connection named 'nope'" in result.stderr


def test_list_bad_status_is_a_usage_error(run, seeded):
    result = run("orders", "list", "--status", "SHIPPED")
    assert result.exit_code == 2


def test_show_json(run, seeded):
    result = run("orders", "show", "SQ-2")
    assert result.exit_code == 0, result.output
    order = json.loads(result.stdout)
    assert (order["order_number"], order["status"], order["client"]) == ("SQ-2", "HOLDING", "ACME")


def test_show_table(run, seeded):
    result = run("orders", "show", "SQ-1", "--format", "table")
    assert result.exit_code == 0, result.output
    fields = dict(line.split(None, 1) for line in result.stdout.splitlines()[2:] if " " in line)
    assert fields["order_number"].strip() == "SQ-1"
    assert fields["items"].strip() == "RED-S x2"


def test_show_not_found_exits_1(run, seeded):
    result = run("orders", "show", "SQ-404")
    assert result.exit_code == 1
    assert result.stderr == "sqsync: error: order SQ-404 not found\n"


def test_show_ambiguous_needs_client(run, store):
    insert_order(store, order_number="SQ-7", client="ACME")
    insert_order(store, order_number="SQ-7", client="BETA", connection="beta")
    result = run("orders", "show", "SQ-7")
    assert result.exit_code == 2
    assert "several clients (ACME, BETA); give --client" in result.stderr
    chosen = run("orders", "show", "SQ-7", "--client", "BETA")
    assert chosen.exit_code == 0
    assert json.loads(chosen.stdout)["client"] == "BETA"


def test_listing_does_not_need_an_api_key(run, seeded, monkeypatch):
    monkeypatch.delenv("ACME_KEY", raising=False)
    assert run("orders", "list").exit_code == 0


# -- problems, shipping method and the filters ---------------------------------------------


@pytest.fixture
def filterable(store):
    insert_order(
        store,
        order_number="SQ-OLD",
        items=[("RED-S", 1)],
        shipping_method="Royal Mail Tracked 48",
        sq_created_on="2026-01-01T10:00:00.000Z",
    )
    insert_order(
        store,
        order_number="SQ-NEW",
        items=[("BLUE-M", 2), ("RED-S", 1)],
        shipping_method="DPD Next Day",
        status="HOLDING",
        problems=["unknown_sku:BLUE-M", "manual_hold"],
        sq_created_on="2026-02-01T10:00:00.000Z",
        carrier="DPD",
        service="Next Day",
    )
    insert_order(
        store,
        order_number="SQ-MID",
        items=[("GREEN-L", 1)],
        shipping_method="Royal Mail Tracked 48",
        sq_created_on="2026-01-15T00:00:00.000Z",
    )
    return store


def test_the_table_shows_problems_shipping_method_carrier_and_service(run, filterable):
    result = run("orders", "list", "--status", "HOLDING")
    assert result.exit_code == 0, result.output
    header, _, row = result.stdout.splitlines()
    columns = header.split()
    assert columns[:4] == ["order_number", "connection", "status", "problems"]
    assert {"shipping_method", "carrier", "service"} <= set(columns)
    assert "unknown_sku:BLUE-M manual_hold" in row
    assert "DPD Next Day" in row and "Next Day" in row


FILTERS = [
    (["--since", "2026-01-15"], ["SQ-NEW", "SQ-MID"]),
    (["--since", "2026-01-15T00:00:01Z"], ["SQ-NEW"]),
    (["--since", "2026-01-15T01:00:00+02:00"], ["SQ-NEW", "SQ-MID"]),  # 23:00 UTC the day before
    (["--sku", "RED-S"], ["SQ-OLD", "SQ-NEW"]),
    (["--shipping-method", "Royal Mail Tracked 48"], ["SQ-OLD", "SQ-MID"]),
    (["--shipping-method", "royal mail tracked 48"], []),  # exact, as courier_map matches
    (["--sku", "RED-S", "--status", "NEW"], ["SQ-OLD"]),
    (["--sku", "RED-S", "--since", "2026-01-10", "--shipping-method", "DPD Next Day"], ["SQ-NEW"]),
]


@pytest.mark.parametrize(("args", "expected"), FILTERS)
@pytest.mark.parametrize("fmt", ["table", "json", "ndjson", "csv"])
def test_filters_in_every_format(run, filterable, args, expected, fmt):
    result = run("orders", "list", "--format", fmt, *args)
    assert result.exit_code == 0, result.output
    if fmt == "json":
        numbers = [o["order_number"] for o in json.loads(result.stdout)]
    elif fmt == "ndjson":
        numbers = [json.loads(line)["order_number"] for line in result.stdout.splitlines()]
    elif fmt == "csv":
        numbers = [r["order_number"] for r in csv.DictReader(io.StringIO(result.stdout))]
    else:
        numbers = [line.split()[0] for line in result.stdout.splitlines()[2:]]
    assert numbers == expected


def test_items_of_orders_filtered_by_sku_stay_whole(run, filterable):
    result = run("orders", "list", "--sku", "BLUE-M", "--format", "ndjson")
    [order] = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(i["sku"], i["quantity"]) for i in order["items"]] == [("BLUE-M", 2), ("RED-S", 1)]


def test_a_bad_since_is_a_usage_error(run, filterable):
    result = run("orders", "list", "--since", "last tuesday")
    assert result.exit_code == 2
    assert "is not an ISO date or date-time" in result.stderr
