"""A shipment Squarespace refuses, and `sqsync despatch void ORDER` (issue 14).

A refused shipment makes push-despatch not ok (exit 1) with ONE warning on stderr when it
happens, also under --quiet, and nothing on later runs. `despatch void` discards what
will never go (pending, failed, a forced parcel of a cancelled order) and, when nothing
of the order went, returns its units to on hand with a ``void`` stock movement; an order
with nothing voidable is refused in one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from factories import FactoryRunner, insert_order, insert_shipment, write_config
from sqsync.cli import cli
from sqsync.config import load_config
from sqsync.emulator import Emulator
from sqsync.emulator.wire import ApiError
from sqsync.squarespace import Client
from sqsync.store import Store
from sqsync.store.despatches import shipment_counts
from sqsync.store.movements import history
from sqsync.store.orders import find_orders
from sqsync.store.stock import set_on_hand, stock_rows


def _no_sleep_client(connection: Any, **overrides: Any) -> Client:
    overrides.setdefault("sleep", lambda seconds: None)
    return Client(connection.api_key(), base_url=connection.api_url, **overrides)


@dataclass
class Shop:
    emu: Emulator
    store: Store
    config: Path

    def sqsync(self, *args: str, input: str | None = None) -> Any:
        return FactoryRunner(_no_sleep_client).invoke(
            cli, ["--config", str(self.config), *args], input=input
        )

    def order(self, number: str = "SQ-1") -> str:
        """An order in Squarespace and here (NEW, 2 x RED-S), 10 RED-S on hand."""
        sq_id = self.emu.add_order(self.emu.make_order())
        insert_order(self.store, order_number=number, squarespace_id=sq_id, items=[("RED-S", 2)])
        set_on_hand(self.store, "ACME", "MAIN", "RED-S", 10)
        return sq_id

    def despatch(self, number: str = "SQ-1", tracking: str = "T1") -> None:
        added = self.sqsync("despatch", "add", number, "--carrier", "DPD", "--service",
                            "Next Day", "--tracking-number", tracking)  # fmt: skip
        assert added.exit_code == 0, added.output

    def shown(self, number: str = "SQ-1") -> dict[str, Any]:
        [found] = find_orders(self.store, number)
        return found

    def on_hand(self) -> int:
        return {r["sku"]: r["on_hand"] for r in stock_rows(self.store)}["RED-S"]


@pytest.fixture
def shop(tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("ACME_KEY", emulator.api_key)
    config = write_config(tmp_path, api_url=emulator.url)
    store = Store.open(load_config(config).store_path)
    yield Shop(emulator, store, config)
    store.close()


def _refuse_fulfilments(method: str, path: str) -> None:
    if method == "POST":
        raise ApiError(400, "carrierName is not supported.", "INVALID_ARGUMENT")


def test_a_refused_shipment_fails_the_run_with_one_warning_then_stays_quiet(shop):
    shop.order()
    shop.despatch()
    shop.emu.before_request = _refuse_fulfilments

    first = shop.sqsync("-q", "push-despatch", "--json")

    assert first.exit_code == 1
    assert json.loads(first.stdout)["ok"] is False
    warnings = [line for line in first.stderr.splitlines() if "order SQ-1 not pushed" in line]
    assert warnings == [
        "acme push-despatch: order SQ-1 not pushed: carrierName is not supported. (fix it, "
        "then `sqsync despatch retry SQ-1`; only if the parcel did not leave, "
        "`sqsync despatch void SQ-1`)"
    ]
    assert len(first.stderr.splitlines()) == 2  # that warning and the run's one error line

    again = shop.sqsync("-q", "push-despatch")

    assert again.exit_code == 0 and again.stderr == ""


def test_void_after_a_cancellation_returns_the_units_and_cancels_the_order(shop):
    sq_id = shop.order()
    shop.despatch()
    assert shop.on_hand() == 8
    shop.emu.update_order(sq_id, fulfillmentStatus="CANCELED")  # before it was pushed
    pushed = shop.sqsync("push-despatch")
    assert pushed.exit_code == 1 and "cancelled in Squarespace" in pushed.stderr

    result = shop.sqsync("despatch", "void", "SQ-1")

    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "despatch void SQ-1: 1 shipment voided; units back on hand: RED-S +2; order now CANCELLED\n"
    )
    assert shop.on_hand() == 10
    order = shop.shown()
    assert order["status"] == "CANCELLED" and order["despatched_at"] is None
    assert [s["push_state"] for s in order["shipments"]] == ["void"]
    movement = list(history(shop.store, "RED-S"))[-1]
    assert (movement["source"], movement["delta"]) == ("void", 2)
    assert movement["reason"] == "order SQ-1: despatch voided"
    assert shipment_counts(shop.store, "acme") == {"unpushed": 0, "failed": 0}
    assert shop.sqsync("push-despatch").exit_code == 0


def test_a_voided_pending_parcel_is_never_pushed_nor_recorded_again(shop):
    sq_id = shop.order()
    shop.despatch()

    assert shop.sqsync("despatch", "void", "SQ-1").exit_code == 0
    feed = "order_number,carrier,service,tracking_number\nSQ-1,DPD,Next Day,t1\n"
    again = shop.sqsync("despatch", "import", "-", input=feed)
    pushed = shop.sqsync("push-despatch", "--json")

    # Not reopened as NEW, where a WMS would pick it again: HOLDING until a person says.
    shown = shop.shown()
    assert (shown["status"], shown["problems"]) == ("HOLDING", ["despatch_voided"])
    assert shop.on_hand() == 10
    assert again.exit_code == 0 and "1 already recorded" in again.stderr
    assert json.loads(pushed.stdout)["requests"] == 0
    assert not shop.emu.orders[sq_id].get("fulfillments")
    listed = shop.sqsync("despatch", "list", "--state", "void", "--format", "json")
    assert [row["tracking_number"] for row in json.loads(listed.stdout)] == ["T1"]
    # A person says "ship it again": released, it is NEW and allocates again.
    assert shop.sqsync("orders", "release", "SQ-1").exit_code == 0
    assert shop.shown()["status"] == "NEW"


def test_void_of_a_forced_parcel_for_a_cancelled_order_puts_the_units_back(shop):
    insert_order(shop.store, order_number="SQ-9", status="CANCELLED", items=[("RED-S", 2)])
    set_on_hand(shop.store, "ACME", "MAIN", "RED-S", 10)
    forced = shop.sqsync("despatch", "add", "SQ-9", "--carrier", "DPD", "--service", "Next Day",
                         "--force")  # fmt: skip
    assert forced.exit_code == 0 and shop.on_hand() == 8

    result = shop.sqsync("despatch", "void", "SQ-9")

    assert result.exit_code == 0, result.output
    assert shop.on_hand() == 10 and shop.shown("SQ-9")["status"] == "CANCELLED"


def test_void_keeps_the_units_off_when_another_shipment_went(shop):
    shop.order()
    shop.despatch(tracking="T1")
    assert shop.sqsync("push-despatch").exit_code == 0
    shop.despatch(tracking="T2")  # a late parcel, then refused
    shop.emu.before_request = _refuse_fulfilments
    assert shop.sqsync("push-despatch").exit_code == 1

    result = shop.sqsync("despatch", "void", "SQ-1")

    assert result.exit_code == 0, result.output
    assert "1 shipment voided; units stay off on hand" in result.stderr
    assert shop.on_hand() == 8 and shop.shown()["status"] == "DESPATCHED"
    assert [s["push_state"] for s in shop.shown()["shipments"]] == ["pushed", "void"]


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ("pushed", "order SQ-1 has nothing to void: 1 pushed (already in Squarespace)"),
        ("sending", "order SQ-1 has nothing to void: 1 sending (being pushed: push-despatch "
                    "settles it first)"),
        (None, "order SQ-1 has nothing to void: it has no shipments"),
    ],
)  # fmt: skip
def test_void_refuses_an_order_with_nothing_voidable_in_one_line(shop, state, message):
    local = insert_order(shop.store, order_number="SQ-1", status="DESPATCHED")
    if state is not None:
        insert_shipment(shop.store, local, push_state=state)

    result = shop.sqsync("despatch", "void", "SQ-1")

    assert result.exit_code == 1
    assert result.stderr == f"sqsync: error: {message}\n"


def test_void_of_an_unknown_order_is_refused(shop):
    result = shop.sqsync("despatch", "void", "SQ-404")
    assert result.exit_code == 1
    assert result.stderr == "sqsync: error: order SQ-404 not found\n"
