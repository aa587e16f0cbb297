"""Stock feed rules: stock_buffer, stock_cap and stock_zero_below per connection, with
per-SKU overrides in ``[connections.stock_rules."SKU"]``.

The planner applies them in one order (buffer, then zero below, then cap) and names the
rule that shaped each figure; the config refuses a bad rule at load, as one line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from factories import write_config
from sqsync.cli import cli
from sqsync.config import load_config
from sqsync.domain.limits import MAX_QUANTITY
from sqsync.domain.stock_rules import StockRule
from sqsync.emulator import EmulatorState
from sqsync.errors import ConfigError
from sqsync.jobs.stock_plan import Change, plan_stock, shape
from sqsync.squarespace import InventoryItem
from sqsync.store import Store
from sqsync.store.stock import set_on_hand

ROOT = Path(__file__).resolve().parent.parent


def item(variant_id: str, sku: str, quantity: int) -> InventoryItem:
    return InventoryItem(variant_id=variant_id, sku=sku, is_unlimited=False, quantity=quantity)


def error_of(tmp_path: Path, **overrides) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, **overrides))
    return str(caught.value)


# --- the planner ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on_hand", "allocated", "rule", "expected"),
    [
        (10, 3, StockRule(), (7, "available")),
        (10, 3, StockRule(buffer=2), (5, "buffer 2")),
        (1, 0, StockRule(buffer=2), (0, "buffer 2")),
        (0, 0, StockRule(buffer=2), (0, "available")),  # nothing there to hold back
        (3, 5, StockRule(zero_below=2), (0, "available")),  # oversold: 0 anyway
        (4, 0, StockRule(zero_below=5), (0, "zero below 5")),
        (5, 0, StockRule(zero_below=5), (5, "available")),  # "below" 5: 5 itself shows
        (15, 0, StockRule(cap=20), (15, "available")),
        (25, 0, StockRule(cap=20), (20, "cap 20")),
        (7, 0, StockRule(cap=0), (0, "cap 0")),  # a cap of 0: advertise none
        # Order: zero_below judges what the buffer leaves, and the cap comes last.
        (6, 0, StockRule(buffer=2, zero_below=5), (0, "buffer 2, zero below 5")),
        (7, 0, StockRule(buffer=2, zero_below=5), (5, "buffer 2")),
        (100, 0, StockRule(buffer=2, cap=20, zero_below=5), (20, "cap 20")),
        (21, 0, StockRule(buffer=2, cap=20), (19, "buffer 2")),
        (10, 0, StockRule(cap=5, overridden=frozenset({"cap"})), (5, "cap 5 (SKU override)")),
        (
            6,
            0,
            StockRule(buffer=2, zero_below=5, overridden=frozenset({"zero_below"})),
            (0, "buffer 2, zero below 5 (SKU override)"),
        ),
    ],
)
def test_each_rule_shapes_the_figure_and_is_named(on_hand, allocated, rule, expected):
    assert shape(on_hand, allocated, rule) == expected


@given(
    st.integers(0, 200),
    st.integers(0, 200),
    st.integers(0, 50),
    st.integers(0, 60),
    st.none() | st.integers(60, 150),
)
def test_the_order_is_buffer_then_zero_below_then_cap(on_hand, allocated, buffer, below, cap):
    figure, _ = shape(on_hand, allocated, StockRule(buffer, cap, below))
    left = max(0, on_hand - allocated - buffer)
    expected = 0 if left < below else left
    assert figure == (expected if cap is None else min(cap, expected))


def test_plan_stock_applies_each_skus_rule_and_reports_it():
    rules = {
        "RED": StockRule(buffer=1, cap=5, overridden=frozenset({"cap"})),
        "BLUE": StockRule(buffer=1, zero_below=3),
    }
    plan = plan_stock(
        [item("v1", "RED", 0), item("v2", "BLUE", 9), item("v3", "GREEN", 0)],
        {"RED": (40, 0), "BLUE": (3, 0), "GREEN": (4, 0)},
        rules=lambda sku: rules.get(sku, StockRule(buffer=1)),
    )
    assert [(c.variant_id, c.target, c.rule) for c in plan.changes] == [
        ("v1", 5, "cap 5 (SKU override)"),
        ("v2", 0, "buffer 1, zero below 3"),
        ("v3", 3, "buffer 1"),
    ]
    assert plan.changes[0].row() == {
        "sku": "RED",
        "variant_id": "v1",
        "from": 0,
        "to": 5,
        "rule": "cap 5 (SKU override)",
    }


def test_buffer_alone_still_works_and_names_itself():
    (change,) = plan_stock([item("v1", "RED", 0)], {"RED": (10, 0)}, buffer=2).changes
    assert change == Change("v1", "RED", 0, 8)  # the rule explains; it is not identity
    assert change.rule == "buffer 2"


def test_a_buffer_and_rules_together_are_refused():
    with pytest.raises(ValueError, match="not both"):
        plan_stock([], {}, buffer=1, rules=lambda _sku: StockRule())


@pytest.mark.parametrize(
    "fields",
    [{"buffer": -1}, {"zero_below": -1}, {"cap": -1}, {"cap": MAX_QUANTITY + 1}],
)
def test_a_stock_rule_out_of_bounds_is_refused(fields):
    with pytest.raises(ValueError, match="must be 0"):
        StockRule(**fields)


def test_a_stock_rule_with_zero_below_above_its_cap_is_refused():
    with pytest.raises(ValueError, match="above cap"):
        StockRule(cap=2, zero_below=3)


# --- the config -----------------------------------------------------------------------


def test_defaults_are_no_cap_and_no_zero_below(tmp_path):
    (acme,) = load_config(write_config(tmp_path)).connections
    assert (acme.stock_cap, acme.stock_zero_below, acme.stock_rules) == (None, 0, {})
    assert acme.stock_rule("RED-S") == StockRule()


def test_an_override_wins_field_by_field_and_the_rest_is_the_connections(tmp_path):
    config = load_config(
        write_config(
            tmp_path,
            stock_buffer=2,
            stock_cap=20,
            stock_zero_below=3,
            stock_rules={"RED-S": {"cap": 5}, "BLUE-M": {"buffer": 0, "zero_below": 0}},
        )
    )
    acme = config.connections[0]
    assert acme.stock_rule("RED-S") == StockRule(2, 5, 3, frozenset({"cap"}))
    assert acme.stock_rule("BLUE-M") == StockRule(0, 20, 0, frozenset({"buffer", "zero_below"}))
    assert acme.stock_rule("GREEN-L") == StockRule(2, 20, 3)


@pytest.mark.parametrize(
    "fields",
    [
        {"stock_cap": 0},  # advertise none: deliberate, so allowed
        {"stock_cap": 5, "stock_zero_below": 5},  # shows 0 or 5: a fine "all or nothing"
        {"stock_cap": MAX_QUANTITY, "stock_buffer": MAX_QUANTITY},
        {"stock_cap": 3, "stock_rules": {"RED-S": {"cap": 10, "zero_below": 10}}},
    ],
)
def test_sane_rules_load(tmp_path, fields):
    load_config(write_config(tmp_path, **fields))


@pytest.mark.parametrize(
    ("fields", "key", "fragment"),
    [
        ({"stock_cap": -1}, "stock_cap", "greater than or equal to 0, got -1"),
        ({"stock_cap": True}, "stock_cap", "valid integer"),
        ({"stock_cap": "5"}, "stock_cap", 'valid integer, got "5"'),
        ({"stock_cap": 2.5}, "stock_cap", "valid integer"),
        ({"stock_cap": MAX_QUANTITY + 1}, "stock_cap", "less than or equal to 1000000000"),
        ({"stock_zero_below": -1}, "stock_zero_below", "greater than or equal to 0"),
        ({"stock_zero_below": False}, "stock_zero_below", "valid integer"),
        ({"stock_zero_below": "5"}, "stock_zero_below", "valid integer"),
        ({"stock_buffer": MAX_QUANTITY + 1}, "stock_buffer", "less than or equal to"),
        ({"stock_rules": {"RED-S": {"cap": -1}}}, "stock_rules.RED-S.cap", "greater than"),
        ({"stock_rules": {"RED-S": {"buffer": True}}}, "stock_rules.RED-S.buffer", "integer"),
        ({"stock_rules": {"RED-S": {"zero_below": "5"}}}, "stock_rules.RED-S.zero_below", "int"),
        ({"stock_rules": {"RED-S": {"cop": 5}}}, "stock_rules.RED-S.cop", "unknown key"),
        ({"stock_rules": {"RED-S": {}}}, "stock_rules.RED-S", "at least one of buffer, cap"),
        ({"stock_rules": {"RED-S": 5}}, "stock_rules.RED-S", "valid dictionary"),
        ({"stock_rules": ["RED-S"]}, "stock_rules", "valid dictionary"),
        (
            {"stock_cap": 5, "stock_zero_below": 10},
            "stock_zero_below",
            "10 is above stock_cap (5), so the shop could only ever show 0 or 5",
        ),
        (
            {"stock_rules": {"RED-S": {"cap": 2, "zero_below": 3}}},
            "stock_rules.RED-S",
            "zero_below 3 is above cap 2",
        ),
        (
            {"stock_zero_below": 3, "stock_rules": {"RED-S": {"cap": 2}}},
            "stock_rules.RED-S",
            "zero_below 3 (the connection's stock_zero_below) is above cap 2,",
        ),
        (
            {"sku_aliases": {"SQ-RED-S": "RED-S"}, "stock_rules": {"SQ-RED-S": {"cap": 1}}},
            "stock_rules.SQ-RED-S",
            "keys are warehouse SKUs",
        ),
    ],
)
def test_a_bad_rule_is_one_line_naming_file_connection_and_key(tmp_path, fields, key, fragment):
    message = error_of(tmp_path, **fields)
    assert message.startswith(f'{tmp_path / "sqsync.toml"}: connection "acme": {key}: '), message
    assert fragment in message
    assert "\n" not in message


def test_an_override_table_written_as_toml_tables_loads(tmp_path):
    # What config.example.toml shows, uncommented: a [connections.stock_rules."SKU"] table.
    example = (ROOT / "config.example.toml").read_text()
    block = example[example.index('# [connections.stock_rules."RED-S"]') :]
    uncommented = re.sub(r"^# ", "", block, flags=re.MULTILINE)
    path = write_config(tmp_path)
    path.write_text(path.read_text() + "\n" + uncommented)
    acme = load_config(path).connections[0]
    assert acme.stock_rule("RED-S") == StockRule(0, 5, 2, frozenset({"cap", "zero_below"}))


@pytest.mark.parametrize("command", [["status"], ["sync-stock", "--dry-run"], ["check"]])
def test_the_cli_refuses_a_bad_rule_with_exit_2_and_one_line(tmp_path, monkeypatch, command):
    monkeypatch.setenv("ACME_KEY", "sk-test-key")
    path = write_config(tmp_path, stock_sync=True, stock_rules={"RED-S": {"cap": "5"}})
    result = CliRunner().invoke(cli, ["--config", str(path), *command])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert f'{path}: connection "acme": stock_rules.RED-S.cap: ' in result.stderr


# --- end to end -------------------------------------------------------------------------


def test_dry_run_json_names_the_rule_of_each_variant(make_emulator, tmp_path, monkeypatch):
    # Needs sync_stock's _Run._plan to pass rules=self.connection.stock_rule.
    emu = make_emulator(EmulatorState())
    monkeypatch.setenv("ACME_KEY", emu.api_key)
    config = write_config(
        tmp_path,
        api_url=emu.url,
        stock_sync=True,
        stock_buffer=1,
        stock_zero_below=3,
        stock_cap=20,
        sku_aliases={"SQ-RED-S": "RED-S"},
        stock_rules={"RED-S": {"cap": 5}},
    )
    with Store.open(load_config(config).store_path) as store:
        for sku, on_hand in [("RED-S", 40), ("BLUE-M", 3), ("GREEN-L", 100), ("PINK-S", 10)]:
            set_on_hand(store, "ACME", "MAIN", sku, on_hand)
    red = emu.add_variant("SQ-RED-S", 0)  # a Squarespace SKU: the override is the warehouse's
    blue = emu.add_variant("BLUE-M", 7)
    green = emu.add_variant("GREEN-L", 0)
    pink = emu.add_variant("PINK-S", 0)

    result = CliRunner().invoke(cli, ["--config", str(config), "sync-stock", "--dry-run", "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert sorted(report["planned"], key=lambda row: row["sku"]) == [
        {"sku": "BLUE-M", "variant_id": blue, "from": 7, "to": 0, "rule": "buffer 1, zero below 3"},
        {"sku": "GREEN-L", "variant_id": green, "from": 0, "to": 20, "rule": "cap 20"},
        {"sku": "PINK-S", "variant_id": pink, "from": 0, "to": 9, "rule": "buffer 1"},
        {"sku": "RED-S", "variant_id": red, "from": 0, "to": 5, "rule": "cap 5 (SKU override)"},
    ]
    assert emu.inventory[red]["quantity"] == 0  # a dry run sends nothing
