"""sync-stock end to end: the CLI against the emulator over loopback HTTP, one test per rule
of issue 4 (the rule number is in each test's docstring)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from factories import FactoryRunner, count_in_bulk, insert_order, record_import, write_config
from sqsync.cli import cli
from sqsync.config import Connection, load_config
from sqsync.emulator import Emulator, EmulatorState
from sqsync.jobs import runner
from sqsync.squarespace import Client
from sqsync.store import Store, adjustments
from sqsync.store.stock import set_on_hand

ADJUST = "/1.0/commerce/inventory/adjustments"
PAGES = "/1.0/commerce/inventory"
BY_IDS = "/1.0/commerce/inventory/{ids}"


def no_wait_client(connection: Connection, **overrides: Any) -> Client:
    """The job's client with retries that do not sleep and pacing off (tests never wait)."""
    overrides = {"sleep": lambda seconds: None, "rate_limit_per_minute": 0, **overrides}
    return Client(connection.api_key(), base_url=connection.api_url, **overrides)


class Shop:
    """One Squarespace site (the emulator), one warehouse store and a config joining them."""

    def __init__(self, emu: Emulator, tmp_path: Path, **connection: Any) -> None:
        self.emu = emu
        self.config = write_config(tmp_path, api_url=emu.url, stock_sync=True, **connection)
        self.store_path = load_config(self.config).store_path
        with Store.open(self.store_path) as store:
            record_import(store)  # a stock sync waits for the first successful import

    def stock(self, sku: str, on_hand: int) -> None:
        self.stocks({sku: on_hand})

    def stocks(self, on_hand: dict[str, int]) -> None:
        with Store.open(self.store_path) as store, store.transaction() as conn:
            for sku, quantity in on_hand.items():
                set_on_hand(conn, "ACME", "MAIN", sku, quantity)

    def order(self, sku: str, quantity: int, status: str = "NEW") -> None:
        with Store.open(self.store_path) as store:
            insert_order(store, status=status, items=[(sku, quantity)])

    def variant(self, sku: str | None, quantity: int, unlimited: bool = False) -> str:
        return self.emu.add_variant(sku, quantity, unlimited)

    def qty(self, variant_id: str) -> int:
        return self.emu.inventory[variant_id]["quantity"]

    def journal(self, state: str | None = None) -> list[adjustments.JournalEntry]:
        with Store.open(self.store_path) as store:
            return adjustments.entries(store, "acme", state)

    def run(self, *args: str, code: int = 0, verbose: bool = False) -> Result:
        root = ["--config", str(self.config), *(["-v"] if verbose else [])]
        result = FactoryRunner(no_wait_client).invoke(cli, [*root, "sync-stock", *args])
        assert result.exit_code == code, (result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        return result

    def run_json(self, *args: str, code: int = 0) -> dict[str, Any]:
        lines = self.run("--json", *args, code=code).stdout.splitlines()
        assert len(lines) == 1, lines
        return json.loads(lines[0])

    def posts(self) -> int:
        return self.emu.stats.count("POST", ADJUST)

    def pages(self) -> int:
        return self.emu.stats.count("GET", PAGES)


@pytest.fixture
def shop(make_emulator, tmp_path, monkeypatch) -> Iterator[Shop]:
    emu = make_emulator(EmulatorState())
    monkeypatch.setenv("ACME_KEY", emu.api_key)
    yield Shop(emu, tmp_path)


def sell_on_post(emu: Emulator, variant_id: str, qty: int = 1, times: int = 1) -> None:
    """A customer buys ``qty`` just before each of the next ``times`` adjustments arrives."""
    left = [times]

    def hook(method: str, path: str) -> None:
        if method == "POST" and path == ADJUST and left[0] > 0:
            left[0] -= 1
            emu.sell(variant_id, qty)

    emu.before_request = hook


# -- rule 1: availability ----------------------------------------------------------------


def test_target_is_on_hand_less_new_and_holding_orders_less_buffer(
    make_emulator, tmp_path, monkeypatch
):
    """Rule 1: available = on_hand - allocated (NEW + HOLDING) - stock_buffer, floored at 0."""
    emu = make_emulator(EmulatorState())
    monkeypatch.setenv("ACME_KEY", emu.api_key)
    shop = Shop(emu, tmp_path, stock_buffer=2)
    shop.stock("RED-S", 10)
    shop.stock("BLUE-S", 3)
    shop.order("RED-S", 2, "NEW")
    shop.order("RED-S", 1, "HOLDING")
    shop.order("RED-S", 4, "DESPATCHED")  # shipped: no longer allocated
    shop.order("RED-S", 4, "CANCELLED")
    shop.order("BLUE-S", 2)  # 3 - 2 - 2 < 0: floored
    red, blue = shop.variant("RED-S", 0), shop.variant("BLUE-S", 7)

    report = shop.run_json()

    assert (shop.qty(red), shop.qty(blue)) == (10 - 2 - 1 - 2, 0)
    assert report["ok"] and report["adjusted"] == 2


# -- rule 2: what is read and what is left alone -----------------------------------------


def test_unlimited_and_unmatched_variants_are_never_touched(shop):
    """Rule 2: unlimited stays unlimited; no SKU / unknown SKU untouched and listed."""
    shop.stock("RED-S", 5)
    unlimited = shop.variant("RED-S", 9, unlimited=True)
    no_sku = shop.variant(None, 4)
    unknown = shop.variant("GHOST-1", 4)
    tracked = shop.variant("RED-S", 1)

    result = shop.run("--json", verbose=True)
    report = json.loads(result.stdout)

    assert shop.emu.inventory[unlimited]["isUnlimited"] is True
    assert shop.qty(unlimited) == 9
    assert (shop.qty(no_sku), shop.qty(unknown), shop.qty(tracked)) == (4, 4, 5)
    assert (report["unlimited"], report["unmatched"], report["adjusted"]) == (1, 2, 1)
    assert sorted(report["unmatched_variants"], key=lambda u: u["variant_id"]) == sorted(
        [{"variant_id": no_sku, "sku": None}, {"variant_id": unknown, "sku": "GHOST-1"}],
        key=lambda u: u["variant_id"],
    )
    # -v lists each unmatched variant on stderr
    assert no_sku in result.stderr and unknown in result.stderr and "GHOST-1" in result.stderr


def test_sku_aliases_map_squarespace_skus_to_warehouse_skus(make_emulator, tmp_path, monkeypatch):
    """Rule 2: a variant's SKU is mapped through sku_aliases before the warehouse lookup."""
    emu = make_emulator(EmulatorState())
    monkeypatch.setenv("ACME_KEY", emu.api_key)
    shop = Shop(emu, tmp_path, sku_aliases={"SQ-RED-SMALL": "RED-S"})
    shop.stock("RED-S", 6)
    aliased = shop.variant("SQ-RED-SMALL", 2)

    report = shop.run_json()

    assert shop.qty(aliased) == 6
    assert report["unmatched"] == 0


def test_two_variants_with_one_sku_both_get_the_target_with_a_warning(shop):
    """Rule 2: duplicates each advertise the full amount and are reported."""
    shop.stock("RED-S", 8)
    first, second = shop.variant("RED-S", 1), shop.variant("RED-S", 20)

    result = shop.run("--json")
    report = json.loads(result.stdout)

    assert (shop.qty(first), shop.qty(second)) == (8, 8)
    assert report["duplicate_sku"] == 1
    assert sorted(report["duplicate_skus"]["RED-S"]) == sorted([first, second])
    assert "RED-S" in result.stderr and "full available quantity" in result.stderr


# -- rule 3: relative operations ---------------------------------------------------------


def test_a_sale_between_the_read_and_the_adjustment_stays_counted(shop):
    """Rule 3: increments/decrements, never setFinite: the concurrent sale is not overwritten."""
    shop.stock("RED-S", 10)
    shop.stock("BLUE-S", 2)
    red, blue = shop.variant("RED-S", 4), shop.variant("BLUE-S", 6)
    sell_on_post(shop.emu, red)  # red: 4 read, 3 by the time +6 arrives

    shop.run()

    assert shop.qty(red) == 10 - 1
    assert shop.qty(blue) == 2


# -- rule 4: batches ---------------------------------------------------------------------


def test_at_most_50_operations_per_request(shop):
    """Rule 4: 120 changes go out as 3 requests (50 + 50 + 20), each applied once."""
    shop.stocks({f"SKU-{n:03d}": 5 for n in range(120)})
    for n in range(120):
        shop.variant(f"SKU-{n:03d}", n % 2 * 10)  # half increments, half decrements

    report = shop.run_json()

    assert shop.posts() == 3
    assert shop.emu.stats.adjustments_applied == 3
    assert report["adjusted"] == 120
    assert all(item["quantity"] == 5 for item in shop.emu.inventory.values())
    assert [e.operations for e in shop.journal("applied")] == [50, 50, 20]


# -- rule 5: the journal, 409s and other errors ------------------------------------------


def test_each_batch_is_journalled_with_its_key_before_it_is_sent(shop):
    """Rule 5: at the moment of the POST the batch and its key are already committed."""
    shop.stock("RED-S", 3)
    red = shop.variant("RED-S", 0)
    seen: list[list[adjustments.JournalEntry]] = []

    def hook(method: str, path: str) -> None:
        if method == "POST":
            seen.append(shop.journal())

    shop.emu.before_request = hook
    shop.run()

    assert len(seen) == 1 and len(seen[0]) == 1
    (entry,) = seen[0]
    assert entry.state == "pending" and entry.increments == ((red, 3),)
    assert len(entry.idempotency_key) >= 32
    assert [e.state for e in shop.journal()] == ["applied"]


def test_insufficient_stock_is_reread_and_resent_once_under_a_new_key(shop):
    """Rule 5: 409 INSUFFICIENT_STOCK -> superseded, re-read by id, recomputed, new key."""
    shop.stock("RED-S", 5)
    red = shop.variant("RED-S", 10)  # plan: decrement 5
    sell_on_post(shop.emu, red, qty=8)  # 2 left: the decrement of 5 is refused

    report = shop.run_json()

    assert shop.qty(red) == 5  # 2 + 3 from the recomputed batch
    assert report["ok"] and report["adjusted"] == 1
    first, second = shop.journal()
    assert (first.state, second.state) == ("superseded", "applied")
    assert "INSUFFICIENT_STOCK" in (first.error or "")
    assert first.decrements == ((red, 5),) and second.increments == ((red, 3),)
    assert second.replaces == first.id and second.idempotency_key != first.idempotency_key
    assert shop.emu.stats.count("GET", BY_IDS) == 1
    assert shop.posts() == 2


def test_a_batch_refused_again_after_the_reread_is_failed_and_reported(shop):
    """Rule 5: the recomputed batch is sent once only; refused again -> failed, exit 1."""
    shop.stock("RED-S", 0)
    red = shop.variant("RED-S", 10)
    sell_on_post(shop.emu, red, qty=1, times=2)  # every decrement is one too many

    result = shop.run("--json", code=1)
    report = json.loads(result.stdout)

    assert not report["ok"] and report["failed"] == 1
    assert "refused" in report["error"] and "INSUFFICIENT_STOCK" in report["error"]
    assert [e.state for e in shop.journal()] == ["superseded", "failed"]
    assert shop.posts() == 2
    # the next run starts from a fresh read and gets there
    shop.emu.before_request = None
    shop.run()
    assert shop.qty(red) == 0


def test_a_batch_refused_with_a_400_fails_the_job_and_keeps_every_count(shop):
    """Issue 12: a variant left unadjusted by a 4xx is work left undone: ok false, exit 1,
    one error line, and the counts of what the run did all still reported."""
    from sqsync.emulator.wire import ApiError

    shop.stock("RED-S", 5)
    shop.stock("BLUE-S", 2)
    red = shop.variant("RED-S", 1)
    shop.variant("BLUE-S", 2)

    def hook(method: str, path: str) -> None:
        if method == "POST" and path == ADJUST:
            raise ApiError(400, "variant is archived.", "INVALID_ARGUMENT")

    shop.emu.before_request = hook

    report = shop.run_json(code=1)

    assert report["ok"] is False
    assert report["error"].startswith("1 stock adjustment was refused by Squarespace")
    assert "variant is archived." in report["error"] and "\n" not in report["error"]
    assert (report["failed"], report["adjusted"], report["unchanged"]) == (1, 0, 1)
    # inventory, the orders up to after it, the refused POST, one read by id: not deleted
    assert report["requests"] == 4
    assert [e.state for e in shop.journal()] == ["failed"]
    assert shop.qty(red) == 1


@pytest.mark.parametrize("applied", [False, True], ids=["not-applied", "applied"])
def test_a_5xx_after_every_retry_is_settled_by_a_fresh_read_never_resent_stale(shop, applied):
    """Issue 13: a 5xx is Squarespace's final answer to that attempt, so nothing of it is
    in flight: the batch is failed for this run (exit 1), nothing is left pending to be
    resent with a stale delta, and the next run's fresh read plans from what is really
    there, whether the failing attempt was applied or not."""
    shop.stock("RED-S", 7)
    red = shop.variant("RED-S", 2)
    # every answer is a 503; with ``applied`` the first attempt changed the stock anyway
    shop.emu.faults.add("POST", ADJUST, kind="503", count=1, after_apply=applied)
    shop.emu.faults.add("POST", ADJUST, kind="503", count=4)

    result = shop.run("--json", code=1)

    assert "503" in json.loads(result.stdout)["error"]
    assert "sqsync: error" not in result.stdout
    assert [e.state for e in shop.journal()] == ["failed"]
    assert shop.qty(red) == (7 if applied else 2)

    report = shop.run_json()

    assert (report["resent"], report["adjusted"]) == (0, 0 if applied else 1)
    assert shop.qty(red) == 7
    assert shop.emu.stats.adjustments_applied == 1


def test_a_dropped_answer_is_retried_with_the_same_key(shop):
    """Rule 5: the client's own retry reuses the key: applied once, replayed once."""
    shop.stock("RED-S", 4)
    red = shop.variant("RED-S", 1)
    shop.emu.faults.add("POST", ADJUST, kind="drop", after_apply=True)

    shop.run()

    assert shop.qty(red) == 4
    assert shop.emu.stats.adjustments_applied == 1 and shop.emu.stats.idempotent_replays == 1


def _kill_child_on_post(emu: Emulator, child: list[subprocess.Popen], *, apply: bool) -> None:
    """SIGKILL the sqsync process when its first adjustment arrives; with ``apply`` the
    server still applies it (the answer goes nowhere), else it is refused before applying."""

    def hook(method: str, path: str) -> None:
        if method == "POST" and path == ADJUST and child:
            os.kill(child.pop().pid, signal.SIGKILL)
            if not apply:
                raise ConnectionAbortedError("the client died before the request arrived")

    emu.before_request = hook


@pytest.mark.parametrize("applied_before_crash", [False, True], ids=["before-send", "after-send"])
def test_a_crash_after_journalling_is_finished_exactly_once_by_the_next_run(
    shop, applied_before_crash
):
    """Rule 5: SIGKILL with a batch journalled (not yet arrived / already applied); the
    rerun resends the same key and Squarespace ends at the target, applied exactly once."""
    shop.stock("RED-S", 9)
    shop.stock("BLUE-S", 1)
    red, blue = shop.variant("RED-S", 3), shop.variant("BLUE-S", 5)
    child: list[subprocess.Popen] = []
    _kill_child_on_post(shop.emu, child, apply=applied_before_crash)
    process = subprocess.Popen(
        [sys.executable, "-m", "sqsync", "--config", str(shop.config), "sync-stock"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    child.append(process)
    assert process.wait(timeout=30) == -signal.SIGKILL
    (entry,) = shop.journal()
    assert entry.state == "pending"
    applied = shop.emu.stats.adjustments_applied
    assert applied == (1 if applied_before_crash else 0)
    shop.emu.before_request = None

    report = shop.run_json()

    assert (shop.qty(red), shop.qty(blue)) == (9, 1)
    assert report["resent"] == 1 and report["adjusted"] == 0
    assert shop.emu.stats.adjustments_applied == 1
    assert shop.emu.stats.idempotent_replays == (1 if applied_before_crash else 0)
    assert [e.state for e in shop.journal()] == ["applied"]
    assert shop.posts() == 2


# -- rule 6: nothing changed -------------------------------------------------------------


def test_a_sync_with_nothing_changed_only_reads_the_inventory_pages(shop):
    """Rule 6: no adjustment request: the inventory pages and the one orders request
    that brings allocations up to after the read (issue 13)."""
    shop.stocks({f"SKU-{n:02d}": n for n in range(60)})
    for n in range(60):
        shop.variant(f"SKU-{n:02d}", n)
    shop.variant("UNKNOWN", 3)
    shop.variant("SKU-01", 5, unlimited=True)

    report = shop.run_json()

    assert report["requests"] == 3 == shop.emu.stats.requests == shop.pages() + 1
    assert shop.emu.stats.count("GET", "/1.0/commerce/orders") == 1
    assert shop.posts() == 0 and report["unchanged"] == 60
    assert shop.journal() == []


def test_stock_waits_while_the_last_import_failed(shop):
    # Orders a failed import did not bring in allocate nothing yet: pushing stock now would
    # advertise units customers have already bought. Once an import succeeds, it goes.
    shop.stock("RED-S", 5)
    red = shop.variant("RED-S", 1)
    note_import(shop, "failed")

    result = shop.run(code=1)

    assert "not run: the last import-orders failed" in result.stderr
    assert shop.emu.stats.requests == 0 and shop.qty(red) == 1

    note_import(shop, "ok")
    shop.run()
    assert shop.qty(red) == 5


def note_import(shop: Shop, outcome: str) -> None:
    with Store.open(shop.store_path) as store:
        record_import(store, "acme", outcome)


# -- rule 7: which connections -----------------------------------------------------------


def test_only_connections_with_stock_sync_are_synced_and_naming_another_is_refused(
    make_emulator, tmp_path, monkeypatch
):
    """Rule 7: no -c -> stock_sync = true ones; -c a stock_sync = false one -> exit 2."""
    emu = make_emulator(EmulatorState())
    monkeypatch.setenv("ACME_KEY", emu.api_key)
    base = {"client": "ACME", "warehouse": "MAIN", "api_url": emu.url, "api_key_env": "ACME_KEY"}
    config = write_config(
        tmp_path,
        connections=[
            {"name": "acme", "stock_sync": True, **base},
            {"name": "other", "stock_sync": False, "order_prefix": "O-", **base},
        ],
    )
    with Store.open(load_config(config).store_path) as store:
        record_import(store)
        record_import(store, "other")  # it sells the same stock: its import counts too
    runner_ = FactoryRunner(no_wait_client)

    synced = runner_.invoke(cli, ["--config", str(config), "sync-stock", "--json"])
    refused = runner_.invoke(cli, ["--config", str(config), "sync-stock", "-c", "other"])

    assert synced.exit_code == 0, synced.stderr
    assert [json.loads(line)["connection"] for line in synced.stdout.splitlines()] == ["acme"]
    assert refused.exit_code == 2
    assert refused.stderr.startswith("sqsync: error: ")
    assert "other" in refused.stderr and "stock_sync = false" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


# -- rule 8: a key without Inventory permission -----------------------------------------


@pytest.mark.parametrize("inventory", [None, "r"], ids=["no-inventory", "inventory-read-only"])
def test_a_key_without_inventory_write_says_a_new_key_is_needed(shop, monkeypatch, inventory):
    """Rule 8: 403 -> one line: keys cannot gain permissions, make one with Inventory R&W."""
    shop.emu.add_key("orders-only-key", orders="rw", inventory=inventory)
    monkeypatch.setenv("ACME_KEY", "orders-only-key")
    shop.stock("RED-S", 2)
    red = shop.variant("RED-S", 0)

    result = shop.run(code=1)

    assert "403" in result.stderr
    assert "cannot be changed" in result.stderr and "Inventory Read & Write" in result.stderr
    assert "orders-only-key" not in result.stderr + result.stdout
    assert shop.qty(red) == 0
    assert shop.posts() == (1 if inventory == "r" else 0)


# -- rule 9: --dry-run and --json ------------------------------------------------------


def test_dry_run_lists_the_plan_and_sends_nothing(shop):
    """Rule 9: a table of sku, variant, from, to on stdout; no POST, no journal row."""
    shop.stock("RED-S", 5)
    shop.stock("BLUE-S", 0)
    red, blue = shop.variant("RED-S", 1), shop.variant("BLUE-S", 3)
    shop.variant("GREEN-S", 3)

    table = shop.run("--dry-run").stdout
    report = shop.run_json("--dry-run")

    header, _, *rows = table.splitlines()
    assert header.split() == ["connection", "sku", "variant", "from", "to", "rule"]
    assert sorted(row.split() for row in rows) == sorted(
        [
            ["acme", "RED-S", red, "1", "5", "available"],
            ["acme", "BLUE-S", blue, "3", "0", "available"],
        ]
    )
    assert report["dry_run"] is True
    assert sorted(report["planned"], key=lambda p: p["sku"]) == [
        {"sku": "BLUE-S", "variant_id": blue, "from": 3, "to": 0, "rule": "available"},
        {"sku": "RED-S", "variant_id": red, "from": 1, "to": 5, "rule": "available"},
    ]
    assert shop.posts() == 0 and shop.journal() == []
    assert (shop.qty(red), shop.qty(blue)) == (1, 3)


def test_json_reports_every_count_and_the_requests(shop):
    """Rule 9: adjusted, unchanged, unlimited, unmatched, duplicate_sku and requests."""
    shop.stock("RED-S", 5)
    shop.stock("BLUE-S", 2)
    shop.variant("RED-S", 1)
    shop.variant("RED-S", 5)
    shop.variant("BLUE-S", 2)
    shop.variant("BLUE-S", 0, unlimited=True)
    shop.variant(None, 1)

    report = shop.run_json()

    expected = {"adjusted": 1, "unchanged": 2, "unlimited": 1, "unmatched": 1, "duplicate_sku": 1}
    assert {key: report[key] for key in expected} == expected
    assert report["requests"] == 3  # one page, one orders request, one adjustment
    assert report["connection"] == "acme" and report["job"] == "sync-stock"


# -- performance -------------------------------------------------------------------------


def _big_shop(variants: int, changed_every: int) -> tuple[EmulatorState, dict[str, int]]:
    """A site with ``variants`` tracked variants and the warehouse agreeing except on every
    ``changed_every``-th one (+3)."""
    inventory, on_hand = [], {}
    for n in range(variants):
        sku = f"SKU-{n:06d}"
        inventory.append(
            {
                "variantId": f"v{n:06d}",
                "sku": sku,
                "descriptor": sku,
                "isUnlimited": False,
                "quantity": n % 97,
            }
        )
        on_hand[sku] = n % 97 + (3 if n % changed_every == 0 else 0)
    return EmulatorState(inventory=inventory), on_hand


def test_20000_variants_with_2_percent_changed_take_400_pages_and_8_adjustments(
    make_emulator, tmp_path, monkeypatch
):
    """Performance: the minimum requests (pages of 50, batches of 50); wall time: bench/."""
    state, on_hand = _big_shop(20_000, 50)
    emu = make_emulator(state)
    monkeypatch.setenv("ACME_KEY", emu.api_key)
    shop = Shop(emu, tmp_path)
    with Store.open(shop.store_path) as store:
        count_in_bulk(store, "ACME", "MAIN", on_hand)
    connection = load_config(shop.config).connections[0]
    with Store.open(shop.store_path) as store:
        result = runner.run_job("sync-stock", connection, store, client=no_wait_client(connection))

    assert result.ok, result.error
    assert (shop.pages(), shop.posts()) == (400, 8)
    assert result.requests == 409 and result.counts["adjusted"] == 400  # + 1 orders request
    final = emu.inventory  # a copy of the whole shop: take it once
    assert all(final[f"v{n:06d}"]["quantity"] == on_hand[f"SKU-{n:06d}"] for n in range(20_000))
