"""Stock movements (issue 13): `stock adjust`, the movement log, and `stock history`.

Every change of on hand (count, import, adjust, despatch) is logged with its time, source
and reason in the transaction that makes it; a refused change leaves neither.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest
from click.testing import CliRunner

from factories import DEFAULT_CONNECTION, IntegrityError, insert_order, write_config
from sqsync.cli import cli
from sqsync.config import load_config
from sqsync.errors import InputError
from sqsync.store import Store, movements
from sqsync.store.movements import MAX_REASON, MOVEMENT_COLUMNS, feed_reason, history
from sqsync.store.stock import adjust_on_hand, counted_skus, set_on_hand, stock_rows


@pytest.fixture
def config_path(tmp_path):
    return write_config(tmp_path)


@pytest.fixture
def run(config_path):
    def invoke(*args: str, input: str | None = None):
        return CliRunner().invoke(cli, ["--config", str(config_path), *args], input=input)

    return invoke


@pytest.fixture
def store(config_path):
    with Store.open(load_config(config_path).store_path) as opened:
        yield opened


def on_hand(store, sku="RED-S"):
    return {r["sku"]: r["on_hand"] for r in stock_rows(store)}.get(sku)


def logged(store, sku="RED-S"):
    return [
        (m["source"], m["delta"], m["before"], m["after"], m["reason"]) for m in history(store, sku)
    ]


# --- stock adjust -----------------------------------------------------------------------------


def test_adjust_is_relative_and_logged(run, store):
    assert run("stock", "set", "RED-S", "12").exit_code == 0
    result = run("stock", "adjust", "RED-S", "+24", "--reason", "goods-in")
    assert result.exit_code == 0, result.output
    assert result.stderr == "RED-S: on hand 12 -> 36 (+24, goods-in) (ACME @ MAIN)\n"
    assert on_hand(store) == 36
    assert logged(store)[-1] == ("adjust", 24, 12, 36, "goods-in")


def test_adjust_takes_off_with_a_negative_delta(run, store):
    set_on_hand(store, "ACME", "MAIN", "RED-S", 12)
    result = run("stock", "adjust", "RED-S", "-3", "--reason", "damaged")
    assert result.exit_code == 0, result.output
    assert result.stderr == "RED-S: on hand 12 -> 9 (-3, damaged) (ACME @ MAIN)\n"
    assert on_hand(store) == 9
    # Options before the arguments work too, and a negative DELTA is still not an option.
    result = run("stock", "adjust", "--reason", "damaged", "--client", "ACME", "RED-S", "-1")
    assert result.exit_code == 0, result.output
    assert on_hand(store) == 8


def test_adjust_below_zero_is_refused_and_writes_nothing(run, store):
    set_on_hand(store, "ACME", "MAIN", "RED-S", 2)
    result = run("stock", "adjust", "RED-S", "-3", "--reason", "damaged")
    assert result.exit_code == 1
    assert result.stderr == (
        "sqsync: error: RED-S: on hand is 2; adjusting by -3 would take it below 0\n"
    )
    assert on_hand(store) == 2
    assert logged(store) == [("count", 2, None, 2, None)]


def test_adjust_of_a_never_counted_sku_counts_from_zero(run, store):
    refused = run("stock", "adjust", "RED-S", "-1", "--reason", "found")
    assert refused.exit_code == 1
    assert "on hand is 0 (never counted)" in refused.stderr
    assert counted_skus(store, "ACME", "MAIN") == set()
    assert logged(store) == []

    assert run("stock", "adjust", "RED-S", "+24", "--reason", "goods-in").exit_code == 0
    assert on_hand(store) == 24
    assert logged(store) == [("adjust", 24, None, 24, "goods-in")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["RED-S", "3", "--reason", "x"], "give a signed whole number, e.g. +24 or -3"),
        (["RED-S", "+x", "--reason", "x"], "give a signed whole number"),
        (["RED-S", "+0", "--reason", "x"], "an adjustment of 0 changes nothing"),
        (["RED-S", "+1000000001", "--reason", "x"], "at most 1,000,000,000 either way"),
        (["RED-S", "+" + "9" * 5000, "--reason", "x"], "at most 1,000,000,000 either way"),
        (["RED-S", "+1"], "Missing option '--reason'"),
        (["RED-S", "+1", "--reason", "  "], "stock adjust RED-S: the reason is empty"),
        ([" ", "+1", "--reason", "x"], "stock adjust: the SKU is empty"),
    ],
)
def test_adjust_refuses_bad_arguments(run, store, args, message):
    result = run("stock", "adjust", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert list(stock_rows(store)) == []


def test_adjust_above_the_maximum_is_refused(store):
    set_on_hand(store, "ACME", "MAIN", "RED-S", 999_999_999)
    with pytest.raises(InputError, match=r"^RED-S: on hand is 999999999; adjusting by \+2 would"):
        adjust_on_hand(store, "ACME", "MAIN", "RED-S", 2, reason="found")
    assert on_hand(store) == 999_999_999


@pytest.mark.parametrize(
    ("sku", "delta", "reason", "message"),
    [
        (" ", 1, "x", "a SKU must not be empty or blank"),
        ("RED-S", 0, "x", "RED-S: an adjustment of 0 changes nothing"),
        ("RED-S", 1.5, "x", "RED-S: an adjustment must be a whole number, got 1.5"),
        ("RED-S", True, "x", "RED-S: an adjustment must be a whole number, got True"),
        ("RED-S", 1, " ", "RED-S: an adjustment needs a reason"),
        ("RED-S", 1, "two\nlines", "a reason must be one line of text"),
        ("RED-S", 1, "x" * (MAX_REASON + 1), f"a reason must be at most {MAX_REASON} characters"),
    ],
)
def test_adjust_on_hand_refuses(store, sku, delta, reason, message):
    with pytest.raises(InputError, match=message):
        adjust_on_hand(store, "ACME", "MAIN", sku, delta, reason=reason)
    assert list(stock_rows(store)) == [] and logged(store) == []


# --- every change is logged, with its change --------------------------------------------------


def test_history_lists_count_import_adjust_and_despatch_in_order(run, store):
    assert run("stock", "set", "RED-S", "10", "--reason", "stock-take").exit_code == 0
    assert run("stock", "set", "RED-S", "10").exit_code == 0  # a stock take that agrees
    feed = "sku,quantity\nBLUE-M,1\nRED-S,7\n"
    assert run("stock", "import", "-", input=feed).exit_code == 0
    assert run("stock", "adjust", "RED-S", "+24", "--reason", "goods-in").exit_code == 0
    insert_order(store, order_number="SQ-1", items=[("RED-S", 2), ("RED-S", 1)])
    assert (
        run("despatch", "add", "SQ-1", "--carrier", "DPD", "--service", "Next Day").exit_code == 0
    )

    result = run("stock", "history", "RED-S", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["source"], r["delta"], r["before"], r["after"], r["reason"]) for r in rows] == [
        ("count", 10, None, 10, "stock-take"),
        ("count", 0, 10, 10, None),
        ("import", -3, 10, 7, "stdin line 3"),
        ("adjust", 24, 7, 31, "goods-in"),
        ("despatch", -3, 31, 28, "order SQ-1"),
    ]
    assert {(r["sku"], r["client"], r["warehouse"]) for r in rows} == {("RED-S", "ACME", "MAIN")}
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)
    assert on_hand(store) == 28


def test_a_short_despatch_logs_what_it_took_and_why(run, store):
    insert_order(store, order_number="SQ-1", items=[("RED-S", 3), ("NEVER-COUNTED", 1)])
    set_on_hand(store, "ACME", "MAIN", "RED-S", 1)
    result = run("despatch", "add", "SQ-1", "--carrier", "DPD", "--service", "Next Day")
    assert result.exit_code == 0, result.output
    assert logged(store)[-1] == ("despatch", -1, 1, 0, "order SQ-1 (3 shipped, 1 on hand)")
    assert logged(store, "NEVER-COUNTED") == []  # still uncounted: no change of on hand


def test_a_late_parcel_logs_no_second_despatch(run, store):
    insert_order(store, order_number="SQ-1", items=[("RED-S", 2)])
    set_on_hand(store, "ACME", "MAIN", "RED-S", 10)
    parcel = ("despatch", "add", "SQ-1", "--carrier", "DPD", "--service", "Next Day")
    assert run(*parcel, "--tracking-number", "T1").exit_code == 0
    assert run(*parcel, "--tracking-number", "T2").exit_code == 0
    assert [m[0] for m in logged(store)] == ["count", "despatch"]


def test_an_import_row_names_its_feed_and_line(run, store, tmp_path):
    path = tmp_path / "counts.csv"
    path.write_text("sku,quantity\nRED-S,5\n")
    assert run("stock", "import", str(path)).exit_code == 0
    assert logged(store) == [("import", 5, None, 5, f"{path} line 2")]


def test_feed_reason_always_fits_a_reason():
    reason = feed_reason("/drop/" + "x" * 300 + "/counts\n.csv", 12)
    assert len(reason) == MAX_REASON and reason.endswith("/counts?.csv line 12")
    assert movements.clean_reason(reason) == reason


# --- a change and its movement commit together ------------------------------------------------


def test_a_failed_movement_leaves_the_count_as_it_was(store, monkeypatch):
    set_on_hand(store, "ACME", "MAIN", "RED-S", 5)

    def failing(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(movements, "record", failing)
    with pytest.raises(sqlite3.OperationalError):
        set_on_hand(store, "ACME", "MAIN", "RED-S", 9)
    with pytest.raises(sqlite3.OperationalError):
        adjust_on_hand(store, "ACME", "MAIN", "RED-S", 1, reason="found")
    monkeypatch.undo()
    assert on_hand(store) == 5 and len(logged(store)) == 1


def test_a_refused_change_inside_a_callers_transaction_undoes_only_itself(store):
    # On a bare connection the change is a savepoint: the caller may catch and go on.
    with store.transaction() as conn:
        set_on_hand(conn, "ACME", "MAIN", "RED-S", 1)
        with pytest.raises(InputError):
            adjust_on_hand(conn, "ACME", "MAIN", "RED-S", -2, reason="damaged")
        with pytest.raises(InputError):
            adjust_on_hand(conn, "ACME", "MAIN", "NEW-SKU", -1, reason="damaged")
    assert on_hand(store) == 1
    assert counted_skus(store, "ACME", "MAIN") == {"RED-S"}
    assert logged(store) == [("count", 1, None, 1, None)]


def test_a_rolled_back_transaction_takes_its_movements_with_it(store):
    with pytest.raises(RuntimeError), store.transaction() as conn:
        set_on_hand(conn, "ACME", "MAIN", "RED-S", 4)
        raise RuntimeError("later step failed")
    assert list(stock_rows(store)) == [] and logged(store) == []


def test_the_schema_refuses_a_movement_whose_delta_does_not_add_up(store):
    set_on_hand(store, "ACME", "MAIN", "RED-S", 4)
    with pytest.raises(IntegrityError, match=r"CHECK|check constraint"):
        store.conn.execute("UPDATE stock_movements SET delta = delta + 1")


# --- stock history ----------------------------------------------------------------------------


@pytest.fixture
def three_moves(run):
    run("stock", "set", "RED-S", "5")
    run("stock", "adjust", "RED-S", "+24", "--reason", "=goods-in")
    run("stock", "adjust", "RED-S", "-3", "--reason", "damaged")


def test_history_json_ndjson_csv_and_table(run, three_moves):
    as_json = json.loads(run("stock", "history", "RED-S", "--format", "json").stdout)
    assert [list(r) for r in as_json] == [MOVEMENT_COLUMNS] * 3
    assert [r["delta"] for r in as_json] == [5, 24, -3]

    ndjson = run("stock", "history", "RED-S", "--format", "ndjson").stdout.splitlines()
    assert [json.loads(line) for line in ndjson] == as_json

    rows = list(
        csv.DictReader(io.StringIO(run("stock", "history", "RED-S", "--format", "csv").stdout))
    )
    assert [(r["delta"], r["before"], r["reason"]) for r in rows] == [
        ("5", "", ""),
        ("24", "5", "'=goods-in"),  # a spreadsheet must not run a reason as a formula
        ("-3", "29", "damaged"),
    ]

    table = run("stock", "history", "RED-S").stdout.splitlines()
    assert table[0].split() == MOVEMENT_COLUMNS
    assert table[-1].split()[1:] == ["RED-S", "ACME", "MAIN", "adjust", "-3", "29", "26", "damaged"]


def test_history_limit_keeps_the_latest_and_newest_first_reverses(run, three_moves):
    def deltas(*args):
        result = run("stock", "history", "RED-S", "--format", "json", *args)
        assert result.exit_code == 0, result.output
        return [r["delta"] for r in json.loads(result.stdout)]

    assert deltas("--limit", "2") == [24, -3]
    assert deltas("--newest-first") == [-3, 24, 5]
    assert deltas("--newest-first", "--limit", "1") == [-3]
    assert run("stock", "history", "RED-S", "--limit", "0").exit_code == 2


def test_history_of_an_unknown_sku_is_empty(run):
    assert json.loads(run("stock", "history", "NOPE", "--format", "json").stdout) == []
    assert (
        run("stock", "history", "NOPE", "--format", "csv").stdout
        == ",".join(MOVEMENT_COLUMNS) + "\n"
    )


def test_history_filters_by_client_and_warehouse(tmp_path):
    beta = {**DEFAULT_CONNECTION, "name": "beta", "client": "BETA", "warehouse": "EAST"}
    config_path = write_config(tmp_path, connections=[DEFAULT_CONNECTION, beta])

    def run(*args: str):
        return CliRunner().invoke(cli, ["--config", str(config_path), *args])

    assert (
        run("stock", "set", "RED-S", "1", "--client", "ACME", "--warehouse", "MAIN").exit_code == 0
    )
    assert (
        run("stock", "set", "RED-S", "2", "--client", "BETA", "--warehouse", "EAST").exit_code == 0
    )

    def owners(*args: str):
        result = run("stock", "history", "RED-S", "--format", "json", *args)
        return [(r["client"], r["warehouse"], r["after"]) for r in json.loads(result.stdout)]

    assert owners() == [("ACME", "MAIN", 1), ("BETA", "EAST", 2)]
    assert owners("--client", "BETA") == [("BETA", "EAST", 2)]
    assert owners("--warehouse", "MAIN") == [("ACME", "MAIN", 1)]
    assert owners("--client", "ACME", "--warehouse", "EAST") == []
