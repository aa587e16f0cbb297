"""`sqsync orders changes --after N`: every change of an order takes the next change number,
so a WMS that keeps the last one it processed never misses or double-takes an order.
Also: listings end quietly when the reader closes the pipe early (a real subprocess)."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from factories import DEFAULT_CONNECTION, insert_order, write_config
from sqsync.cli import cli
from sqsync.config import load_config
from sqsync.domain.orders import AddressRecord, OrderRecord, SquarespaceState
from sqsync.store import Store
from sqsync.store.changes import durable_horizon, iter_changes, last_change
from sqsync.store.database import migration_files, split_statements
from sqsync.store.order_writes import OrderOwner, insert_orders
from sqsync.store.orders import iter_order_dicts
from test_order_actions import Shop

HYPERLINK = '=HYPERLINK("https://evil.example","click")'


@pytest.fixture
def shop(tmp_path, emulator, monkeypatch) -> Shop:
    monkeypatch.setenv("ACME_KEY", emulator.api_key)
    return Shop(tmp_path, emulator)


def changes(shop_or_run: Any, after: int = 0, *args: str) -> list[dict[str, Any]]:
    result = shop_or_run.cli("orders", "changes", "--after", str(after), *args)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def seen(rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(r["order_number"], r["kind"], r["status"]) for r in rows]


# -- end to end: every writer numbers its changes ------------------------------------------


def test_each_change_of_an_order_takes_the_next_number_with_its_kind(shop):
    sq_id, number = shop.imported()
    [created] = changes(shop)
    assert (created["kind"], created["status"]) == ("created", "NEW")
    last = created["change"]

    def next_change(kind: str, status: str) -> None:
        nonlocal last
        [row] = changes(shop, last)
        assert (row["order_number"], row["kind"], row["status"]) == (number, kind, status)
        assert row["change"] > last
        last = row["change"]

    shop.emu.update_order(sq_id, customerEmail="new@example.com")
    shop.import_orders()
    next_change("updated", "NEW")
    assert shop.cli("orders", "hold", number, "--reason", "check").exit_code == 0
    next_change("held", "HOLDING")
    assert shop.cli("orders", "release", number).exit_code == 0
    next_change("released", "NEW")
    despatch = shop.cli(
        "despatch", "add", number, "--carrier", "Royal Mail", "--service", "Tracked 48"
    )
    assert despatch.exit_code == 0, despatch.output
    next_change("despatched", "DESPATCHED")

    # Squarespace's own note of the fulfilment on a despatched order is not a change.
    shop.emu.update_order(sq_id, fulfillmentStatus="FULFILLED")
    shop.import_orders()
    assert changes(shop, last) == []


def test_cancelled_in_squarespace_and_by_hand_are_cancelled_changes(shop):
    first_id, first = shop.imported()
    _, second = shop.imported()
    start = changes(shop)[-1]["change"]
    shop.emu.update_order(first_id, fulfillmentStatus="CANCELED")
    shop.import_orders()
    shop.cli("orders", "cancel", second, "--reason", "duplicate")

    assert seen(changes(shop, start)) == [
        (first, "cancelled", "CANCELLED"),
        (second, "cancelled", "CANCELLED"),
    ]


def test_an_order_changed_twice_is_listed_once_at_its_latest_number(shop):
    _, first = shop.imported()
    _, second = shop.imported()
    before = changes(shop)
    assert [r["order_number"] for r in before] == [first, second]

    shop.cli("orders", "hold", first, "--reason", "check")
    after = changes(shop)

    assert seen(after) == [(second, "created", "NEW"), (first, "held", "HOLDING")]
    assert after[1]["change"] > after[0]["change"] == before[1]["change"]
    # A reader that took everything before the hold gets only the hold.
    assert seen(changes(shop, before[-1]["change"])) == [(first, "held", "HOLDING")]


def test_nothing_new_is_no_change(shop):
    shop.imported()
    last = changes(shop)[-1]["change"]
    shop.import_orders()  # re-evaluates; nothing changed
    shop.import_orders("--since", "2020-01-01")  # re-reads every order: unchanged
    assert changes(shop, last) == []


def test_an_item_moved_by_an_alias_is_an_update(shop):
    shop.know("NEW-SKU")
    sq_id = shop.add("SQ-SKU")
    shop.import_orders()
    last = changes(shop)[-1]["change"]

    shop.configure(sku_aliases={"SQ-SKU": "NEW-SKU"})
    shop.import_orders()

    [row] = changes(shop, last)
    assert (row["kind"], row["status"]) == ("released", "NEW")  # the latest change wins
    assert [i["sku"] for i in row["items"]] == ["NEW-SKU"]
    assert row["order_number"] == shop.number(sq_id)


# -- the feed's shapes, against a seeded store ---------------------------------------------


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    beta = {**DEFAULT_CONNECTION, "name": "beta", "client": "BETA"}
    return write_config(tmp_path, connections=[DEFAULT_CONNECTION, beta])


@pytest.fixture
def store(config_path):
    with Store.open(load_config(config_path).store_path) as opened:
        yield opened


class Run:
    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["--config", str(self.config_path), *args])


@pytest.fixture
def run(config_path) -> Run:
    return Run(config_path)


def test_orders_one_insert_adds_take_numbers_in_order_and_a_dropped_row_takes_none(store):
    # import-orders inserts a page in one statement, ON CONFLICT DO NOTHING for a row that
    # is already there (a race): its numbers run in insertion order with no gap.
    first = insert_order(store, order_number="A")
    columns = [
        c for c in store.conn.execute("SELECT * FROM orders").fetchone().keys()  # noqa: SIM118
        if c not in ("id", "change_no", "change_kind", "order_number", "squarespace_id")
    ]  # fmt: skip
    listed = ", ".join(columns)
    with store.transaction() as conn:
        conn.execute(
            f"INSERT INTO orders (order_number, squarespace_id, {listed})"
            f" SELECT order_number, squarespace_id, {listed} FROM orders WHERE id = ?"
            f" UNION ALL SELECT 'B', 'sq-b', {listed} FROM orders WHERE id = ?"
            f" UNION ALL SELECT 'C', 'sq-c', {listed} FROM orders WHERE id = ?"
            " ON CONFLICT DO NOTHING",
            (first, first, first),
        )
    rows = store.conn.execute("SELECT order_number, change_no FROM orders ORDER BY id")
    numbers = {row[0]: row[1] for row in rows}
    assert list(numbers) == ["A", "B", "C"]
    assert (numbers["B"], numbers["C"]) == (numbers["A"] + 1, numbers["A"] + 2)
    assert last_change(store) == numbers["C"]


def _record(squarespace_id: str, number: str) -> OrderRecord:
    moment = datetime(2026, 12, 1, tzinfo=UTC)
    return OrderRecord(
        squarespace_id=squarespace_id,
        order_number=number,
        problems=(),
        items=(),
        customer_email=None,
        shipping_address=AddressRecord(),
        billing_address=AddressRecord(),
        currency="GBP",
        subtotal=None,
        shipping_total=None,
        discount_total=None,
        tax_total=None,
        total="1.00",
        shipping_method=None,
        squarespace=SquarespaceState("PENDING", "PAID", moment),
        created_on=moment,
    )


def test_the_orders_an_import_inserts_bring_their_numbers_in_order_and_a_dropped_one_none(
    store,
):
    # insert_orders gives each new order its number in the INSERT (the trigger then leaves
    # it alone); an order already stored (a race) is dropped and leaves no gap, and an
    # order inserted by any other writer afterwards still takes the next number.
    first = insert_order(store, connection="shop", squarespace_id="sq-b", order_number="B")
    with store.transaction() as conn:
        client_id, warehouse_id, channel_id = conn.execute(
            "SELECT client_id, warehouse_id, channel_id FROM orders WHERE id = ?", (first,)
        ).fetchone()
        owner = OrderOwner("shop", client_id, warehouse_id, channel_id)
        records = [_record(f"sq-{n.lower()}", n) for n in ("A", "B", "C", "D")]
        inserted = insert_orders(conn, records, owner, now="2026-12-01T00:00:00.000Z")
    assert sorted(inserted) == ["sq-a", "sq-c", "sq-d"]
    later = insert_order(store, order_number="E")
    rows = store.conn.execute("SELECT order_number, change_no, change_kind FROM orders")
    numbers = {row[0]: (row[1], row[2]) for row in rows}
    base = numbers["B"][0]
    assert numbers == {
        "B": (base, "created"),
        "A": (base + 1, "created"),
        "C": (base + 2, "created"),
        "D": (base + 3, "created"),
        "E": (base + 4, "created"),
    }
    assert later and last_change(store) == base + 4


def test_lines_give_one_row_per_order_line(run, store):
    insert_order(store, order_number="SQ-1", items=[("RED-S", 2), ("BLUE-M", 1)])
    insert_order(store, order_number="SQ-2", items=[])

    rows = changes(run, 0, "--lines")

    assert [(r["order_number"], r["line_sku"], r["line_quantity"]) for r in rows] == [
        ("SQ-1", "RED-S", 2),
        ("SQ-1", "BLUE-M", 1),
        ("SQ-2", None, None),  # no lines: still one row, so the change is not lost
    ]
    assert rows[0]["change"] == rows[1]["change"] < rows[2]["change"]
    assert "items" not in rows[0]


def test_csv_is_safe_for_spreadsheets_unless_raw(run, store):
    insert_order(store, order_number="SQ-1", first_name=HYPERLINK)

    safe = run.cli("orders", "changes", "--after", "0", "--format", "csv")
    raw = run.cli("orders", "changes", "--after", "0", "--format", "csv", "--raw")
    lines = run.cli("orders", "changes", "--after", "0", "--format", "csv", "--lines", "--raw")

    [safe_row] = csv.DictReader(io.StringIO(safe.stdout))
    [raw_row] = csv.DictReader(io.StringIO(raw.stdout))
    [line_row] = csv.DictReader(io.StringIO(lines.stdout))
    assert safe_row["first_name"] == "'" + HYPERLINK
    assert raw_row["first_name"] == HYPERLINK
    assert (raw_row["change"], raw_row["kind"], raw_row["items"]) == ("1", "created", "RED-S x1")
    assert (line_row["first_name"], line_row["line_sku"]) == (HYPERLINK, "RED-S")


def test_connection_filter_and_an_empty_csv_keeps_its_header(run, store):
    insert_order(store, order_number="SQ-1")
    insert_order(store, order_number="B-1", connection="beta", client="BETA")
    assert [r["order_number"] for r in changes(run, 0, "-c", "beta")] == ["B-1"]
    empty = run.cli("orders", "changes", "--after", "99", "--format", "csv")
    assert empty.stdout.startswith("change,kind,order_number,")
    assert run.cli("orders", "changes", "--after", "0", "-c", "nope").exit_code == 2
    assert run.cli("orders", "changes").exit_code == 2  # --after is required


def test_changes_committed_after_the_horizon_wait_for_the_next_read(store):
    insert_order(store, order_number="SQ-1")
    horizon = durable_horizon(store)
    insert_order(store, order_number="SQ-2")
    assert [r["order_number"] for r in iter_changes(store, after=0, upto=horizon)] == ["SQ-1"]
    assert [r["order_number"] for r in iter_changes(store, after=horizon, upto=last_change(store))
            ] == ["SQ-2"]  # fmt: skip


def test_the_horizon_is_a_real_commit_and_uncommitted_changes_are_not_listed(store, config_path):
    reads = store.conn.execute("SELECT reads FROM order_change_counter").fetchone()[0]
    durable_horizon(store)
    # An identical row would be no write at all, and so no sync of the commits before it.
    assert store.conn.execute("SELECT reads FROM order_change_counter").fetchone()[0] == reads + 1

    with Store.open(load_config(config_path).store_path) as writer, writer.transaction():
        insert_order(writer, order_number="SQ-1")  # a savepoint inside the open transaction
        assert list(iter_changes(store, after=0, upto=10**9)) == []
        assert last_change(store) == 0


@pytest.mark.sqlite_only  # builds an old store by hand, in SQLite
def test_orders_stored_before_the_feed_are_numbered_in_the_order_they_were_stored(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    for name, sql in migration_files():
        if name >= "0014":
            continue
        for statement in split_statements(sql):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES (?, '2026-01-01T00:00:00.000Z')", [name])
    conn.close()
    with Store.open(path) as old:
        # Inserted before 0014 exists: the rows get no number of their own yet.
        old.conn.execute("DELETE FROM schema_migrations WHERE name LIKE '0014%'")
        old.conn.execute("DROP TRIGGER orders_change_on_insert")
        old.conn.execute("DROP TRIGGER orders_change_on_update")
        old.conn.execute("DROP TRIGGER order_items_change_on_sku")
        old.conn.execute("DROP INDEX orders_change_no")
        old.conn.execute("DROP TABLE order_change_counter")
        old.conn.execute("ALTER TABLE orders DROP COLUMN change_no")
        old.conn.execute("ALTER TABLE orders DROP COLUMN change_kind")
        for number in ("SQ-1", "SQ-2"):
            insert_order(old, order_number=number)
    with Store.open(path) as upgraded:
        rows = list(iter_changes(upgraded, after=0, upto=last_change(upgraded)))
        assert [(r["order_number"], r["kind"]) for r in rows] == [
            ("SQ-1", "created"),
            ("SQ-2", "created"),
        ]
        insert_order(upgraded, order_number="SQ-3")
        assert [r["order_number"] for r in iter_changes(upgraded, after=rows[-1]["change"],
                upto=last_change(upgraded))] == ["SQ-3"]  # fmt: skip


# -- a pipe closed early ends the command quietly ------------------------------------------


@pytest.fixture
def many_orders(store):
    with store.transaction():
        for n in range(300):
            insert_order(store, order_number=f"SQ-{n}", items=[("RED-S", 1), ("BLUE-M", 2)])
    return store


COMMANDS = [
    ["orders", "changes", "--after", "0"],
    ["orders", "changes", "--after", "0", "--format", "csv", "--lines", "--raw"],
    ["orders", "list", "--format", "ndjson"],
    ["orders", "list", "--format", "csv"],
    ["orders", "list"],
]


def sqsync(config_path: Path, args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "sqsync", "--config", str(config_path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_reader_that_stops_after_one_line_ends_the_command_quietly(
    config_path, many_orders, args
):
    process = sqsync(config_path, args)
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline()  # `| head -1`
    process.stdout.close()
    error = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0
    assert error == ""


@pytest.mark.parametrize("args", COMMANDS[:1] + COMMANDS[2:3], ids=" ".join)
def test_a_reader_that_closed_before_the_first_line_ends_the_command_quietly(
    config_path, many_orders, args
):
    process = sqsync(config_path, args)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    error = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0
    assert error == ""


def test_a_listing_closed_early_ends_its_snapshot_even_after_the_store_closed(tmp_path):
    store = Store.open(tmp_path / "sqsync.db")
    for number in ("SQ-1", "SQ-2"):
        insert_order(store, order_number=number)
    rows = iter_order_dicts(store)
    next(rows)
    store.close()
    rows.close()  # the cleanup of a reader abandoned mid-listing: no error left to report
