"""push-despatch never ships twice (issue 14), end to end against the emulator.

- A shipment left ``sending`` is settled only once its request can no longer be in flight
  (the client's longest send plus a margin after its claim); before then a rerun leaves
  it alone (``in_flight``), which does not fail the run.
- A tracking number already on the Squarespace order is never added again, whoever put
  it there, compared without case or spaces; an order FULFILLED in Squarespace by
  someone else gets our tracking without a second email.
- The orders' fulfilments are known before pushing at the cost of one orders listing per
  run, not one request per order.

The job's clock is injected (``push_despatch(..., clock=...)``) where the in-flight window
is measured; the CLI tests move the stored claim back instead. Nothing sleeps.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from factories import FactoryRunner, insert_order, insert_shipment, write_config
from sqsync.cli import cli
from sqsync.config import Connection, load_config
from sqsync.emulator import Emulator
from sqsync.jobs.push_despatch import IN_FLIGHT_MARGIN, in_flight_window, push_despatch
from sqsync.squarespace import Client
from sqsync.store import Store, utc_text
from sqsync.store.stock import set_on_hand

FULFIL = "/1.0/commerce/orders/"
T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def _no_sleep_client(connection: Connection, **overrides: Any) -> Client:
    overrides.setdefault("sleep", lambda seconds: None)
    return Client(connection.api_key(), base_url=connection.api_url, **overrides)


@dataclass
class Shop:
    emu: Emulator
    store: Store
    config: Path

    @property
    def connection(self) -> Connection:
        return load_config(self.config).connections[0]

    def order(
        self, *tracking: str | None, state: str = "pending", **columns: Any
    ) -> tuple[int, str]:
        """A DESPATCHED local order with a shipment per tracking number, matched to a new
        emulator order and knowing its modifiedOn as an import would."""
        sq_id = self.emu.add_order(self.emu.make_order())
        local = insert_order(
            self.store,
            squarespace_id=sq_id,
            status="DESPATCHED",
            sq_modified_on=self.emu.orders[sq_id]["modifiedOn"],
            **columns,
        )
        for number in tracking:
            insert_shipment(self.store, local, tracking_number=number, push_state=state)
        return local, sq_id

    def cli(self, *args: str, input: str | None = None, client_factory: Any = None) -> Any:
        runner = FactoryRunner(client_factory or _no_sleep_client)
        return runner.invoke(cli, ["--config", str(self.config), *args], input=input)

    def push(self, *args: str) -> tuple[Any, dict[str, Any]]:
        result = self.cli("push-despatch", "--json", *args)
        return result, json.loads(result.stdout.splitlines()[0])

    def job(self, at: datetime, **client_options: Any) -> Any:
        """push-despatch called directly at the time ``at`` (the injected clock)."""
        with _no_sleep_client(self.connection, **client_options) as client:
            result = push_despatch(client, self.store, self.connection, clock=lambda: at)
            result.requests = client.request_count
        return result

    def states(self, local: int) -> list[str]:
        rows = self.store.conn.execute(
            "SELECT push_state FROM shipments WHERE order_id = ? ORDER BY id", (local,)
        )
        return [row[0] for row in rows]

    def claims(self, local: int) -> list[str | None]:
        rows = self.store.conn.execute(
            "SELECT claimed_at FROM shipments WHERE order_id = ? ORDER BY id", (local,)
        )
        return [row[0] for row in rows]

    def age_claims(self) -> None:
        """An hour passes for every shipment left sending (the window is under 15 min)."""
        an_hour_ago = utc_text(datetime.now(UTC) - timedelta(hours=1))
        self.store.conn.execute(
            "UPDATE shipments SET claimed_at = ? WHERE push_state = 'sending'", (an_hour_ago,)
        )

    def tracking_on(self, sq_id: str) -> list[str]:
        return [f["trackingNumber"] for f in self.emu.orders[sq_id].get("fulfillments") or []]

    def fulfil_posts(self) -> int:
        return self.emu.stats.count("POST", "/1.0/commerce/orders/{id}/fulfillments")

    def gets(self) -> int:
        return self.emu.stats.count("GET", "/1.0/commerce/orders/{id}")

    def listings(self) -> int:
        return self.emu.stats.count("GET", "/1.0/commerce/orders")


@pytest.fixture
def shop(tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shop]:
    monkeypatch.setenv("ACME_KEY", emulator.api_key)
    config = write_config(tmp_path, api_url=emulator.url)
    store = Store.open(load_config(config).store_path)
    yield Shop(emulator, store, config)
    store.close()


def _stepping_clock(start: datetime) -> Callable[[], datetime]:
    """A wall clock for the emulator that moves one second at each reading."""
    ticks = iter(range(10**6))
    return lambda: start + timedelta(seconds=next(ticks))


# -- the case: a kill during a slow POST, and an immediate rerun -----------------


def test_a_rerun_while_the_killed_runs_post_is_still_arriving_sends_nothing(shop):
    local, sq_id = shop.order("RM123456785GB")
    env = {**os.environ, "ACME_KEY": shop.emu.api_key}
    command = [sys.executable, "-m", "sqsync", "--config", str(shop.config), "push-despatch"]
    child = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    release, held_done = threading.Event(), threading.Event()
    held: list[int] = []

    def slow_squarespace(order_id: str) -> None:
        if not held:  # the killed run's POST: it arrived, and is still being applied
            held.append(threading.get_ident())
            os.kill(child.pid, signal.SIGKILL)
            release.wait(timeout=30)

    original = shop.emu.state.fulfil

    def fulfil(*args: Any) -> None:
        try:
            original(*args)
        finally:
            if held and held[0] == threading.get_ident():
                held_done.set()

    shop.emu.state.during_fulfilment = slow_squarespace
    shop.emu.state.fulfil = fulfil  # type: ignore[method-assign]
    try:
        child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL
        assert shop.states(local) == ["sending"]

        rerun, report = shop.push()  # at once, while Squarespace is still applying it

        assert rerun.exit_code == 0 and report["ok"] is True  # left for later, not a failure
        assert report["in_flight"] == 1 and report["requests"] == 0
        assert shop.fulfil_posts() == 1 and shop.states(local) == ["sending"]
    finally:
        release.set()
    assert held_done.wait(timeout=30)
    assert shop.tracking_on(sq_id) == ["RM123456785GB"]

    shop.age_claims()  # its request can no longer be in flight: read back, found, settled
    later, settled = shop.push()

    assert later.exit_code == 0, later.output
    assert (settled["verified"], settled["requests"]) == (1, 1)
    assert shop.states(local) == ["pushed"]
    assert shop.tracking_on(sq_id) == ["RM123456785GB"]
    assert shop.emu.stats.emails_sent == 1


def test_the_claim_time_is_stored_when_a_shipment_becomes_sending(shop):
    local, _ = shop.order("T1")
    shop.emu.faults.add(method="POST", path=FULFIL, kind="503")

    assert shop.job(T0).counts["in_doubt"] == 1

    assert shop.states(local) == ["sending"] and shop.claims(local) == [utc_text(T0)]


def test_an_in_doubt_shipment_waits_exactly_until_its_request_cannot_be_in_flight(shop):
    local, sq_id = shop.order("T1")
    shop.emu.faults.add(method="POST", path=FULFIL, kind="503")  # not applied
    shop.job(T0)
    with _no_sleep_client(shop.connection) as client:
        window = in_flight_window(client)
    assert window == timedelta(seconds=client.longest_send) + IN_FLIGHT_MARGIN
    # The client's own settings decide it: every attempt's pacing, connect and answer, and
    # the pauses between attempts.
    assert client.longest_send == 5 * (60 + 10 + 30) + 4 * 60

    early = shop.job(T0 + window - timedelta(milliseconds=1))

    assert early.ok and early.counts["in_flight"] == 1 and early.requests == 0
    assert shop.states(local) == ["sending"]

    due = shop.job(T0 + window)

    assert due.ok and due.counts["pushed"] == 1
    assert due.requests == 2  # read back (not there), then sent
    assert shop.tracking_on(sq_id) == ["T1"] and shop.emu.stats.emails_sent == 1


def test_a_client_with_shorter_timeouts_waits_less(shop):
    shop.order("T1")
    quick = {"timeout": 2.0, "connect_timeout": 1.0, "max_attempts": 1, "rate_limit_per_minute": 0}
    shop.emu.faults.add(method="POST", path=FULFIL, kind="503")
    shop.job(T0, **quick)

    assert shop.job(T0 + timedelta(seconds=3) + IN_FLIGHT_MARGIN, **quick).counts["pushed"] == 1


def test_a_claim_from_a_clock_that_was_fast_waits_one_window_from_now(shop, caplog):
    local, _ = shop.order("T1", state="sending")
    tomorrow = utc_text(T0 + timedelta(days=1))
    shop.store.conn.execute("UPDATE shipments SET claimed_at = ?", (tomorrow,))
    with _no_sleep_client(shop.connection) as client:
        window = in_flight_window(client)

    with caplog.at_level(logging.WARNING, logger="sqsync.jobs.push_despatch"):
        first = shop.job(T0)

    assert first.counts["in_flight"] == 1 and shop.claims(local) == [utc_text(T0)]
    assert "later than now (was the clock fast?)" in caplog.text
    # Not tomorrow plus the window: one window after the clock was put right.
    assert shop.job(T0 + window).counts["pushed"] == 1


def test_an_order_whose_in_flight_push_already_shows_is_verified_at_once(shop):
    shop.emu.state.now = lambda: T0  # Squarespace's clock agrees with the job's
    landed, landed_sq = shop.order("T1", state="sending")
    shop.store.conn.execute("UPDATE shipments SET claimed_at = ?", (utc_text(T0),))
    shop.emu.update_order(
        landed_sq, fulfillmentStatus="FULFILLED",
        fulfillments=[{"shipDate": "2026-11-27T10:00:00.000Z", "carrierName": "Royal Mail",
                       "service": "Tracked 48", "trackingNumber": "T1"}],
    )  # fmt: skip
    shop.order("T2")
    shop.order("T3")

    result = shop.job(T0 + timedelta(seconds=5))

    # The listing made for the two new orders shows T1 arrived: no need to wait for it.
    assert (result.counts["verified"], result.counts["pushed"]) == (1, 2)
    assert result.counts["in_flight"] == 0 and shop.states(landed) == ["pushed"]
    assert shop.fulfil_posts() == 2 and shop.tracking_on(landed_sq) == ["T1"]


def test_an_in_flight_order_holds_back_its_new_parcels_too(shop):
    # One POST per order: a late parcel is not sent alongside a request still arriving,
    # which would email the customer a second time.
    local, _ = shop.order("T1", state="sending")
    shop.store.conn.execute("UPDATE shipments SET claimed_at = ?", (utc_text(T0),))
    insert_shipment(shop.store, local, tracking_number="T2")

    result = shop.job(T0 + timedelta(seconds=5))

    assert (result.counts["in_flight"], result.counts["deferred"]) == (1, 1)
    assert result.requests == 0 and shop.states(local) == ["sending", "pending"]


def test_dry_run_says_an_in_flight_order_would_wait(shop):
    shop.order("T1", state="sending")
    shop.store.conn.execute("UPDATE shipments SET claimed_at = ?", (utc_text(datetime.now(UTC)),))

    result, report = shop.push("--dry-run")

    assert result.exit_code == 0 and report["requests"] == 0
    assert report["would_wait"] == 1 and "would_push" not in report
    assert report["orders"][0]["in_flight_until"] is not None
    assert "would wait: an earlier push may be on its way" in result.stderr


# -- a tracking number already on the Squarespace order ----------------------------------


def _import_one_order(shop: Shop) -> tuple[str, str]:
    """An order placed in Squarespace and imported (NEW); returns (id, order number)."""
    sq_id = shop.emu.add_order(shop.emu.make_order())
    for sku in {line["sku"] for line in shop.emu.orders[sq_id]["lineItems"]}:
        set_on_hand(shop.store, "ACME", "MAIN", sku, 10)
    assert shop.cli("import-orders").exit_code == 0
    return sq_id, shop.emu.orders[sq_id]["orderNumber"]


def _merchant_fulfils(shop: Shop, sq_id: str, tracking: str | None, *, notify: bool) -> None:
    """The merchant marks the order shipped in Squarespace (the courier's tracking)."""
    shipments = []
    if tracking is not None:
        shipments = [{"shipDate": "2026-11-27T09:00:00.000Z", "carrierName": "Royal Mail",
                      "service": "Tracked 48", "trackingNumber": tracking}]  # fmt: skip
    shop.emu.state.fulfil(sq_id, notify, shipments)


def test_a_parcel_the_merchant_already_fulfilled_is_not_added_again(shop):
    sq_id, number = _import_one_order(shop)
    _merchant_fulfils(shop, sq_id, "rm123456785gb", notify=True)  # the customer is told
    feed = (
        "order_number,carrier,service,tracking_number\n"
        f"{number},Royal Mail,Tracked 48,RM 1234 5678 5GB\n"
    )
    assert shop.cli("despatch", "import", "-", input=feed).exit_code == 0

    result, report = shop.push()

    assert result.exit_code == 0, result.output
    assert report["verified"] == 1 and report["pushed"] == 0
    assert shop.fulfil_posts() == 0
    assert shop.tracking_on(sq_id) == ["rm123456785gb"]
    assert shop.emu.stats.emails_sent == 1  # the merchant's only


def test_our_tracking_for_an_order_fulfilled_by_someone_else_sends_no_email(shop):
    sq_id, number = _import_one_order(shop)
    _merchant_fulfils(shop, sq_id, "MERCHANT-1", notify=True)  # the customer is told
    added = shop.cli("despatch", "add", number, "--carrier", "DPD", "--service", "Next Day",
                     "--tracking-number", "15501234567890")  # fmt: skip
    assert added.exit_code == 0, added.output

    result, report = shop.push()

    assert result.exit_code == 0 and report["pushed"] == 1
    assert shop.tracking_on(sq_id) == ["MERCHANT-1", "15501234567890"]
    assert shop.emu.stats.emails_sent == 1  # the merchant's; ours went without one


def test_a_carriers_second_export_in_another_format_changes_nothing(shop):
    sq_id, number = _import_one_order(shop)
    header = "order_number,carrier,service,tracking_number\n"
    first = shop.cli("despatch", "import", "-", input=f"{header}{number},RM,T48,RM123456785GB\n")
    assert first.exit_code == 0, first.output
    assert shop.push()[0].exit_code == 0

    again = shop.cli("despatch", "import", "-", input=f"{header}{number},RM,T48,rm 1234 5678 5gb\n")
    _, report = shop.push()

    assert again.exit_code == 0 and "1 already recorded" in again.stderr
    assert report["requests"] == 0
    assert shop.tracking_on(sq_id) == ["RM123456785GB"] and shop.emu.stats.emails_sent == 1


def test_a_tracking_number_pushed_differently_formatted_is_recognised_on_the_order(shop):
    # Recorded here as the carrier prints it; Squarespace (edited by hand) shows it plain.
    local, sq_id = shop.order("RM 1234 5678 5GB", state="sending")
    _merchant_fulfils(shop, sq_id, "rm123456785gb", notify=False)

    result = shop.job(T0)

    assert result.counts["verified"] == 1 and shop.fulfil_posts() == 0
    assert shop.states(local) == ["pushed"] and shop.tracking_on(sq_id) == ["rm123456785gb"]


# -- the cost: one listing per run, not a request per order ------------------------------


def test_many_orders_cost_one_listing_not_one_read_each(shop):
    orders = [shop.order(f"T{n}") for n in range(5)]

    result, report = shop.push()

    assert result.exit_code == 0 and report["pushed"] == 5
    assert (shop.listings(), shop.gets(), shop.fulfil_posts()) == (1, 0, 5)
    assert report["requests"] == 6
    assert [shop.tracking_on(sq) for _, sq in orders] == [[f"T{n}"] for n in range(5)]


def test_the_listing_stops_when_reading_the_rest_one_by_one_is_cheaper(shop):
    shop.emu.state.now = _stepping_clock(T0)
    first, _ = shop.order("T1")  # the oldest: on the first page
    for _ in range(120):  # two more pages of orders nobody here despatched
        shop.emu.add_order(shop.emu.make_order())
    last, _ = shop.order("T2")  # on the last page

    result = shop.job(T0 + timedelta(hours=1))

    assert result.counts["pushed"] == 2
    assert (shop.listings(), shop.gets()) == (1, 1)  # one page, then one GET, not 3 pages
    assert shop.states(first) == shop.states(last) == ["pushed"]


def test_an_order_the_listing_does_not_show_is_read_by_itself(shop):
    shop.order("T1")
    gone = insert_order(shop.store, squarespace_id="deleted-in-squarespace", status="DESPATCHED")
    insert_shipment(shop.store, gone, tracking_number="T2")

    result, report = shop.push()

    assert result.exit_code == 1 and report["failed"] == 1 and report["pushed"] == 1
    assert (shop.listings(), shop.gets()) == (1, 1)
    assert "not found" in report["failures"][0]["error"]


def test_a_failed_listing_falls_back_to_reading_each_order(shop):
    first, _ = shop.order("T1")
    second, _ = shop.order("T2")
    shop.emu.faults.add(method="GET", path="/1.0/commerce/orders", kind="500", count=5)

    result, report = shop.push()

    assert result.exit_code == 0, result.output
    assert report["pushed"] == 2 and shop.gets() == 2
    assert shop.states(first) == shop.states(second) == ["pushed"]


# -- the upgrade -----------------------------------------------------------------------


def test_shipments_sending_before_the_upgrade_wait_one_window_from_it(
    tmp_path, monkeypatch, store_backend
):
    from sqsync.store import database

    if store_backend is not None:  # PostgreSQL: an empty database, as a new file is
        import psycopg

        with psycopg.connect(store_backend, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
    path = tmp_path / "old.db"
    every = database.migration_files()
    monkeypatch.setattr(
        database, "migration_files", lambda: [m for m in every if not m[0].startswith("0031")]
    )
    with Store.open(path) as old:
        local = insert_order(old, status="DESPATCHED")
        insert_shipment(old, local, tracking_number="T1", push_state="sending")
    monkeypatch.setattr(database, "migration_files", lambda: every)
    before = datetime.now(UTC) - timedelta(seconds=1)

    with Store.open(path) as upgraded:
        [(claimed,)] = upgraded.conn.execute("SELECT claimed_at FROM shipments").fetchall()

    # When its request went is unknown: it counts as sent at the upgrade, never as long ago.
    assert claimed is not None and before <= datetime.fromisoformat(claimed) <= datetime.now(UTC)
