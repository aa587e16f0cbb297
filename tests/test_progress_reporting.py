"""Long jobs report their progress (issue 6 rule 7): what the terminal bar draws.

The bar itself and its terminal-only gating are in test_logging.py; here each job is run
against the emulator with a recording sink, so a job that stopped reporting would fail.
"""

from __future__ import annotations

import pytest

from factories import insert_order, insert_shipment, record_import, write_config
from sqsync.config import load_config
from sqsync.jobs.runner import run_job
from sqsync.store import Store
from sqsync.store.stock import set_on_hand


@pytest.fixture
def reports():
    return []


def sink(seen):
    def record(connection, what, done, total=None):
        seen.append((connection, what, done, total))

    return record


@pytest.fixture
def setup(tmp_path, emulator, monkeypatch):
    monkeypatch.setenv("ACME_KEY", emulator.api_key)
    connection = load_config(write_config(tmp_path, api_url=emulator.url)).connections[0]
    with Store.open(tmp_path / "sqsync.db") as store:
        record_import(store)
        yield connection, store


def test_import_orders_reports_orders_page_by_page(setup, emulator, reports):
    connection, store = setup
    for _ in range(60):
        emulator.add_order(emulator.make_order())
    assert run_job("import-orders", connection, store, progress=sink(reports)).ok
    assert [(what, done) for _, what, done, _ in reports] == [("orders", 50), ("orders", 60)]


def test_sync_stock_reports_variants_read(setup, emulator, reports):
    connection, store = setup
    set_on_hand(store, "ACME", "MAIN", "RED-S", 3)
    assert run_job("sync-stock", connection, store, progress=sink(reports)).ok
    variants = [report[1:3] for report in reports if report[1] == "variants"]
    assert variants and variants[-1] == ("variants", len(emulator.inventory))


def test_push_despatch_reports_orders_out_of_the_backlog(setup, emulator, reports):
    connection, store = setup
    for _ in range(2):
        sq_id = emulator.add_order(emulator.make_order())
        local = insert_order(store, squarespace_id=sq_id, status="DESPATCHED")
        insert_shipment(store, local)
    assert run_job("push-despatch", connection, store, progress=sink(reports)).ok
    assert [(what, done, total) for _, what, done, total in reports] == [
        ("orders", 1, 2),
        ("orders", 2, 2),
    ]
