"""Per-connection sync state, the run log and the catalog helpers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sqsync.store import Store, catalog
from sqsync.store.runlog import finish_run, last_runs, start_run
from sqsync.store.sync_state import delete_state, get_state, set_state


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "sqsync.db") as opened:
        yield opened


def test_sync_state_round_trip(store):
    assert get_state(store, "acme", "orders_window_end") is None
    assert get_state(store, "acme", "orders_window_end", "x") == "x"
    set_state(store, "acme", "orders_window_end", "2026-01-01T00:00:00.000Z")
    set_state(store, "acme", "orders_window_end", "2026-01-02T00:00:00.000Z")
    set_state(store, "beta", "orders_window_end", "other")
    assert get_state(store, "acme", "orders_window_end") == "2026-01-02T00:00:00.000Z"
    delete_state(store, "acme", "orders_window_end")
    assert get_state(store, "acme", "orders_window_end") is None
    assert get_state(store, "beta", "orders_window_end") == "other"


def test_sync_state_joins_the_callers_transaction(store):
    with pytest.raises(RuntimeError), store.transaction() as conn:
        set_state(conn, "acme", "k", "v")
        raise RuntimeError
    assert get_state(store, "acme", "k") is None


def test_run_log(store):
    started = datetime(2026, 1, 1, 10, tzinfo=UTC)
    first = start_run(store, "acme", "import-orders", started)
    finish_run(store, first, outcome="failed", error="boom", context_id="ctx-1")
    second = start_run(store, "acme", "import-orders")
    other = start_run(store, "acme", "sync-stock")
    finish_run(
        store, second, outcome="ok", counts={"imported": 3}, requests=4,
        finished_at=datetime(2026, 1, 1, 10, 5, tzinfo=UTC),
    )  # fmt: skip
    runs = last_runs(store)
    assert [(r["job"], r["id"], r["outcome"]) for r in runs] == [
        ("import-orders", second, "ok"),
        ("sync-stock", other, "running"),
    ]
    assert runs[0]["counts"] == {"imported": 3} and runs[0]["requests"] == 4
    assert runs[0]["finished_at"] == "2026-01-01T10:05:00.000Z"
    assert runs[1]["finished_at"] is None
    row = store.conn.execute("SELECT * FROM run_log WHERE id = ?", (first,)).fetchone()
    assert (row["started_at"], row["error"], row["context_id"]) == (
        "2026-01-01T10:00:00.000Z", "boom", "ctx-1",
    )  # fmt: skip


def test_run_outcome_is_checked(store):
    run = start_run(store, "acme", "import-orders")
    with pytest.raises(ValueError, match="outcome"):
        finish_run(store, run, outcome="running")


def test_catalog_ensure_is_idempotent(store):
    ids = catalog.ensure_ids(store, "ACME", "MAIN", "Squarespace")
    assert catalog.ensure_ids(store, "ACME", "MAIN", "Squarespace") == ids
    product = catalog.ensure_product(store, ids[0], "RED-S")
    assert catalog.ensure_product(store, ids[0], "RED-S", "Red tee") == product
    name = store.conn.execute("SELECT name FROM products WHERE id = ?", (product,)).fetchone()[0]
    assert name == "Red tee"
    assert catalog.client_codes(store) == ["ACME"]
    assert catalog.warehouse_codes(store) == ["MAIN"]
    assert catalog.client_id(store, "NOPE") is None
