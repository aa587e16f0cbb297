"""`sqsync stock set|import|list`, and the feed reader they share with despatch import."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from factories import DEFAULT_CONNECTION, insert_order, write_config
from sqsync.cli import cli
from sqsync.config import load_config
from sqsync.errors import InputError
from sqsync.feeds import StockLevelRow, feed_format, read_rows
from sqsync.store import Store
from sqsync.store.stock import stock_rows


def make_run(config_path):
    def invoke(*args: str, input: str | bytes | None = None):
        return CliRunner().invoke(cli, ["--config", str(config_path), *args], input=input)

    return invoke


@pytest.fixture
def config_path(tmp_path):
    return write_config(tmp_path)


@pytest.fixture
def run(config_path):
    return make_run(config_path)


@pytest.fixture
def levels(config_path):
    def read():
        with Store.open(load_config(config_path).store_path) as store:
            return {
                (r["client"], r["warehouse"], r["sku"]): r["on_hand"] for r in stock_rows(store)
            }

    return read


def two_clients(tmp_path):
    beta = {**DEFAULT_CONNECTION, "name": "beta", "client": "BETA", "warehouse": "EAST"}
    return write_config(tmp_path, connections=[DEFAULT_CONNECTION, beta])


# --- stock set --------------------------------------------------------------------------------


def test_set_defaults_to_the_only_client_and_warehouse(run, levels):
    result = run("stock", "set", "RED-S", "12")
    assert result.exit_code == 0, result.output
    assert levels() == {("ACME", "MAIN", "RED-S"): 12}
    assert run("stock", "set", "RED-S", "0").exit_code == 0
    assert levels() == {("ACME", "MAIN", "RED-S"): 0}


@pytest.mark.parametrize("qty", ["-1", "x", "1.5"])
def test_set_refuses_bad_quantities(run, levels, qty):
    result = run("stock", "set", "RED-S", qty)
    assert result.exit_code == 2
    assert levels() == {}


def test_set_needs_client_when_ambiguous(tmp_path):
    run = make_run(two_clients(tmp_path))
    result = run("stock", "set", "RED-S", "3")
    assert result.exit_code == 2
    assert result.stderr == (
        "sqsync: error: several clients are configured (ACME, BETA); give --client\n"
    )
    result = run("stock", "set", "RED-S", "3", "--client", "BETA")
    assert result.exit_code == 2
    assert "several warehouses are configured (EAST, MAIN); give --warehouse" in result.stderr
    result = run("stock", "set", "RED-S", "3", "--client", "BETA", "--warehouse", "EAST")
    assert result.exit_code == 0, result.output


def test_set_refuses_an_unknown_client(run, levels):
    result = run("stock", "set", "RED-S", "3", "--client", "ACEM")
    assert result.exit_code == 2
    assert "unknown client 'ACEM'; known: ACME" in result.stderr
    assert levels() == {}


# --- stock import -----------------------------------------------------------------------------


def test_import_csv_file(run, levels, tmp_path):
    feed = tmp_path / "stock.csv"
    feed.write_text("sku,quantity\nRED-S,5\n\nBLUE-M, 7 \n")
    result = run("stock", "import", str(feed))
    assert result.exit_code == 0, result.output
    assert levels() == {("ACME", "MAIN", "RED-S"): 5, ("ACME", "MAIN", "BLUE-M"): 7}


def test_import_ndjson_from_stdin(run, levels):
    feed = '{"sku": "RED-S", "quantity": 4}\n{"sku": "X", "quantity": 0, "client": "ACME"}\n'
    result = run("stock", "import", "-", "--format", "ndjson", input=feed)
    assert result.exit_code == 0, result.output
    assert levels() == {("ACME", "MAIN", "RED-S"): 4, ("ACME", "MAIN", "X"): 0}


def test_import_rows_name_their_client_and_warehouse(tmp_path):
    config_path = two_clients(tmp_path)
    feed = "sku,quantity,client,warehouse\nA,1,ACME,MAIN\nA,2,BETA,EAST\n"
    result = make_run(config_path)("stock", "import", "-", input=feed)
    assert result.exit_code == 0, result.output
    with Store.open(load_config(config_path).store_path) as store:
        assert {(r["client"], r["on_hand"]) for r in stock_rows(store)} == {
            ("ACME", 1),
            ("BETA", 2),
        }


@pytest.mark.parametrize(
    ("feed", "message"),
    [
        ("sku,quantity\nA,1\nB,2\nC,x\n", 'line 4: quantity: must be a whole number >= 0, got "x"'),
        ("sku,quantity\nA,1\nB,-3\n", 'line 3: quantity: must be a whole number >= 0, got "-3"'),
        ("sku,quantity\nA,1\n,2\n", "line 3: sku: required"),
        ("sku,quantity,client\nA,1,GHOST\n", 'line 2: client: unknown client "GHOST"'),
        ("sku,quantity,warehouse\nA,1,\nB,1,EAST\n", 'line 3: warehouse: unknown warehouse "EAST"'),
        ("sku,qty\nA,1\n", "line 1: the header row must name the columns sku, quantity"),
        ("RED-S,4\n", "line 1: the header row must name the columns sku, quantity"),
        ("sku,quantity,colour\nA,1,red\n", 'line 1: unknown column "colour"'),
        ("sku,quantity\nA,1,extra\n", "line 2: 3 cells but the header names 2 columns"),
        ("sku,quantity\nA,1\nA,2\n", "line 3: sku: 'A' is already set on line 2"),
        ("", "empty feed: a header row is required"),
    ],
)
def test_import_bad_row_writes_nothing(run, levels, tmp_path, feed, message):
    run("stock", "set", "KEEP", "9")
    path = tmp_path / "stock.csv"
    path.write_text(feed)
    result = run("stock", "import", str(path))
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"sqsync: error: {path}")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert levels() == {("ACME", "MAIN", "KEEP"): 9}


def test_import_non_utf8_names_the_line(run, levels, tmp_path):
    path = tmp_path / "stock.csv"
    path.write_bytes(b"sku,quantity\nA,1\nCAF\xe9,2\n")
    result = run("stock", "import", str(path))
    assert result.exit_code == 1
    assert "stock.csv line 3: not UTF-8 text" in result.stderr
    assert levels() == {}


def test_import_malformed_json_names_the_line(run, levels, tmp_path):
    path = tmp_path / "stock.ndjson"  # format chosen by extension
    path.write_text('{"sku": "A", "quantity": 1}\n{"sku": "B", "quantity": \n')
    result = run("stock", "import", str(path))
    assert result.exit_code == 1
    assert "stock.ndjson line 2: not valid JSON" in result.stderr
    assert levels() == {}


def test_import_missing_file(run):
    result = run("stock", "import", "nope.csv")
    assert result.exit_code == 1
    assert "nope.csv: cannot read" in result.stderr


# --- stock list -------------------------------------------------------------------------------


def test_list_shows_allocation(run, config_path):
    run("stock", "set", "RED-S", "10")
    run("stock", "set", "BLUE-M", "1")
    with Store.open(load_config(config_path).store_path) as store:
        insert_order(store, items=[("RED-S", 3), ("BLUE-M", 4)])
        insert_order(store, status="DESPATCHED", items=[("RED-S", 5)])
    result = run("stock", "list", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"sku": "BLUE-M", "client": "ACME", "warehouse": "MAIN",
         "on_hand": 1, "allocated": 4, "available": 0},
        {"sku": "RED-S", "client": "ACME", "warehouse": "MAIN",
         "on_hand": 10, "allocated": 3, "available": 7},
    ]  # fmt: skip
    table = run("stock", "list")
    assert table.stdout.splitlines()[0].split() == [
        "sku", "client", "warehouse", "on_hand", "allocated", "available",
    ]  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(run("stock", "list", "--format", "csv").stdout)))
    assert [r["available"] for r in rows] == ["0", "7"]


def test_list_filters(tmp_path):
    run = make_run(two_clients(tmp_path))
    run("stock", "set", "A", "1", "--client", "ACME", "--warehouse", "MAIN")
    run("stock", "set", "A", "2", "--client", "BETA", "--warehouse", "EAST")
    result = run("stock", "list", "--client", "BETA", "--format", "ndjson")
    assert [json.loads(line)["on_hand"] for line in result.stdout.splitlines()] == [2]
    result = run("stock", "list", "--format", "ndjson")
    assert len(result.stdout.splitlines()) == 2


# --- the feed reader itself -------------------------------------------------------------------


def test_read_rows_returns_line_numbers(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text('sku,quantity\n"multi\nline",1\nB,2\n')
    rows = read_rows(path, "csv", StockLevelRow)
    assert [(line, row.sku, row.quantity) for line, row in rows] == [
        (2, "multi\nline", 1),
        (4, "B", 2),
    ]


def test_read_rows_accepts_a_bom_and_binary_stream():
    stream = io.BytesIO("\ufeffsku,quantity\nA,1\n".encode())
    stream.name = "upload.csv"
    assert read_rows(stream, "csv", StockLevelRow)[0][1].sku == "A"


@pytest.mark.parametrize(
    "record", ["[1, 2]", '{"sku": "A", "quantity": 1.5}', '{"sku": "A", "quantity": true}']
)
def test_read_rows_ndjson_rejects(record):
    stream = io.BytesIO(record.encode())
    stream.name = "f.ndjson"
    with pytest.raises(InputError, match=r"f\.ndjson line 1: "):
        read_rows(stream, "ndjson", StockLevelRow)


def test_feed_format():
    assert feed_format("a.ndjson") == "ndjson"
    assert feed_format("a.JSONL") == "ndjson"
    assert feed_format("a.csv") == "csv"
    assert feed_format("-") == "csv"
    assert feed_format("a.ndjson", "csv") == "csv"


@pytest.mark.parametrize("sku", ["", "   "])
def test_set_refuses_an_empty_or_blank_sku(run, levels, sku):
    result = run("stock", "set", sku, "3")
    assert result.exit_code == 2
    assert result.stderr == "sqsync: error: stock set: the SKU is empty\n"
    assert levels() == {}
