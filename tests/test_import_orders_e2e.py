"""`sqsync import-orders` end to end: the CLI against the emulator over loopback, rule by rule.

Each test shapes the Squarespace shop through the emulator's helpers, runs the command
(``--json``) and checks the store and the counts it reports.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from pydantic.alias_generators import to_camel

from factories import DEFAULT_CONNECTION, insert_order, write_config
from sqsync.cli import cli
from sqsync.config import load_config
from sqsync.domain.orders import ADDRESS_FIELDS
from sqsync.emulator import Emulator
from sqsync.jobs.import_orders import WINDOW_END_KEY
from sqsync.store import Store
from sqsync.store.catalog import ensure_ids, ensure_product
from sqsync.store.database import utc_text
from sqsync.store.orders import find_orders, iter_order_dicts
from sqsync.store.stock import stock_rows

UK = {"uk": ["GB", "IM", "JE", "GG"]}


class Shop:
    """The emulator, a config pointing at it, and the CLI."""

    def __init__(self, tmp_path: Path, emulator: Emulator) -> None:
        self.tmp_path = tmp_path
        self.emu = emulator
        self.configure()

    def configure(self, connections: list[dict[str, Any]] | None = None, **overrides: Any) -> None:
        options = {"api_url": self.emu.url, "order_prefix": "SQ-", **overrides}
        if connections is not None:
            connections = [{**DEFAULT_CONNECTION, **options, **c} for c in connections]
        self.path = write_config(
            self.tmp_path, connections=connections, shipping_zones=UK, **options
        )

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["--config", str(self.path), *args])

    def import_orders(self, *args: str, connections: int = 1) -> dict[str, Any]:
        result = self.cli("import-orders", "--json", *args)
        assert result.exit_code == 0, result.output
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert len(lines) == connections
        self.stderr = result.stderr
        return lines[0]

    def store(self) -> Store:
        return Store.open(load_config(self.path).store_path)

    def know(self, *skus: str, client: str = "ACME") -> None:
        with self.store() as store, store.transaction() as conn:
            client_id, _, _ = ensure_ids(conn, client, "MAIN", "Squarespace")
            for sku in skus:
                ensure_product(conn, client_id, sku)

    def add(self, sku: str = "RED-S", **fields: Any) -> str:
        quantity = fields.pop("quantity", 1)
        return self.emu.add_order(self.emu.make_order(sku=sku, quantity=quantity, **fields))

    def imported(self, status: str | None = None, **fields: Any) -> str:
        """An order already imported (NEW, or set to ``status`` here); its Squarespace id."""
        self.know("RED-S")
        sq_id = self.add(**fields)
        assert self.import_orders()["imported"] == 1
        if status is not None:
            self.sql("UPDATE orders SET status = ? WHERE squarespace_id = ?", status, sq_id)
        return sq_id

    def orders(self) -> list[dict[str, Any]]:
        with self.store() as store:
            return list(iter_order_dicts(store))

    def order(self, squarespace_id: str) -> dict[str, Any]:
        [found] = [o for o in self.orders() if o["squarespace_id"] == squarespace_id]
        return found

    def sql(self, statement: str, *params: Any) -> list[Any]:
        with self.store() as store:
            return [tuple(row) for row in store.conn.execute(statement, params)]


@pytest.fixture
def shop(tmp_path, emulator, monkeypatch) -> Shop:
    monkeypatch.setenv("ACME_KEY", emulator.api_key)
    return Shop(tmp_path, emulator)


def digital_line() -> dict[str, Any]:
    return {
        "id": "digital-1",
        "variantId": None,
        "sku": None,
        "productName": "Pattern PDF",
        "quantity": 1,
        "unitPricePaid": {"value": "6.50", "currency": "GBP"},
        "lineItemType": "DIGITAL",
    }


# -- rules 1 and 3: what a first import takes and what it skips --------------------------


def test_first_import_takes_eligible_pending_orders_and_counts_skips_by_reason(shop):
    shop.configure(shipping_zone="uk", sku_aliases={"SQ-RED-S": "RED-S"})
    shop.know("RED-S")
    good = shop.add("SQ-RED-S", quantity=2)
    shop.add(testmode=True)
    shop.add(paymentState="PENDING")  # hidden by the API's default paymentStates
    shop.add(paymentState="FAILED")
    with_digital = shop.add(
        lineItems=[digital_line(), *shop.emu.make_order(sku="RED-S")["lineItems"]]
    )
    shop.add(lineItems=[digital_line()])
    jersey = shop.add(shippingAddress={"countryCode": "JE", "firstName": "Jo"})
    shop.add(shippingAddress={"countryCode": "FR", "firstName": "Zoe"})
    shop.add(fulfillmentStatus="FULFILLED")  # never asked for by a first import

    line = shop.import_orders()

    assert (line["imported"], line["skipped"], line["failed"]) == (3, 5, 0)
    assert line["skipped_by_reason"] == {
        "testmode": 1,
        "payment_state": 2,
        "no_physical_lines": 1,
        "shipping_zone": 1,
        "not_pending": 0,
    }
    assert line["requests"] == 1
    assert {o["squarespace_id"] for o in shop.orders()} == {good, with_digital, jersey}
    order = shop.order(good)
    number = shop.emu.orders[good]["orderNumber"]
    assert order["order_number"] == f"SQ-{number}"
    assert order["status"] == "NEW"
    assert [(i["sku"], i["channel_sku"], i["quantity"]) for i in order["items"]] == [
        ("RED-S", "SQ-RED-S", 2)
    ]
    assert (order["client"], order["warehouse"], order["channel"]) == (
        "ACME",
        "MAIN",
        "Squarespace",
    )
    # Digital lines are dropped from the imported order.
    assert [i["sku"] for i in shop.order(with_digital)["items"]] == ["RED-S"]


def test_orders_show_has_what_the_import_stored(shop):
    shop.know("RED-S")
    sq_id = shop.add(quantity=2, price="12.50")
    shop.import_orders()
    number = f"SQ-{shop.emu.orders[sq_id]['orderNumber']}"
    result = shop.cli("orders", "show", number, "--format", "json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    source = shop.emu.orders[sq_id]
    assert shown["squarespace_id"] == sq_id
    assert shown["customer_email"] == source["customerEmail"]
    # Every field in its own column (the store writes an address record by position).
    for kind in ("shipping", "billing"):
        sent = source[f"{kind}Address"]
        assert shown[f"{kind}_address"] == {
            field: sent.get(to_camel(field)) for field in ADDRESS_FIELDS
        }
    assert (shown["currency"], shown["total"]) == ("GBP", source["grandTotal"]["value"])
    assert shown["shipping_method"] == source["shippingLines"][0]["method"]
    assert shown["items"][0]["unit_price"] == "12.50"
    assert shown["items"][0]["variant_id"] == source["lineItems"][0]["variantId"]
    assert shown["created_on"] == source["createdOn"]
    assert shown["modified_on"] == source["modifiedOn"]
    assert (shown["fulfillment_status"], shown["payment_state"]) == ("PENDING", "PAID")
    assert shown["imported_at"]


def test_a_skipped_order_is_judged_again_when_it_changes(shop):
    shop.configure(payment_states=["PAID"])
    sq_id = shop.add(paymentState="AUTHORIZED")
    first = shop.import_orders()
    assert first["skipped_by_reason"]["payment_state"] == 1
    assert shop.orders() == []

    shop.emu.update_order(sq_id, paymentState="PAID")
    second = shop.import_orders()

    assert second["imported"] == 1
    assert shop.order(sq_id)["payment_state"] == "PAID"


def test_a_null_payment_state_is_accepted(shop):
    sq_id = shop.add(paymentState=None)
    assert shop.import_orders()["imported"] == 1
    assert shop.order(sq_id)["payment_state"] is None


def test_first_import_starts_at_import_from_and_later_imports_see_every_status(shop):
    shop.configure(import_from="2026-01-01T00:00:00Z")
    old = shop.add()
    shop.emu.update_order(old, modifiedOn="2025-12-31T23:59:59.000Z")
    recent = shop.add()
    fulfilled = shop.add(fulfillmentStatus="FULFILLED")

    first = shop.import_orders()
    assert first["imported"] == 1
    # Windows from import_from, every status: the FULFILLED one is read and skipped.
    assert first["skipped_by_reason"]["not_pending"] == 1
    assert [o["squarespace_id"] for o in shop.orders()] == [recent]

    shop.emu.update_order(fulfilled, customerEmail="changed@example.com")
    second = shop.import_orders()
    assert second["skipped_by_reason"]["not_pending"] == 1  # later imports see it


# -- rule 4: unknown SKUs hold an order until the warehouse knows them --------------------


def test_unknown_sku_holds_the_order_until_a_later_run_finds_it_known(shop):
    sq_id = shop.add("NEW-MUG", quantity=3)
    first = shop.import_orders()
    assert (first["imported"], first["held"]) == (1, 1)
    order = shop.order(sq_id)
    assert (order["status"], order["problems"]) == ("HOLDING", ["unknown_sku:NEW-MUG"])

    result = shop.cli("stock", "set", "NEW-MUG", "10", "--client", "ACME", "--warehouse", "MAIN")
    assert result.exit_code == 0, result.output
    before = shop.emu.stats.requests
    second = shop.import_orders()

    assert second["released"] == 1
    assert shop.emu.stats.requests - before == 1  # the window read only: nothing per order
    order = shop.order(sq_id)
    assert (order["status"], order["problems"]) == ("NEW", [])


def test_the_problem_names_the_warehouse_sku_after_aliasing(shop):
    shop.configure(sku_aliases={"SQ-BLUE": "BLUE-M"})
    sq_id = shop.add("SQ-BLUE")
    shop.import_orders()
    assert shop.order(sq_id)["problems"] == ["unknown_sku:BLUE-M"]


def test_a_held_order_stays_held_while_any_of_its_skus_is_unknown(shop):
    lines = [
        {**shop.emu.make_order(sku="A-1")["lineItems"][0], "id": "l1"},
        {**shop.emu.make_order(sku="B-2")["lineItems"][0], "id": "l2"},
    ]
    sq_id = shop.add(lineItems=lines)
    shop.import_orders()
    shop.know("A-1")
    assert shop.import_orders()["released"] == 0
    assert shop.order(sq_id)["problems"] == ["unknown_sku:B-2"]


# -- rule 5: changes made in Squarespace after the import ---------------------------------


def test_a_changed_order_gets_the_new_address_contact_and_lines(shop):
    shop.know("RED-S", "BLUE-M")
    sq_id = shop.add(quantity=1)
    shop.import_orders()
    lines = shop.emu.make_order(sku="BLUE-M", quantity=4)["lineItems"]
    shop.emu.update_order(
        sq_id,
        customerEmail="new@example.com",
        shippingAddress={"firstName": "Grace", "city": "York", "countryCode": "GB"},
        lineItems=lines,
    )

    line = shop.import_orders()

    assert (line["updated"], line["imported"]) == (1, 0)
    order = shop.order(sq_id)
    assert order["customer_email"] == "new@example.com"
    assert (order["shipping_address"]["first_name"], order["shipping_address"]["city"]) == (
        "Grace",
        "York",
    )
    assert [(i["sku"], i["quantity"]) for i in order["items"]] == [("BLUE-M", 4)]


def test_cancelled_in_squarespace_cancels_here_and_releases_the_allocation(shop):
    shop.cli("stock", "set", "RED-S", "5", "--client", "ACME", "--warehouse", "MAIN")
    sq_id = shop.add(quantity=2)
    shop.import_orders()
    with shop.store() as store:
        assert [(r["allocated"], r["available"]) for r in stock_rows(store)] == [(2, 3)]

    shop.emu.update_order(sq_id, fulfillmentStatus="CANCELED")
    line = shop.import_orders()

    assert line["cancelled"] == 1
    assert shop.order(sq_id)["status"] == "CANCELLED"
    with shop.store() as store:
        assert [(r["allocated"], r["available"]) for r in stock_rows(store)] == [(0, 5)]


def test_fulfilled_in_squarespace_holds_an_undespatched_order(shop):
    sq_id = shop.imported()
    shop.emu.update_order(sq_id, fulfillmentStatus="FULFILLED")

    line = shop.import_orders()

    assert (line["updated"], line["held"]) == (1, 1)
    order = shop.order(sq_id)
    assert (order["status"], order["problems"]) == ("HOLDING", ["fulfilled_in_squarespace"])
    # The problem stays: a release of unknown SKUs never frees this order.
    assert shop.import_orders()["released"] == 0


def test_cancelled_after_despatch_is_flagged_not_cancelled(shop):
    sq_id = shop.imported(status="DESPATCHED")
    shop.emu.update_order(sq_id, fulfillmentStatus="CANCELED")

    shop.import_orders()

    order = shop.order(sq_id)
    assert (order["status"], order["problems"]) == ("DESPATCHED", ["cancelled_in_squarespace"])
    assert "cancelled in Squarespace after it was despatched" in shop.stderr


def test_fulfilled_in_squarespace_after_despatch_is_simply_up_to_date(shop):
    sq_id = shop.imported(status="DESPATCHED")
    shop.emu.update_order(sq_id, fulfillmentStatus="FULFILLED")

    line = shop.import_orders()

    assert (line["unchanged"], line["updated"], line["held"]) == (1, 0, 0)
    order = shop.order(sq_id)
    assert (order["status"], order["problems"]) == ("DESPATCHED", [])
    assert order["fulfillment_status"] == "FULFILLED"


def test_refunded_after_import_holds_the_order_and_a_new_payment_releases_it(shop):
    sq_id = shop.imported()
    shop.emu.update_order(sq_id, paymentState="REFUNDED")
    assert shop.import_orders()["held"] == 1
    assert shop.order(sq_id)["problems"] == ["payment_state:REFUNDED"]
    shop.emu.update_order(sq_id, paymentState="PAID")
    assert shop.import_orders()["released"] == 1
    assert shop.order(sq_id)["status"] == "NEW"


# -- rule 6: never a second order for one Squarespace order -------------------------------


def test_running_again_changes_nothing(shop):
    shop.know("RED-S")
    ids = [shop.add() for _ in range(3)]
    shop.import_orders()
    snapshot = shop.orders()
    # A back-fill re-reads all three: they are unchanged.
    line = shop.import_orders("--since", "2020-01-01")
    assert (line["imported"], line["unchanged"]) == (0, 3)
    assert shop.orders() == snapshot
    assert sorted(o["squarespace_id"] for o in snapshot) == sorted(ids)


# -- rule 7: back-fill and dry run --------------------------------------------------------


def test_since_back_fills_what_the_first_import_left_out(shop):
    shop.configure(import_from="2026-01-01T00:00:00Z")
    old = shop.add()
    shop.emu.update_order(old, modifiedOn="2025-06-01T00:00:00.000Z")
    assert shop.import_orders()["imported"] == 0
    assert shop.import_orders("--since", "2025-05-01T00:00:00Z")["imported"] == 1
    assert [o["squarespace_id"] for o in shop.orders()] == [old]


def test_dry_run_reports_the_same_counts_and_writes_nothing(shop):
    shop.know("RED-S")
    for _ in range(3):
        shop.add()
    shop.add("UNKNOWN")
    shop.add(testmode=True)
    tables = ("orders", "order_items", "sync_state", "run_log")
    before = {t: shop.sql(f"SELECT count(*) FROM {t}")[0][0] for t in tables}

    dry = shop.import_orders("--dry-run")

    assert {t: shop.sql(f"SELECT count(*) FROM {t}")[0][0] for t in tables} == before
    real = shop.import_orders()
    assert dry.pop("dry_run") is True and real.pop("dry_run") is False
    assert dry == real
    assert (real["imported"], real["held"], real["skipped"]) == (4, 1, 1)


def test_dry_run_of_changes_reports_them_without_applying_them(shop):
    sq_id = shop.imported()
    window = shop.sql("SELECT value FROM sync_state")
    shop.emu.update_order(sq_id, fulfillmentStatus="CANCELED")

    assert shop.import_orders("--dry-run")["cancelled"] == 1

    assert shop.order(sq_id)["status"] == "NEW"
    assert shop.sql("SELECT value FROM sync_state") == window


def test_a_bad_since_is_a_usage_error(shop):
    result = shop.cli("import-orders", "--since", "last tuesday")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "sqsync: error: --since 'last tuesday' is not an ISO date or date-time, "
        "e.g. 2026-01-31T09:00:00Z"
    ]


def test_a_since_in_the_future_is_a_usage_error_and_records_no_run(shop):
    result = shop.cli("import-orders", "--since", "2999-01-01")
    assert result.exit_code == 2
    assert "is not in the past" in result.stderr
    assert shop.sql("SELECT count(*) FROM run_log") == [(0,)]


def test_a_since_later_than_the_last_window_does_not_skip_what_lies_between(shop):
    shop.know("RED-S")
    shop.import_orders()
    # The last completed window ended three hours ago (cron was down), and an order
    # changed two hours ago; the operator back-fills "the last hour" only.
    three_hours_ago = datetime.now(UTC) - timedelta(hours=3)
    shop.sql(
        "UPDATE sync_state SET value = ? WHERE key = ?", utc_text(three_hours_ago), WINDOW_END_KEY
    )
    two_hours_ago = utc_text(datetime.now(UTC) - timedelta(hours=2))
    sq_id = shop.add(createdOn=two_hours_ago)
    shop.emu.update_order(sq_id, modifiedOn=two_hours_ago)

    shop.import_orders("--since", utc_text(datetime.now(UTC) - timedelta(hours=1)))
    shop.import_orders()

    assert shop.order(sq_id)["status"] == "NEW"


def test_fulfilled_in_squarespace_holds_the_order_even_when_its_lines_no_longer_map(shop):
    shop.configure(sku_aliases={"var-1": "RED-S"})
    shop.know("RED-S")
    sq_id = shop.add(sku="", variant_id="var-1")
    assert shop.import_orders()["imported"] == 1
    # The alias goes from the config, then the merchant ships the order from Squarespace.
    shop.configure()
    shop.emu.update_order(sq_id, fulfillmentStatus="FULFILLED")

    counts = shop.import_orders()

    order = shop.order(sq_id)
    assert order["status"] == "HOLDING"
    # Its line has no SKU any more: held for that too, and stored, not failed.
    assert order["problems"] == ["no_sku:var-1", "fulfilled_in_squarespace"]
    assert counts["failed"] == 0


# -- rule 8: an order that cannot be mapped never blocks the others -----------------------


def test_unmappable_orders_are_logged_with_their_id_and_the_window_advances(shop):
    shop.know("RED-S")
    good = shop.add()
    broken = shop.add()
    shop.emu.update_order(broken, lineItems=[{"id": "x", "quantity": "lots"}])
    no_sku = shop.add(sku=None)
    taken = shop.add()
    number = f"SQ-{shop.emu.orders[taken]['orderNumber']}"
    with shop.store() as store:  # an order typed in by hand already has this number
        insert_order(store, order_number=number, squarespace_id="typed-in-by-hand")

    result = shop.cli("import-orders", "--json")
    line = json.loads(result.stdout)
    shop.stderr = result.stderr

    # Orders left unstored make the job not ok (exit 1); the others all went in.
    assert result.exit_code == 1
    assert line["ok"] is False
    assert (line["imported"], line["held"], line["failed"], line["unreadable"]) == (2, 1, 1, 1)
    assert shop.order(good)["status"] == "NEW"
    # A line without a SKU is stored HOLDING, naming the line's variant.
    assert shop.order(no_sku)["status"] == "HOLDING"
    assert shop.order(no_sku)["problems"][0].startswith("no_sku:")
    for sq_id in (broken, taken):
        assert sq_id in shop.stderr
    assert f"order number {number} is already used" in shop.stderr
    assert shop.sql("SELECT count(*) FROM sync_state WHERE key = 'import_orders.window_end'") == [
        (1,)
    ]


# -- rule 9 and output: the run log and one JSON line per connection ----------------------


def test_each_run_is_recorded_and_each_connection_reports_one_json_line(shop, monkeypatch):
    monkeypatch.setenv("BETA_KEY", shop.emu.add_key("beta-key"))
    shop.configure(
        connections=[
            {"name": "acme", "client": "ACME", "order_prefix": "A-"},
            {"name": "beta", "client": "BETA", "order_prefix": "B-"},
        ]
    )
    sq_id = shop.add()
    result = shop.cli("import-orders", "--json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(x["connection"], x["job"], x["imported"]) for x in lines] == [
        ("acme", "import-orders", 1),
        ("beta", "import-orders", 1),
    ]
    assert "acme import-orders: imported 1, held 1" in result.stderr
    runs = shop.sql("SELECT connection, job, outcome, counts FROM run_log ORDER BY id")
    assert [(r[0], r[1], r[2], json.loads(r[3])["imported"]) for r in runs] == [
        ("acme", "import-orders", "ok", 1),
        ("beta", "import-orders", "ok", 1),
    ]
    number = shop.emu.orders[sq_id]["orderNumber"]
    with shop.store() as store:
        assert [o["client"] for o in find_orders(store, f"A-{number}")] == ["ACME"]
        assert [o["client"] for o in find_orders(store, f"B-{number}")] == ["BETA"]


def test_a_changed_holding_order_is_updated_and_stays_held(shop):
    shop.know("RED-S")
    sq_id = shop.add(sku="MYSTERY")
    assert shop.import_orders()["held"] == 1
    shop.emu.update_order(sq_id, customerEmail="moved@example.com")

    line = shop.import_orders()

    order = shop.order(sq_id)
    assert line["updated"] == 1
    assert (order["status"], order["problems"]) == ("HOLDING", ["unknown_sku:MYSTERY"])
    assert order["customer_email"] == "moved@example.com"


def test_import_test_orders_takes_testmode_orders_when_configured(shop):
    shop.know("RED-S")
    sq_id = shop.add(testmode=True)
    assert shop.import_orders()["skipped_by_reason"]["testmode"] == 1
    shop.configure(import_test_orders=True)
    shop.emu.update_order(sq_id, customerEmail="again@example.com")  # seen again

    assert shop.import_orders()["imported"] == 1
    assert shop.order(sq_id)["status"] == "NEW"


def test_a_page_is_committed_whole_or_not_at_all(shop, monkeypatch):
    # Page 2 breaks after its 20 orders are inserted, while their items are written (a
    # non-mapping error): page 1 (50 orders) stays committed, none of page 2's orders do,
    # and the window is kept for a rerun.
    from sqsync.store import order_writes

    shop.know("RED-S")
    for _ in range(70):
        shop.add()
    real_insert_items = order_writes.insert_items
    calls = {"n": 0}

    def flaky_insert_items(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise sqlite3.OperationalError("disk I/O error")
        return real_insert_items(*args, **kwargs)

    monkeypatch.setattr(order_writes, "insert_items", flaky_insert_items)
    result = shop.cli("import-orders")
    assert result.exit_code == 1
    assert shop.sql("SELECT count(*) FROM orders") == [(50,)]
    # Only where the first import began (saved with its first page), no window end.
    assert shop.sql("SELECT key FROM sync_state WHERE key LIKE '%window%'") == []
    assert shop.sql("SELECT count(*) FROM sync_state WHERE key LIKE '%first_started'") == [(1,)]

    monkeypatch.setattr(order_writes, "insert_items", real_insert_items)
    assert shop.import_orders()["imported"] == 20
    assert shop.sql("SELECT count(*) FROM orders") == [(70,)]


def test_an_order_with_an_impossible_quantity_is_skipped_not_blocking_the_rest(shop):
    shop.know("RED-S")
    huge = shop.emu.make_order(sku="RED-S")
    huge["lineItems"][0]["quantity"] = 10**20  # would overflow SQLite's integers
    bad_id = shop.emu.add_order(huge)
    good_id = shop.add()

    result = shop.cli("import-orders", "--json")
    line = json.loads(result.stdout)

    assert result.exit_code == 1  # one order was not stored: not ok
    assert (line["imported"], line["unreadable"]) == (1, 1)
    assert shop.order(good_id)["status"] == "NEW"
    assert bad_id in result.stderr
