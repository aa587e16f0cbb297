"""sync-stock adjusts only what the warehouse has counted (issue 13, first rule).

A half-counted warehouse: one SKU counted, others known only because open orders name
them. Those must be left alone (their on hand is unknown, not 0), reported once, and
listed by status; ``stock set SKU 0`` is how a person says "we have none".
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from factories import DEFAULT_CONNECTION, insert_order, record_import, write_config
from sqsync.cli import cli
from sqsync.config import load_config
from sqsync.emulator import EmulatorState
from sqsync.store import Store
from sqsync.store.stock import set_on_hand


@pytest.fixture
def setup(make_emulator, tmp_path, monkeypatch):
    emu = make_emulator(EmulatorState())
    monkeypatch.setenv("ACME_KEY", emu.api_key)
    config = write_config(tmp_path, api_url=emu.url, stock_sync=True)
    with Store.open(load_config(config).store_path) as store:
        set_on_hand(store, "ACME", "MAIN", "RED-S", 5)  # the one SKU counted so far
        insert_order(store, status="NEW", items=[("BLUE-M", 2)])  # never counted
        record_import(store)

    def sqsync(*args: str):
        result = CliRunner().invoke(cli, ["--config", str(config), *args])
        assert "Traceback" not in result.stderr
        return result

    sqsync.store_path = load_config(config).store_path  # type: ignore[attr-defined]
    return emu, sqsync


def test_a_sku_never_counted_is_left_alone_reported_once_and_listed(setup):
    emu, sqsync = setup
    red = emu.add_variant("RED-S", 40)
    blue = emu.add_variant("BLUE-M", 30)

    first = sqsync("--quiet", "sync-stock", "--json")

    assert first.exit_code == 0, first.output
    line = json.loads(first.stdout)
    assert (line["adjusted"], line["uncounted"], line["uncounted_skus"]) == (1, 1, ["BLUE-M"])
    assert emu.inventory[red]["quantity"] == 5
    assert emu.inventory[blue]["quantity"] == 30  # not zeroed: nobody has counted it
    assert "BLUE-M was never counted" in first.stderr  # news, also under --quiet

    again = sqsync("--quiet", "sync-stock")
    assert again.exit_code == 0 and again.stderr == ""  # no news, no mail

    [status] = json.loads(sqsync("status", "--json").stdout)
    assert status["uncounted_skus"] == ["BLUE-M"]

    # "We have none": a count of 0 makes it synced, less what open orders hold (0 at least).
    assert sqsync("stock", "set", "BLUE-M", "0").exit_code == 0
    third = json.loads(sqsync("sync-stock", "--json").stdout)
    assert third["uncounted"] == 0
    assert emu.inventory[blue]["quantity"] == 0
    assert json.loads(sqsync("status", "--json").stdout)[0]["uncounted_skus"] == []


@pytest.mark.parametrize(
    "problem",
    ["fulfilled_in_squarespace", "payment_state:REFUNDED", "payment_state:REFUND_PENDING"],
)
def test_an_order_that_will_not_ship_allocates_nothing_but_stays_visible(setup, problem):
    emu, sqsync = setup
    red = emu.add_variant("RED-S", 0)
    with Store.open(load_config_path(sqsync)) as store:
        # the sync's own import reviews HOLDING orders: the stored state must say why
        state = {"sq_payment_state": problem.partition(":")[2]} if ":" in problem else {}
        insert_order(store, status="HOLDING", problems=[problem], items=[("RED-S", 3)], **state)
        insert_order(store, status="HOLDING", problems=["unknown_sku:X"], items=[("RED-S", 1)])

    assert sqsync("sync-stock").exit_code == 0
    assert emu.inventory[red]["quantity"] == 4  # 5 on hand, only the order that ships holds 1
    held = sqsync("orders", "list", "--status", "HOLDING", "--format", "ndjson").stdout
    assert problem in held


def load_config_path(sqsync) -> str:
    return sqsync.store_path


def test_the_first_stock_sync_waits_for_the_first_successful_import(
    make_emulator, tmp_path, monkeypatch
):
    emu = make_emulator(EmulatorState())
    monkeypatch.setenv("ACME_KEY", emu.api_key)
    config = write_config(tmp_path, api_url=emu.url, stock_sync=True)
    with Store.open(load_config(config).store_path) as store:
        set_on_hand(store, "ACME", "MAIN", "RED-S", 5)
    red = emu.add_variant("RED-S", 0)
    emu.add_order(emu.make_order(sku="RED-S", quantity=2))  # already sold, not yet imported

    def sqsync(*args):
        return CliRunner().invoke(cli, ["--config", str(config), *args])

    early = sqsync("sync-stock")
    assert early.exit_code == 1
    assert "no import-orders has succeeded" in early.stderr
    assert emu.inventory[red]["quantity"] == 0  # nothing advertised that was sold
    assert sqsync("import-orders").exit_code == 0
    assert sqsync("sync-stock").exit_code == 0
    assert emu.inventory[red]["quantity"] == 3


def test_stock_shared_by_two_shops_waits_for_the_other_shops_failed_import(
    make_emulator, tmp_path, monkeypatch
):
    emu = make_emulator(EmulatorState())
    other = make_emulator(EmulatorState())  # a second shop selling the same stock
    monkeypatch.setenv("ACME_KEY", emu.api_key)
    monkeypatch.setenv("BETA_KEY", other.api_key)
    shops = [
        {"name": "acme", "order_prefix": "A-", "api_url": emu.url, "stock_sync": True},
        {"name": "beta", "order_prefix": "B-", "api_url": other.url, "api_key_env": "BETA_KEY"},
    ]
    config = write_config(tmp_path, connections=[{**DEFAULT_CONNECTION, **c} for c in shops])
    with Store.open(load_config(config).store_path) as store:
        set_on_hand(store, "ACME", "MAIN", "RED-S", 5)
        record_import(store, "acme")
        record_import(store, "beta", outcome="failed")  # beta's sales are not all in
    red = emu.add_variant("RED-S", 0)

    result = CliRunner().invoke(cli, ["--config", str(config), "sync-stock", "-c", "acme"])

    assert result.exit_code == 1
    assert "import-orders of connection beta failed" in result.stderr
    assert emu.inventory[red]["quantity"] == 0
    with Store.open(load_config(config).store_path) as store:
        record_import(store, "beta")
    again = CliRunner().invoke(cli, ["--config", str(config), "sync-stock", "-c", "acme"])
    assert again.exit_code == 0, again.output
    assert emu.inventory[red]["quantity"] == 5
