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
