"""`sqsync orders hold|release|cancel|close`: acting on one order by hand, with an audit row,
and holds that survive imports; the import's one warning when it holds an order.

The import rules are driven end to end: the CLI against the emulator over loopback.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from factories import DEFAULT_CONNECTION, insert_order, write_config
from sqsync.cli import cli
from sqsync.config import load_config
from sqsync.emulator import Emulator
from sqsync.errors import InputError
from sqsync.jobs.import_orders import MAX_HOLD_WARNINGS
from sqsync.store import Store, order_actions
from sqsync.store.catalog import ensure_ids, ensure_product
from sqsync.store.order_actions import act, current_user
from sqsync.store.orders import find_orders, iter_order_dicts
from sqsync.store.stock import set_on_hand, stock_rows


class Shop:
    """The emulator, a config pointing at it, and the CLI (shared by the order tests)."""

    def __init__(self, tmp_path: Path, emulator: Emulator, **options: Any) -> None:
        self.tmp_path = tmp_path
        self.emu = emulator
        self.configure(**options)

    def configure(self, **overrides: Any) -> None:
        options = {"api_url": self.emu.url, "order_prefix": "SQ-", **overrides}
        self.path = write_config(self.tmp_path, **options)

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["--config", str(self.path), *args])

    def import_orders(self, *args: str, quiet: bool = False) -> dict[str, Any]:
        result = self.cli(*(["--quiet"] if quiet else []), "import-orders", "--json", *args)
        assert result.exit_code == 0, result.output
        self.stderr = result.stderr
        [line] = [json.loads(line) for line in result.stdout.splitlines()]
        return line

    def store(self) -> Store:
        return Store.open(load_config(self.path).store_path)

    def know(self, *skus: str) -> None:
        with self.store() as store, store.transaction() as conn:
            client_id, _, _ = ensure_ids(conn, "ACME", "MAIN", "Squarespace")
            for sku in skus:
                ensure_product(conn, client_id, sku)

    def add(self, sku: str = "RED-S", **fields: Any) -> str:
        quantity = fields.pop("quantity", 1)
        return self.emu.add_order(self.emu.make_order(sku=sku, quantity=quantity, **fields))

    def number(self, squarespace_id: str) -> str:
        return f"SQ-{self.emu.orders[squarespace_id]['orderNumber']}"

    def imported(self, sku: str = "RED-S", **fields: Any) -> tuple[str, str]:
        """A NEW order already imported: (its Squarespace id, its order number)."""
        self.know(sku)
        sq_id = self.add(sku, **fields)
        assert self.import_orders()["imported"] == 1
        return sq_id, self.number(sq_id)

    def order(self, number: str) -> dict[str, Any]:
        with self.store() as store:
            [found] = find_orders(store, number)
        return found


@pytest.fixture
def shop(tmp_path, emulator, monkeypatch) -> Shop:
    monkeypatch.setenv("ACME_KEY", emulator.api_key)
    return Shop(tmp_path, emulator)


# -- the commands against a seeded store ---------------------------------------------------


@pytest.fixture
def config_path(tmp_path):
    beta = {**DEFAULT_CONNECTION, "name": "beta", "client": "BETA"}
    return write_config(tmp_path, connections=[DEFAULT_CONNECTION, beta])


@pytest.fixture
def store(config_path):
    with Store.open(load_config(config_path).store_path) as opened:
        yield opened


@pytest.fixture
def run(config_path, monkeypatch):
    monkeypatch.setattr(order_actions, "current_user", lambda: "ada")

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--config", str(config_path), *args])

    return invoke


def status_of(store: Store, number: str, client: str = "ACME") -> tuple[str, list[str]]:
    [found] = find_orders(store, number, client)
    return found["status"], found["problems"]


def test_hold_then_release_with_audit_rows_in_orders_show(run, store):
    insert_order(store, order_number="SQ-1")

    held = run("orders", "hold", "SQ-1", "--reason", "address to check")
    assert held.exit_code == 0, held.output
    assert held.stderr == "order SQ-1: NEW -> HOLDING\n"
    assert status_of(store, "SQ-1") == ("HOLDING", ["manual_hold"])

    released = run("orders", "release", "SQ-1")
    assert released.exit_code == 0, released.output
    assert status_of(store, "SQ-1") == ("NEW", [])

    shown = json.loads(run("orders", "show", "SQ-1").stdout)
    assert [(a["action"], a["from_status"], a["to_status"], a["reason"], a["user"])
            for a in shown["actions"]] == [
        ("hold", "NEW", "HOLDING", "address to check", "ada"),
        ("release", "HOLDING", "NEW", None, "ada"),
    ]  # fmt: skip
    assert all(a["time"].endswith("Z") for a in shown["actions"])
    table = run("orders", "show", "SQ-1", "--format", "table").stdout
    assert "ada: hold (NEW -> HOLDING): address to check" in table


def test_cancel_frees_the_allocation_and_close_ends_a_held_order(run, store):
    insert_order(store, order_number="SQ-1", items=[("RED-S", 2)])
    insert_order(
        store,
        order_number="SQ-2",
        items=[("RED-S", 3)],
        status="HOLDING",
        problems=["fulfilled_in_squarespace"],
    )
    set_on_hand(store, "ACME", "MAIN", "RED-S", 10)
    assert [r["allocated"] for r in stock_rows(store)] == [2]  # SQ-2 will not ship

    assert run("orders", "cancel", "SQ-1", "--reason", "customer changed their mind").exit_code == 0
    closed = run("orders", "close", "SQ-2", "--reason", "shipped from the shop")
    assert closed.exit_code == 0, closed.output

    assert status_of(store, "SQ-1") == ("CANCELLED", [])
    # Closed: CANCELLED, its problem kept as the record of why.
    assert status_of(store, "SQ-2") == ("CANCELLED", ["fulfilled_in_squarespace"])
    assert [r["allocated"] for r in stock_rows(store)] == [0]
    actions = json.loads(run("orders", "show", "SQ-2").stdout)["actions"]
    assert [(a["action"], a["reason"]) for a in actions] == [("close", "shipped from the shop")]
    # A closed order cannot be despatched (nor, being CANCELLED, pushed).
    despatch = run("despatch", "add", "SQ-2", "--carrier", "Royal Mail", "--service", "Tracked 48")
    assert despatch.exit_code == 1


@pytest.mark.parametrize(
    ("status", "problems", "args", "message"),
    [
        ("CANCELLED", [], ["release"], "cannot be released: it is already CANCELLED"),
        ("NEW", [], ["release"], "cannot be released: it is NEW, not held"),
        ("NEW", [], ["close"], "cannot be closed: it is NEW (close is for a HOLDING order"),
        ("DESPATCHED", [], ["hold", "--reason", "x"], "cannot be held: it is already DESPATCHED"),
        ("CANCELLED", [], ["hold", "--reason", "x"], "cannot be held: it is already CANCELLED"),
        ("DESPATCHED", [], ["cancel", "--reason", "x"], "cannot be cancelled: it is already DES"),
        ("CANCELLED", [], ["cancel", "--reason", "x"], "cannot be cancelled: it is already CANC"),
        ("DESPATCHED", [], ["close"], "cannot be closed: it is already DESPATCHED"),
        ("HOLDING", ["manual_hold"], ["hold", "--reason", "x"], "is already on hold"),
        (
            "HOLDING",
            ["unknown_sku:NOPE"],
            ["release"],
            "held only for unknown_sku:NOPE, which a release cannot clear",
        ),
    ],
)
def test_what_makes_no_sense_is_refused_in_one_line(run, store, status, problems, args, message):
    insert_order(store, order_number="SQ-1", status=status, problems=problems)

    result = run("orders", args[0], "SQ-1", *args[1:])

    assert result.exit_code == 1
    assert result.stderr.startswith("sqsync: error: order SQ-1 ")
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert status_of(store, "SQ-1") == (status, problems)  # nothing written
    assert json.loads(run("orders", "show", "SQ-1").stdout)["actions"] == []


def test_hold_and_cancel_need_a_reason_and_a_reason_is_one_line(run, store):
    insert_order(store, order_number="SQ-1")
    assert run("orders", "hold", "SQ-1").exit_code == 2
    assert run("orders", "cancel", "SQ-1").exit_code == 2
    blank = run("orders", "hold", "SQ-1", "--reason", "  ")
    assert blank.exit_code == 2 and "hold needs a reason" in blank.stderr
    two_lines = run("orders", "hold", "SQ-1", "--reason", "a\nb")
    assert two_lines.exit_code == 1 and "one line" in two_lines.stderr
    assert status_of(store, "SQ-1") == ("NEW", [])


def test_release_keeps_an_order_held_for_what_its_data_gives_it(run, store):
    insert_order(
        store,
        order_number="SQ-1",
        status="HOLDING",
        problems=["unknown_sku:NOPE", "manual_hold", "fulfilled_in_squarespace"],
    )
    # A release undoes the hold only: fulfilled_in_squarespace (the shop shipped it while
    # it was held) still holds it, or the warehouse would ship it a second time.
    result = run("orders", "release", "SQ-1")
    assert result.exit_code == 0, result.output
    assert "still held for unknown_sku:NOPE fulfilled_in_squarespace" in result.stderr
    assert "release it again to clear fulfilled_in_squarespace" in result.stderr
    assert status_of(store, "SQ-1") == ("HOLDING", ["unknown_sku:NOPE", "fulfilled_in_squarespace"])

    # Released again, on purpose: now it is cleared; the SKU still holds it.
    again = run("orders", "release", "SQ-1")
    assert again.exit_code == 0, again.output
    assert status_of(store, "SQ-1") == ("HOLDING", ["unknown_sku:NOPE"])


def test_an_order_number_of_two_clients_needs_client(run, store):
    insert_order(store, order_number="SQ-7", client="ACME")
    insert_order(store, order_number="SQ-7", client="BETA", connection="beta")

    result = run("orders", "hold", "SQ-7", "--reason", "check")
    assert result.exit_code == 2
    assert "several clients (ACME, BETA); give --client" in result.stderr

    chosen = run("orders", "hold", "SQ-7", "--client", "BETA", "--reason", "check")
    assert chosen.exit_code == 0, chosen.output
    assert status_of(store, "SQ-7", "BETA") == ("HOLDING", ["manual_hold"])
    assert status_of(store, "SQ-7", "ACME") == ("NEW", [])


def test_an_unknown_order_is_one_line(run, store):
    result = run("orders", "cancel", "SQ-404", "--reason", "x")
    assert result.exit_code == 1
    assert result.stderr == "sqsync: error: order SQ-404 not found\n"


def test_the_audit_row_has_the_os_user_and_the_injected_time(store):
    insert_order(store, order_number="SQ-1")
    act(
        store,
        "hold",
        "SQ-1",
        reason="check",
        user="grace",
        clock=lambda: datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    )
    [row] = store.conn.execute('SELECT "user", created_at FROM order_actions').fetchall()
    assert tuple(row) == ("grace", "2026-03-01T09:30:00.000Z")
    with pytest.raises(InputError):
        act(store, "release", "SQ-404")


def test_current_user_falls_back_when_getuser_fails(monkeypatch):
    def no_user() -> str:
        raise OSError("no username")

    monkeypatch.setattr(order_actions.getpass, "getuser", no_user)
    assert current_user().startswith("uid ")
    monkeypatch.setattr(order_actions.getpass, "getuser", lambda: "ada")
    assert current_user() == "ada"


# -- holds and cancellations across imports (end to end) ---------------------------------


def test_a_manual_hold_survives_imports_and_squarespace_updates(shop):
    sq_id, number = shop.imported()
    assert shop.cli("orders", "hold", number, "--reason", "fraud check").exit_code == 0

    shop.import_orders()  # re-evaluation of HOLDING orders: nothing releases it
    shop.emu.update_order(sq_id, customerEmail="new@example.com")
    line = shop.import_orders()

    assert line["updated"] == 1 and line["released"] == 0
    order = shop.order(number)
    assert (order["status"], order["problems"]) == ("HOLDING", ["manual_hold"])
    assert order["customer_email"] == "new@example.com"

    assert shop.cli("orders", "release", number).exit_code == 0
    shop.import_orders()
    assert shop.order(number)["status"] == "NEW"


def test_a_held_order_cancelled_in_squarespace_becomes_cancelled(shop):
    sq_id, number = shop.imported()
    shop.cli("orders", "hold", number, "--reason", "fraud check")
    shop.emu.update_order(sq_id, fulfillmentStatus="CANCELED")

    assert shop.import_orders()["cancelled"] == 1
    assert shop.order(number)["status"] == "CANCELLED"


def test_a_manual_cancel_survives_squarespace_updates(shop):
    sq_id, number = shop.imported()
    assert shop.cli("orders", "cancel", number, "--reason", "duplicate").exit_code == 0
    shop.emu.update_order(sq_id, customerEmail="new@example.com")

    line = shop.import_orders()

    assert line["unchanged"] == 1
    assert shop.order(number)["status"] == "CANCELLED"
    assert shop.emu.orders[sq_id]["fulfillmentStatus"] == "PENDING"  # never pushed


def test_a_closed_order_stays_closed(shop):
    sq_id, number = shop.imported()
    shop.emu.update_order(sq_id, fulfillmentStatus="FULFILLED")
    shop.import_orders()
    assert shop.order(number)["problems"] == ["fulfilled_in_squarespace"]

    assert shop.cli("orders", "close", number).exit_code == 0
    shop.emu.update_order(sq_id, customerEmail="new@example.com")
    shop.import_orders()

    assert shop.order(number)["status"] == "CANCELLED"


# -- the import's warning when it holds an order ------------------------------------------


def test_an_order_put_on_hold_is_one_warning_under_quiet_only_once(shop):
    sq_id = shop.add("NEW-MUG")
    first = shop.import_orders(quiet=True)
    assert first["held"] == 1
    number = shop.number(sq_id)
    assert shop.stderr == f"acme: order {number} is HOLDING: unknown_sku:NEW-MUG\n"

    shop.import_orders(quiet=True)  # still held for the same reason: no mail
    assert shop.stderr == ""
    shop.emu.update_order(sq_id, customerEmail="new@example.com")
    shop.import_orders(quiet=True)
    assert shop.stderr == ""


def test_a_held_order_with_a_new_problem_is_one_more_warning(shop):
    sq_id = shop.add("NEW-MUG")
    shop.import_orders(quiet=True)
    shop.emu.update_order(sq_id, fulfillmentStatus="FULFILLED")

    shop.import_orders(quiet=True)

    number = shop.number(sq_id)
    assert shop.stderr == (
        f"acme: order {number} is still HOLDING, now also for fulfilled_in_squarespace\n"
    )


def test_an_order_held_on_update_warns_once(shop):
    sq_id, number = shop.imported()
    shop.emu.update_order(sq_id, paymentState="REFUNDED")
    shop.import_orders(quiet=True)
    assert shop.stderr == f"acme: order {number} is HOLDING: payment_state:REFUNDED\n"
    shop.import_orders(quiet=True)
    assert shop.stderr == ""


def test_a_run_holding_many_orders_names_the_first_and_sums_up_the_rest(shop):
    for _ in range(MAX_HOLD_WARNINGS + 3):
        shop.add("NEW-MUG")
    shop.import_orders(quiet=True)
    lines = shop.stderr.splitlines()
    assert len(lines) == MAX_HOLD_WARNINGS + 1
    assert lines[-1].startswith("acme: and 3 more orders newly HOLDING")


def test_a_dry_run_does_not_warn(shop):
    shop.add("NEW-MUG")
    result = shop.cli("--quiet", "import-orders", "--dry-run")
    assert result.exit_code == 0 and result.stderr == ""


def test_listing_holding_orders_shows_the_hold(shop):
    _, number = shop.imported()
    shop.cli("orders", "hold", number, "--reason", "check")
    with shop.store() as store:
        [held] = list(iter_order_dicts(store, "HOLDING"))
    assert (held["order_number"], held["problems"]) == (number, ["manual_hold"])


def test_a_warning_lists_several_problems_as_status_check_does(shop):
    order = shop.emu.make_order(sku="NEW-MUG")
    cup = {**order["lineItems"][0], "id": "line-cup", "sku": "NEW-CUP"}
    sq_id = shop.emu.add_order({**order, "lineItems": [*order["lineItems"], cup]})

    shop.import_orders(quiet=True)

    number = shop.number(sq_id)
    line = shop.stderr.strip()
    assert line.startswith(f"acme: order {number} is HOLDING: unknown_sku:")
    problems = line.partition("is HOLDING: ")[2]
    assert sorted(problems.split(", ")) == ["unknown_sku:NEW-CUP", "unknown_sku:NEW-MUG"]
    check = shop.cli("status", "--check")
    assert f"order {number} is HOLDING: {problems}" in check.stdout
