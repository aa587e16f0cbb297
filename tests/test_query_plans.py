"""The store's hot queries stay index searches as the store grows (issue 15): asked of
SQLite's planner, so a change that turns one into a scan fails here, not in production."""

from __future__ import annotations

import sqlite3

import pytest

from factories import insert_order
from sqsync.store import Store
from sqsync.store import stock as stock_module
from sqsync.store.stock import availability

pytestmark = pytest.mark.sqlite_only  # SQLite's query planner


def test_the_allocation_query_reads_only_the_open_orders(tmp_path, monkeypatch):
    with Store.open(tmp_path / "s.db") as store:
        insert_order(store, status="NEW")
        insert_order(store, status="DESPATCHED")
        store.conn.execute("ANALYZE")
        seen: list[tuple[str, dict]] = []
        real = stock_module.connection_of

        class Recording:
            def __init__(self, conn: sqlite3.Connection) -> None:
                self.conn = conn

            def execute(self, sql, params=()):
                seen.append((sql, params))
                return self.conn.execute(sql, params)

        monkeypatch.setattr(stock_module, "connection_of", lambda db: Recording(real(db)))
        availability(store, "ACME", "MAIN")

        [(sql, params)] = seen
        plan = [row[-1] for row in store.conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    orders = [step for step in plan if " o " in f" {step} " or step.endswith(" o")]
    assert any("USING INDEX orders_open" in step for step in plan), plan
    assert not any(step.startswith("SCAN o") for step in plan), orders
