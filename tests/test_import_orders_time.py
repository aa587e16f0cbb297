"""import-orders across time (issue 12): no order lost to a first import cut short, a
wrong clock, a long outage, a broken walk, a line without a SKU, an unreadable record or
a config edit. Each case drives the CLI against the emulator over loopback.

The machine's clock is the real one; Squarespace's clock is the emulator's (its ``Date``
header and the ``modifiedOn`` it stamps), set apart from it by each test: a shop clock
20 minutes behind the machine's is a machine 20 minutes ahead.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from factories import write_config
from sqsync.cli import cli
from sqsync.config import load_config
from sqsync.emulator import EmulatorState
from sqsync.jobs import runner
from sqsync.jobs.import_orders import FIRST_START_KEY, WINDOW_END_KEY
from sqsync.store import Store, utc_text
from sqsync.store.catalog import ensure_ids, ensure_product
from sqsync.store.sync_state import get_state, set_state


class ShopClock:
    """Squarespace's time: the machine's plus ``ahead`` (negative: behind)."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead


class Shop:
    def __init__(self, tmp_path, emulator, clock: ShopClock) -> None:
        self.tmp_path = tmp_path
        self.emu = emulator
        self.clock = clock
        self.configure()

    def configure(self, **overrides: Any) -> None:
        self.path = write_config(self.tmp_path, api_url=self.emu.url, **overrides)

    def store(self) -> Store:
        return Store.open(load_config(self.path).store_path)

    def know(self, *skus: str) -> None:
        with self.store() as store, store.transaction() as conn:
            client_id, _, _ = ensure_ids(conn, "ACME", "MAIN", "Squarespace")
            for sku in skus:
                ensure_product(conn, client_id, sku)

    def add(self, sku: str | None = "RED-S", **fields: Any) -> str:
        return self.emu.add_order(self.emu.make_order(sku=sku, **fields))

    def cli(self, *args: str):
        return CliRunner().invoke(cli, ["--config", str(self.path), *args])

    def import_orders(self, code: int = 0) -> dict[str, Any]:
        result = self.cli("import-orders", "--json")
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.stderr
        self.stderr = result.stderr
        return json.loads(result.stdout)

    def status_of(self, sq_id: str) -> tuple[str, list[str]]:
        with self.store() as store:
            row = store.conn.execute(
                "SELECT status, problems FROM orders WHERE squarespace_id = ?", (sq_id,)
            ).fetchone()
        assert row is not None, f"order {sq_id} was never stored"
        return row["status"], json.loads(row["problems"])

    def state(self, key: str) -> str | None:
        with self.store() as store:
            return get_state(store, "acme", key)


@pytest.fixture
def shop(tmp_path, make_emulator, monkeypatch) -> Shop:
    clock = ShopClock()
    emulator = make_emulator(EmulatorState(now=clock))
    emulator.add_variant("RED-S", 10)
    monkeypatch.setenv("ACME_KEY", emulator.api_key)
    # The CLI's clients retry at once: a test waits out no back-off (9 500s took 11 s).
    real_make_client = runner.make_client
    monkeypatch.setattr(
        runner,
        "make_client",
        lambda connection, **options: real_make_client(
            connection, **{"sleep": lambda seconds: None, **options}
        ),
    )
    made = Shop(tmp_path, emulator, clock)
    made.know("RED-S")
    return made


# -- a first import cut short ------------------------------------------------------------


def test_a_first_import_cut_short_still_sees_what_changed_in_its_orders(shop):
    ids = [shop.add() for _ in range(60)]
    # The first import stores page 1, then the connection drops on page 2.
    calls = {"n": 0}

    def drop_second_page(method, path):
        calls["n"] += 1
        if calls["n"] == 2:
            shop.emu.faults.add(method="GET", path="/1.0/commerce/orders", kind="500", count=9)

    shop.emu.before_request = drop_second_page
    shop.import_orders(code=1)
    shop.emu.before_request = None
    assert shop.state(FIRST_START_KEY) is not None
    # Meanwhile, in Squarespace, a stored order is cancelled and another fulfilled.
    shop.emu.update_order(ids[0], fulfillmentStatus="CANCELED")
    shop.emu.update_order(ids[1], fulfillmentStatus="FULFILLED")

    line = shop.import_orders()

    assert line["imported"] == 10
    assert shop.status_of(ids[0])[0] == "CANCELLED"
    assert shop.status_of(ids[1]) == ("HOLDING", ["fulfilled_in_squarespace"])
    assert shop.state(WINDOW_END_KEY) is not None


# -- Squarespace's clock, not ours -------------------------------------------------------


@pytest.mark.parametrize("machine_ahead", [timedelta(minutes=20), timedelta(minutes=-20)])
def test_a_machine_clock_twenty_minutes_off_loses_no_order(shop, machine_ahead):
    shop.clock.ahead = -machine_ahead
    shop.import_orders()
    late = shop.add()  # placed just after the first run, by Squarespace's clock

    assert shop.import_orders()["imported"] == 1
    assert shop.status_of(late)[0] == "NEW"
    # The window end is Squarespace's time, not the machine's.
    end = datetime.fromisoformat(str(shop.state(WINDOW_END_KEY)).replace("Z", "+00:00"))
    assert abs(end - shop.clock()) < timedelta(minutes=1)


def test_a_clock_a_day_ahead_then_corrected_loses_no_order(shop):
    shop.clock.ahead = -timedelta(days=1)  # the machine is a day ahead of Squarespace
    shop.import_orders()
    placed = shop.add()  # an order placed while the machine was still a day ahead
    shop.clock.ahead = timedelta(0)  # the clock is put right (Squarespace's day passed too)

    assert shop.import_orders()["imported"] == 1
    assert shop.status_of(placed)[0] == "NEW"


def test_a_saved_window_end_in_the_future_is_replaced_with_one_warning(shop):
    shop.import_orders()
    stored = shop.add()
    assert shop.import_orders()["imported"] == 1
    # An older sqsync, its clock 2 days fast, saved a window end in Squarespace's future.
    with shop.store() as store, store.transaction() as conn:
        future = utc_text(datetime.now(UTC) + timedelta(days=2))
        set_state(conn, "acme", WINDOW_END_KEY, future)
    later = shop.add()

    line = shop.import_orders()

    assert line["imported"] == 1
    assert shop.status_of(later)[0] == "NEW" and shop.status_of(stored)[0] == "NEW"
    assert shop.stderr.count("later than Squarespace's time") == 1
    assert str(shop.state(WINDOW_END_KEY)) < future
    shop.import_orders()
    assert "later than Squarespace's time" not in shop.stderr  # once, not every run


# -- bounded windows and paging that never ends ------------------------------------------


def test_a_long_outage_is_read_in_windows_each_committed(shop):
    shop.import_orders()
    start = shop.clock()
    old = shop.add()
    shop.emu.update_order(old, modifiedOn=utc_text(start - timedelta(days=3)))
    with shop.store() as store, store.transaction() as conn:
        set_state(conn, "acme", WINDOW_END_KEY, utc_text(start - timedelta(days=4)))
    windows: list[str] = []
    shop.emu.before_request = lambda method, path: windows.append(path)

    line = shop.import_orders()

    assert line["imported"] == 1
    assert shop.status_of(old)[0] == "NEW"
    # Day 1 (empty), then 2 days, then the rest: three windows, never one of four days.
    assert len(windows) == 3


def test_paging_that_never_ends_stops_with_one_error_and_frees_the_connection(shop):
    for _ in range(3):
        shop.add()
    shop.emu.state.endless_paging = True

    result = shop.cli("import-orders")

    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if "FAILED" in line]
    assert len(errors) == 1 and "kept paging" in errors[0]
    assert "Traceback" not in result.stderr
    assert shop.emu.state.endless_pages < 10
    shop.emu.state.endless_paging = False
    # Not locked, and the window was kept: read again, each order stored once.
    assert shop.import_orders()["unchanged"] == 3
    with shop.store() as store:
        assert store.conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 3


# -- nothing dropped silently -------------------------------------------------------------


def test_a_line_without_a_sku_is_held_visible_and_allocated_once_mapped(shop):
    order = shop.emu.make_order(sku=None)
    variant = order["lineItems"][0]["variantId"]
    sq_id = shop.emu.add_order(order)

    line = shop.import_orders()

    assert (line["imported"], line["held"], line["ok"]) == (1, 1, True)
    assert shop.status_of(sq_id) == ("HOLDING", [f"no_sku:{variant}"])
    listed = shop.cli("orders", "list", "--status", "HOLDING", "--format", "ndjson")
    assert sq_id in listed.stdout
    # Mapped by its variant id: the next import releases it and its units are allocated.
    shop.configure(sku_aliases={variant: "RED-S"})
    assert shop.import_orders()["released"] == 1
    assert shop.status_of(sq_id) == ("NEW", [])
    stock = shop.cli("stock", "list", "--format", "ndjson")
    [red] = [json.loads(x) for x in stock.stdout.splitlines() if '"RED-S"' in x]
    assert red["allocated"] == 1


def test_an_unreadable_order_is_fetched_again_until_it_reads(shop):
    sq_id = shop.add()
    good = dict(shop.emu.orders[sq_id])
    modified = good["modifiedOn"]
    shop.emu.update_order(sq_id, lineItems=[{"id": "x", "quantity": "lots"}], modifiedOn=modified)

    first = shop.import_orders(code=1)

    assert (first["ok"], first["unreadable"]) == (False, 1)
    assert first["unreadable_orders"] == [sq_id]
    assert sq_id in shop.stderr
    # Visible in status, and in every job's result, until it reads.
    [status] = json.loads(shop.cli("status", "--json").stdout)
    assert [o["squarespace_id"] for o in status["unreadable_orders"]] == [sq_id]
    assert sq_id in shop.cli("status").stderr + shop.cli("status").stdout
    pushed = json.loads(shop.cli("push-despatch", "--json").stdout)
    assert pushed["unreadable_orders"] == [sq_id]
    # Every later run says so, until it reads; the window moves on meanwhile.
    assert shop.import_orders(code=1)["unreadable"] == 1
    # Squarespace fixes the record without a new modifiedOn: outside any later window.
    shop.emu.update_order(sq_id, lineItems=good["lineItems"], modifiedOn=modified)
    fixed = shop.import_orders()
    assert (fixed["ok"], fixed["imported"], fixed["unreadable"]) == (True, 1, 0)
    assert "unreadable_orders" not in fixed
    assert json.loads(shop.cli("status", "--json").stdout)[0]["unreadable_orders"] == []
    assert shop.status_of(sq_id)[0] == "NEW"


# -- config changes reach the orders already stored --------------------------------------


def test_an_alias_added_for_a_held_sku_releases_its_orders_and_moves_their_units(shop):
    sq_id = shop.add(sku="SQ-RED-SMALL")
    shop.import_orders()
    assert shop.status_of(sq_id) == ("HOLDING", ["unknown_sku:SQ-RED-SMALL"])

    shop.configure(sku_aliases={"SQ-RED-SMALL": "RED-S"})
    line = shop.import_orders()

    assert line["released"] == 1
    assert shop.status_of(sq_id) == ("NEW", [])
    stock = [
        json.loads(x) for x in shop.cli("stock", "list", "--format", "ndjson").stdout.splitlines()
    ]
    assert {(r["sku"], r["allocated"]) for r in stock} == {("RED-S", 1)}


def test_a_payment_states_edit_holds_and_releases_stored_orders(shop):
    sq_id = shop.add(paymentState="AUTHORIZED")
    shop.import_orders()
    assert shop.status_of(sq_id)[0] == "NEW"

    shop.configure(payment_states=["PAID"])
    assert shop.import_orders()["held"] == 1
    assert shop.status_of(sq_id) == ("HOLDING", ["payment_state:AUTHORIZED"])

    shop.configure(payment_states=["PAID", "AUTHORIZED"])
    assert shop.import_orders()["released"] == 1
    assert shop.status_of(sq_id) == ("NEW", [])
