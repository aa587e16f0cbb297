"""`sqsync status` (issue 6 rule 4): last runs, next due, waiting work, last error."""

import json
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner

from factories import FactoryRunner, insert_order, insert_shipment, write_config
from sqsync.cli import cli
from sqsync.config import load_config
from sqsync.status import status_report
from sqsync.store import Store
from sqsync.store.locks import acquire
from sqsync.store.runlog import finish_run, start_run

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def setup_store(tmp_path):
    path = write_config(tmp_path, stock_sync=True, stock_sync_frequency=60, frequency=15)
    config = load_config(path)
    store = Store.open(config.store_path)
    return path, config, store


def record(store, job, minutes_ago, outcome="ok", **fields):
    started = NOW - timedelta(minutes=minutes_ago)
    run_id = start_run(store, "acme", job, started)
    finish_run(store, run_id, outcome=outcome, finished_at=started, **fields)


def test_status_reports_runs_due_times_orders_shipments_and_last_error(tmp_path):
    _, config, store = setup_store(tmp_path)
    insert_order(store, status="NEW")
    insert_order(store, status="NEW")
    insert_order(store, status="HOLDING", problems=["unknown_sku:BLUE-M"])
    despatched = insert_order(store, status="DESPATCHED")
    insert_shipment(store, despatched)  # pending
    insert_shipment(store, despatched, push_state="failed", push_error="400: bad URL")
    insert_shipment(store, despatched, push_state="pushed")
    record(store, "import-orders", 5, counts={"imported": 3, "held": 1}, requests=2)
    record(
        store,
        "sync-stock",
        20,
        outcome="failed",
        error="Squarespace server error (500)",
        context_id="CTX123",
    )

    [status] = status_report(store, config.connections, clock=lambda: NOW)

    assert status["connection"] == "acme" and status["active"] is True
    imported = status["jobs"]["import-orders"]
    assert imported["last_run"]["outcome"] == "ok"
    assert imported["last_run"]["counts"] == {"held": 1, "imported": 3}
    assert imported["last_run"]["requests"] == 2
    assert imported["next_due"] == "2026-11-27T10:09:30.000Z"  # 5 min ago + 15 - 30 s grace
    assert status["jobs"]["push-despatch"] == {"last_run": None, "next_due": "now"}
    assert status["jobs"]["sync-stock"]["next_due"] == "now"  # failed: retried soon
    assert status["orders"] == {"NEW": 2, "HOLDING": 1}
    assert status["unpushed_shipments"] == 2 and status["failed_shipments"] == 1
    assert status["last_error"] == {
        "job": "sync-stock",
        "started_at": "2026-11-27T09:40:00.000Z",
        "error": "Squarespace server error (500)",
        "context_id": "CTX123",
    }
    assert status["locked_by"] is None


def test_status_shows_who_is_working_on_a_connection(tmp_path):
    _, config, store = setup_store(tmp_path)
    worker = Store.open(tmp_path / "sqsync.db")  # the working process's own connection
    acquire(worker, "acme", command="sqsync sync-stock", clock=lambda: NOW, host="elsewhere")
    [status] = status_report(store, config.connections, clock=lambda: NOW + timedelta(minutes=1))
    assert "sqsync sync-stock" in status["locked_by"] and "elsewhere" in status["locked_by"]
    if store.dialect == "postgresql":
        worker.close()  # its host died: the database ended its session, and the lock
        later = NOW + timedelta(minutes=1)
    else:
        later = NOW + timedelta(hours=1)  # a lease row outlives its holder until it ends
    [status] = status_report(store, config.connections, clock=lambda: later)
    assert status["locked_by"] is None
    worker.close()


def test_a_run_killed_half_way_is_reported_killed_not_running_nor_failed(tmp_path):
    # Issue 12 rule 1: left "running" and no live process holds the lock.
    _, config, store = setup_store(tmp_path)
    start_run(store, "acme", "import-orders", NOW - timedelta(minutes=1))
    [status] = status_report(store, config.connections, clock=lambda: NOW)
    assert status["jobs"]["import-orders"]["last_run"]["outcome"] == "killed"
    assert status["jobs"]["import-orders"]["next_due"] == "now"  # no 5-minute wait
    assert status["last_error"] is None
    # While a live process holds the lock the run is still going.
    acquire(store, "acme", command="sqsync run", clock=lambda: NOW, host="elsewhere")
    [status] = status_report(store, config.connections, clock=lambda: NOW)
    assert status["jobs"]["import-orders"]["last_run"]["outcome"] == "running"


def test_status_command_table_and_json(tmp_path):
    path, _, store = setup_store(tmp_path)
    insert_order(store, status="HOLDING")
    run_id = start_run(store, "acme", "import-orders")
    finish_run(store, run_id, outcome="failed", error="the API key was refused (401)")
    store.close()

    result = CliRunner().invoke(cli, ["--config", str(path), "status"])
    assert result.exit_code == 0, result.output
    assert "import-orders" in result.output and "never run" in result.output
    assert "0 NEW and 1 HOLDING orders" in result.output
    assert "last error, import-orders" in result.output and "refused (401)" in result.output

    result = CliRunner().invoke(cli, ["--config", str(path), "status", "--json"])
    assert result.exit_code == 0, result.output
    [status] = json.loads(result.stdout)
    assert sorted(status) == [
        "active",
        "connection",
        "duplicate_skus",
        "failed_shipments",
        "jobs",
        "last_error",
        "locked_by",
        "needs_attention",
        "orders",
        "stock_sync",
        "uncounted_skus",
        "unmatched_variants",
        "unpushed_shipments",
        "unreadable_orders",
    ]
    assert sorted(status["jobs"]) == ["import-orders", "push-despatch", "sync-stock"]


def test_status_sends_no_request_and_needs_no_key(tmp_path, monkeypatch):
    path, _, store = setup_store(tmp_path)
    store.close()
    monkeypatch.delenv("ACME_KEY", raising=False)
    result = CliRunner().invoke(cli, ["--config", str(path), "status", "-c", "acme"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["--config", str(path), "status", "-c", "nope"])
    assert result.exit_code == 2


def test_a_failed_job_shows_in_status_with_squarespaces_context_id(tmp_path, emulator, monkeypatch):
    # The contextId travels from Squarespace's error envelope through the run log to
    # `status`, where an operator finds it to quote to Squarespace support.
    monkeypatch.setenv("ACME_KEY", emulator.api_key)
    path = write_config(tmp_path, api_url=emulator.url)
    emulator.faults.add(method="GET", path="/1.0/commerce/orders", kind="500", count=10)

    failed = FactoryRunner(_no_wait_client).invoke(
        cli, ["--config", str(path), "import-orders", "--json"]
    )
    assert failed.exit_code == 1
    context_id = json.loads(failed.stdout)["context_id"]
    assert context_id

    status = CliRunner().invoke(cli, ["--config", str(path), "status", "--json"])
    [acme] = json.loads(status.stdout)
    assert acme["last_error"]["job"] == "import-orders"
    assert acme["last_error"]["context_id"] == context_id
    assert acme["jobs"]["import-orders"]["last_run"]["outcome"] == "failed"


def _no_wait_client(connection, **overrides):
    from sqsync.squarespace import Client

    return Client(connection.api_key(), base_url=connection.api_url, sleep=lambda s: None)
