"""Stock levels: on hand, allocation by open orders, availability, all-or-nothing feeds."""

from __future__ import annotations

import sqlite3

import pytest

from factories import IntegrityError, insert_order
from sqsync.errors import AmbiguousError, InputError, UsageError
from sqsync.store import Store, catalog
from sqsync.store.owners import choose
from sqsync.store.stock import (
    LevelUpdate,
    availability,
    import_levels,
    set_on_hand,
    stock_rows,
)


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "sqsync.db") as opened:
        yield opened


def test_set_on_hand_creates_product_and_overwrites(store):
    set_on_hand(store, "ACME", "MAIN", "RED-S", 5)
    set_on_hand(store, "ACME", "MAIN", "RED-S", 7)
    client_id = catalog.client_id(store, "ACME")
    assert client_id is not None
    assert catalog.known_skus(store, client_id) == {"RED-S"}
    assert [r["on_hand"] for r in stock_rows(store)] == [7]


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_on_hand_must_be_a_whole_number(store, bad):
    with pytest.raises(InputError, match="whole number >= 0"):
        set_on_hand(store, "ACME", "MAIN", "RED-S", bad)


def test_negative_on_hand_refused_by_the_schema(store):
    set_on_hand(store, "ACME", "MAIN", "RED-S", 1)
    with pytest.raises(IntegrityError, match=r"CHECK|check constraint"):
        store.conn.execute("UPDATE stock_levels SET on_hand = -1")


def test_stock_level_needs_a_known_product(store):
    client_id = catalog.ensure_client(store, "ACME")
    warehouse_id = catalog.ensure_warehouse(store, "MAIN")
    with pytest.raises(IntegrityError, match=r"FOREIGN KEY|foreign key constraint"):
        store.conn.execute(
            "INSERT INTO stock_levels VALUES (?, ?, 'GHOST', 1, '2026-01-01T00:00:00.000Z')",
            (client_id, warehouse_id),
        )


def test_allocation_counts_new_and_holding_orders_only(store):
    set_on_hand(store, "ACME", "MAIN", "RED-S", 10)
    insert_order(store, status="NEW", items=[("RED-S", 2)])
    insert_order(store, status="HOLDING", items=[("RED-S", 3), ("RED-S", 1)])
    insert_order(store, status="DESPATCHED", items=[("RED-S", 50)])
    insert_order(store, status="CANCELLED", items=[("RED-S", 50)])
    (row,) = stock_rows(store)
    assert row == {
        "sku": "RED-S", "client": "ACME", "warehouse": "MAIN",
        "on_hand": 10, "allocated": 6, "available": 4,
    }  # fmt: skip


def test_allocation_is_per_client_and_warehouse(store):
    set_on_hand(store, "ACME", "MAIN", "RED-S", 10)
    set_on_hand(store, "ACME", "EAST", "RED-S", 10)
    set_on_hand(store, "BETA", "MAIN", "RED-S", 10)
    insert_order(store, client="ACME", warehouse="MAIN", items=[("RED-S", 1)])
    insert_order(store, client="ACME", warehouse="EAST", items=[("RED-S", 2)])
    insert_order(store, client="BETA", warehouse="MAIN", items=[("RED-S", 4)])
    got = {(r["client"], r["warehouse"]): r["allocated"] for r in stock_rows(store)}
    assert got == {("ACME", "EAST"): 2, ("ACME", "MAIN"): 1, ("BETA", "MAIN"): 4}
    assert availability(store, "ACME", "EAST") == {"RED-S": (10, 2)}
    assert [r["client"] for r in stock_rows(store, client="BETA")] == ["BETA"]
    assert [r["warehouse"] for r in stock_rows(store, warehouse="EAST")] == ["EAST"]


def test_available_never_negative_and_ordered_sku_without_stock_shows(store):
    set_on_hand(store, "ACME", "MAIN", "RED-S", 1)
    insert_order(store, items=[("RED-S", 3), ("NEVER-COUNTED", 2)])
    rows = {r["sku"]: r for r in stock_rows(store)}
    assert rows["RED-S"]["available"] == 0
    assert (rows["NEVER-COUNTED"]["on_hand"], rows["NEVER-COUNTED"]["allocated"]) == (0, 2)
    assert availability(store, "ACME", "MAIN") == {"RED-S": (1, 3), "NEVER-COUNTED": (0, 2)}


def test_availability_unknown_scope_is_empty(store):
    set_on_hand(store, "ACME", "MAIN", "RED-S", 1)
    assert availability(store, "NOPE", "MAIN") == {}


@pytest.mark.sqlite_only  # counts statements / a trigger in SQLite's dialect
def test_availability_is_one_query(store):
    for number in range(20):
        set_on_hand(store, "ACME", "MAIN", f"SKU-{number}", number)
    statements = []
    store.conn.set_trace_callback(statements.append)
    assert len(availability(store, "ACME", "MAIN")) == 20
    store.conn.set_trace_callback(None)
    assert len(statements) == 1


def test_import_levels_all_or_nothing(store):
    set_on_hand(store, "ACME", "MAIN", "KEEP", 5)
    updates = [LevelUpdate(2, "KEEP", 9), LevelUpdate(3, "NEW", 1, client="GHOST")]
    with pytest.raises(InputError, match=r'feed.csv line 3: client: unknown client "GHOST"'):
        import_levels(
            store, updates, source="feed.csv", clients=["ACME"], warehouses=["MAIN"],
            default_client="ACME", default_warehouse="MAIN",
        )  # fmt: skip
    assert [(r["sku"], r["on_hand"]) for r in stock_rows(store)] == [("KEEP", 5)]


def test_import_levels_rolls_back_on_a_write_failure(store, monkeypatch):
    from sqsync.store import stock

    calls = []

    def failing(conn, client, warehouse, sku, quantity, **kwargs):
        calls.append(sku)
        if len(calls) == 2:
            raise sqlite3.OperationalError("disk I/O error")
        set_on_hand(conn, client, warehouse, sku, quantity, **kwargs)

    monkeypatch.setattr(stock, "set_on_hand", failing)
    with pytest.raises(sqlite3.OperationalError):
        import_levels(
            store, [LevelUpdate(2, "A", 1), LevelUpdate(3, "B", 2)], source="f",
            clients=["ACME"], warehouses=["MAIN"], default_client="ACME", default_warehouse="MAIN",
        )  # fmt: skip
    assert list(stock_rows(store)) == []


def test_import_levels_refuses_a_sku_twice(store):
    updates = [LevelUpdate(2, "A", 1), LevelUpdate(5, "A", 2)]
    with pytest.raises(InputError, match=r"f line 5: sku: 'A' is already set on line 2"):
        import_levels(
            store, updates, source="f", clients=["ACME"], warehouses=["MAIN"],
            default_client="ACME", default_warehouse="MAIN",
        )  # fmt: skip


def test_import_levels_row_without_client_when_ambiguous(store):
    with pytest.raises(AmbiguousError, match=r"f line 2: client: missing, and several clients"):
        import_levels(
            store, [LevelUpdate(2, "A", 1)], source="f", clients=["ACME", "BETA"],
            warehouses=["MAIN"], default_client=None, default_warehouse="MAIN",
        )  # fmt: skip


def test_choose():
    assert choose(None, ["ACME"], "client") == "ACME"
    assert choose("BETA", ["ACME", "BETA"], "client") == "BETA"
    with pytest.raises(AmbiguousError, match=r"several clients are configured \(ACME, BETA\)$"):
        choose(None, ["ACME", "BETA"], "client")
    with pytest.raises(UsageError, match=r"unknown warehouse 'EAST'; known: MAIN"):
        choose("EAST", ["MAIN"], "warehouse")
    with pytest.raises(UsageError, match="no client is configured"):
        choose(None, [], "client")
