"""How import-orders applies a page: new orders are inserted together at the end of the
page, so an order seen twice in one page, or a number taken within the page, must still
come out as if each order were applied in turn. Also: the page commits skip their fsync
until the window end's commit, and nothing is left running after a failure."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime

import pytest

from sqsync.config import Connection
from sqsync.jobs import import_orders as job
from sqsync.squarespace.testing import FakeApi, order_json, paged
from sqsync.store import Store, order_writes
from sqsync.store.catalog import ensure_ids, ensure_product

NOW = datetime(2024, 3, 13, 12, 0, tzinfo=UTC)
CONNECTION = Connection(
    name="acme",
    client="ACME",
    warehouse="MAIN",
    api_url="https://api.example.test",
    api_key="sk-test-SECRET-0123456789",
)


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "pages.db") as store:
        with store.transaction() as conn:
            client_id, _, _ = ensure_ids(conn, "ACME", "MAIN", "Squarespace")
            for number in range(1, 4):
                ensure_product(conn, client_id, f"SKU-{number}")
        yield store


def run(store: Store, records: list[dict], *, ok: bool = True) -> dict[str, int]:
    api = FakeApi(paged(records, "result"))
    result = job.import_orders(api.client(), store, CONNECTION, clock=lambda: NOW)
    assert result.ok is ok, result.error
    return result.counts


def statuses(store: Store) -> dict[str, str]:
    rows = store.conn.execute("SELECT squarespace_id, status FROM orders")
    return {squarespace_id: status for squarespace_id, status in rows}


def test_an_order_twice_in_one_page_is_imported_then_updated_by_the_later_copy(store):
    first = order_json(1)
    cancelled = order_json(1, modifiedOn="2024-03-12T10:00:00.000Z", fulfillmentStatus="CANCELED")

    counts = run(store, [first, order_json(2), cancelled])

    assert (counts["imported"], counts["cancelled"]) == (2, 1)
    assert statuses(store) == {"order00000001": "CANCELLED", "order00000002": "NEW"}
    items = store.conn.execute("SELECT count(*) FROM order_items").fetchone()[0]
    assert items == 2


def test_an_unchanged_second_copy_in_one_page_is_counted_unchanged(store):
    counts = run(store, [order_json(1), order_json(1)])

    assert (counts["imported"], counts["unchanged"]) == (1, 1)
    assert store.conn.execute("SELECT count(*) FROM order_items").fetchone()[0] == 1


def test_a_number_taken_earlier_in_the_same_page_fails_the_later_order(store):
    taken = order_json(2, orderNumber="1001")

    counts = run(store, [order_json(1), taken, order_json(3)], ok=False)

    assert (counts["imported"], counts["failed"]) == (2, 1)
    assert statuses(store) == {"order00000001": "NEW", "order00000003": "NEW"}


def test_held_orders_in_a_page_are_counted_held(store):
    unknown = order_json(4)  # SKU-4 is not a product of the client

    counts = run(store, [order_json(1), unknown])

    assert (counts["imported"], counts["held"]) == (2, 1)
    assert statuses(store)["order00000004"] == "HOLDING"


def durability(store) -> str:
    """How the store's connection commits now: "deferred" (no flush of its own: SQLite's
    synchronous NORMAL, PostgreSQL's synchronous_commit off) or "durable"."""
    if store.dialect == "postgresql":
        value = store.conn.execute("SHOW synchronous_commit").fetchone()[0]
        return {"off": "deferred", "on": "durable"}[value]
    value = store.conn.execute("PRAGMA synchronous").fetchone()[0]
    return {1: "deferred", 2: "durable"}[value]


def flushing(store) -> None:
    """The suite's PostgreSQL server skips flushes altogether (synchronous_commit off, for
    speed); a real one flushes every commit unless told: make this session one."""
    if store.dialect == "postgresql":
        store.conn.execute("SET synchronous_commit = on")


def test_pages_commit_without_fsync_and_the_window_end_with_it(store, monkeypatch):
    flushing(store)
    seen: list[tuple[str, str]] = []
    real_insert, real_save = order_writes.insert_orders, job._save_window_end

    def synchronous() -> str:
        return durability(store)

    def insert_orders(*args, **kwargs):
        seen.append(("page", synchronous()))
        return real_insert(*args, **kwargs)

    def save_window_end(*args, **kwargs):
        seen.append(("window end", synchronous()))
        return real_save(*args, **kwargs)

    monkeypatch.setattr(order_writes, "insert_orders", insert_orders)
    monkeypatch.setattr(job, "_save_window_end", save_window_end)
    run(store, [order_json(n) for n in range(1, 61)])

    assert seen == [("page", "deferred"), ("page", "deferred"), ("window end", "durable")]
    assert synchronous() == "durable"


def test_a_failed_page_leaves_no_reader_thread_and_full_sync(store, monkeypatch):
    flushing(store)

    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(order_writes, "insert_orders", broken)
    api = FakeApi(paged([order_json(n) for n in range(1, 200)], "result"))

    with pytest.raises(sqlite3.OperationalError):
        job.import_orders(api.client(), store, CONNECTION, clock=lambda: NOW)

    assert [t for t in threading.enumerate() if t.name == "sqsync-prefetch"] == []
    with store.transaction():  # the next commit is durable again
        assert durability(store) == "durable"
    assert store.conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 0
    # Read ahead by at most two pages beyond the one that failed, never the whole window.
    assert len(api.requests) <= 3


def test_a_dry_run_into_an_empty_store_counts_every_page_and_writes_nothing(tmp_path):
    # The client, warehouse and channel rows do not exist yet and each page's transaction
    # rolls back the ones it made, so no page may reuse ids from an earlier one.
    api = FakeApi(paged([order_json(n) for n in range(1, 121)], "result"))
    with Store.open(tmp_path / "empty.db") as empty:
        result = job.import_orders(api.client(), empty, CONNECTION, dry_run=True, clock=lambda: NOW)
        assert result.ok, result.error
        assert (result.counts["imported"], result.counts["held"]) == (120, 120)
        for table in ("clients", "orders", "order_items"):
            assert empty.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
