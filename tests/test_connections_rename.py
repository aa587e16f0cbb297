"""Issue 12 rule 5: orders stored under a connection name no longer in the config are
reported (`status`), and `sqsync connections rename OLD NEW` moves them across."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from factories import IntegrityError, insert_order, insert_shipment, write_config
from sqsync.cli import cli
from sqsync.config import load_config
from sqsync.store import Store
from sqsync.store.adjustments import entries, record
from sqsync.store.connections import connection_tables, order_counts, rename_connection
from sqsync.store.locks import ConnectionLocked, acquire, holder
from sqsync.store.runlog import finish_run, last_run, start_run
from sqsync.store.sync_state import get_state, set_state

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


@pytest.fixture
def renamed_config(tmp_path):
    """A config whose one connection, once "acme", is now "acme-uk"; the store still says
    "acme": two orders (one with a shipment), a run, sync state, a journalled adjustment."""
    path = write_config(tmp_path, name="acme-uk")
    store = Store.open(load_config(path).store_path)
    despatched = insert_order(store, connection="acme", status="DESPATCHED")
    insert_shipment(store, despatched)
    insert_order(store, connection="acme")
    finish_run(store, start_run(store, "acme", "import-orders", NOW), outcome="ok")
    with store.transaction() as conn:
        set_state(conn, "acme", "import_window_end", "2026-11-27T09:50:00.000Z")
    record(store, "acme", [("variant-1", 2)], [], now=NOW)
    store.close()
    return path


def sqsync(path, *args):
    return CliRunner().invoke(cli, ["--config", str(path), *args])


def snapshot(store: Store) -> dict[str, list[tuple]]:
    return {
        table: [tuple(row) for row in store.conn.execute(f"SELECT * FROM {table} ORDER BY 1")]
        for table in (*connection_tables(store), "shipments")
    }


def test_the_tables_of_a_connection_are_found_in_the_schema(tmp_path):
    with Store.open(tmp_path / "s.db") as store:
        found = connection_tables(store)
    # A table a later migration adds with a `connection` column is found (and renamed) too.
    assert {"orders", "run_log", "sync_state", "stock_adjustments", "connection_locks"} <= set(
        found
    )


def test_status_names_orders_under_a_connection_not_in_the_config(renamed_config):
    result = sqsync(renamed_config, "status")
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("acme (not in"))
    assert "2 orders are stored under connection acme, which is not in the config" in line
    assert "sqsync connections rename acme NEW_NAME" in line

    # The JSON array keeps its shape (an object per configured connection); the orphan
    # is told on stderr.
    result = sqsync(renamed_config, "status", "--json")
    assert result.exit_code == 0
    assert [s["connection"] for s in json.loads(result.stdout)] == ["acme-uk"]
    assert "2 orders are stored under connection acme" in result.stderr


def test_rename_moves_everything_in_one_go(renamed_config):
    result = sqsync(renamed_config, "connections", "rename", "acme", "acme-uk")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(
        "connection acme renamed to acme-uk: moved 2 orders (with their shipments), "
        "1 run log entries, 1 sync state values"
    )
    assert "1 stock adjustments" in result.stdout and result.stdout.count("\n") == 1
    store = Store.open(load_config(renamed_config).store_path)
    assert order_counts(store) == {"acme-uk": 2}
    assert last_run(store, "acme-uk", "import-orders")["outcome"] == "ok"
    assert get_state(store, "acme-uk", "import_window_end") == "2026-11-27T09:50:00.000Z"
    assert [e.connection for e in entries(store)] == ["acme-uk"]
    for table in connection_tables(store):
        assert not store.conn.execute(
            f"SELECT 1 FROM {table} WHERE connection = 'acme'"
        ).fetchall(), table
    shipments = store.conn.execute(
        "SELECT o.connection FROM shipments s JOIN orders o ON o.id = s.order_id"
    ).fetchall()
    assert [row[0] for row in shipments] == ["acme-uk"]
    store.close()

    status = sqsync(renamed_config, "status")
    assert "not in the config" not in status.stdout
    assert "acme-uk: 1 NEW and 0 HOLDING orders" in status.stdout


def test_a_table_added_later_is_renamed_too(renamed_config):
    store = Store.open(load_config(renamed_config).store_path)
    store.conn.execute("CREATE TABLE later_things (connection TEXT NOT NULL, what TEXT)")
    store.conn.execute("INSERT INTO later_things VALUES ('acme', 'x'), ('other', 'y')")
    renamed = rename_connection(store, "acme", "acme-uk", configured={"acme-uk"})
    assert renamed.moved["later_things"] == 1
    assert "1 later_things rows" in renamed.summary()
    rows = store.conn.execute("SELECT connection FROM later_things ORDER BY what").fetchall()
    assert [row[0] for row in rows] == ["acme-uk", "other"]
    store.close()


@pytest.mark.sqlite_only  # counts statements / a trigger in SQLite's dialect
def test_a_failure_half_way_changes_nothing(renamed_config):
    store = Store.open(load_config(renamed_config).store_path)
    store.conn.execute(
        "CREATE TRIGGER refuse BEFORE UPDATE ON stock_adjustments"
        " BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
    )
    before = snapshot(store)
    with pytest.raises(IntegrityError):
        rename_connection(store, "acme", "acme-uk", configured={"acme-uk"})
    assert snapshot(store) == before
    store.close()


def test_a_stale_lock_of_old_is_dropped(renamed_config):
    store = Store.open(load_config(renamed_config).store_path)
    acquire(store, "acme", command="sqsync run", clock=lambda: NOW, host="elsewhere")
    later = NOW + timedelta(hours=1)  # the lease has expired
    rename_connection(store, "acme", "acme-uk", configured={"acme-uk"}, clock=lambda: later)
    assert holder(store, "acme") is None
    store.close()


@pytest.mark.parametrize("name", ["acme", "acme-uk"])
def test_refused_while_either_lock_is_held(renamed_config, name):
    store = Store.open(load_config(renamed_config).store_path)
    acquire(store, name, command="sqsync run", host="elsewhere")
    before = snapshot(store)
    store.close()
    result = sqsync(renamed_config, "connections", "rename", "acme", "acme-uk")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert f"connection {name} is busy: locked by sqsync run" in result.stderr
    with Store.open(load_config(renamed_config).store_path) as store:
        assert snapshot(store) == before


def test_lock_check_in_the_library(renamed_config):
    store = Store.open(load_config(renamed_config).store_path)
    acquire(store, "acme", command="sqsync sync-stock", clock=lambda: NOW, host="elsewhere")
    with pytest.raises(ConnectionLocked):
        rename_connection(store, "acme", "acme-uk", configured={"acme-uk"}, clock=lambda: NOW)
    store.close()


@pytest.mark.parametrize(
    ("old", "new", "exit_code", "message"),
    [
        ("nobody", "acme-uk", 1, "no orders are stored under connection nobody; nothing to rename"),
        ("acme", "acme", 2, "connection acme: the old and the new name are the same"),
        ("acme", "acme-eu", 2, "connection acme-eu is not in the config (configured: acme-uk)"),
        ("acme-uk", "acme", 2, "connection acme is not in the config"),
    ],
)
def test_refusals_are_one_line_and_change_nothing(renamed_config, old, new, exit_code, message):
    with Store.open(load_config(renamed_config).store_path) as store:
        before = snapshot(store)
    result = sqsync(renamed_config, "connections", "rename", old, new)
    assert result.exit_code == exit_code, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("sqsync: error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr
    with Store.open(load_config(renamed_config).store_path) as store:
        assert snapshot(store) == before


def test_refused_when_new_already_has_orders(renamed_config):
    with Store.open(load_config(renamed_config).store_path) as store:
        insert_order(store, connection="acme-uk")
    result = sqsync(renamed_config, "connections", "rename", "acme", "acme-uk")
    assert result.exit_code == 1
    assert "connection acme-uk already has 1 stored orders: refusing to merge" in result.stderr


def test_refused_while_old_is_still_configured(tmp_path):
    path = write_config(
        tmp_path,
        connections=[
            {"name": "acme", "warehouse": "MAIN", "api_key_env": "A_KEY"},
            {"name": "acme-uk", "warehouse": "MAIN", "api_key_env": "B_KEY", "order_prefix": "U"},
        ],
    )
    with Store.open(load_config(path).store_path) as store:
        insert_order(store, connection="acme", client="default")
    result = sqsync(path, "connections", "rename", "acme", "acme-uk")
    assert result.exit_code == 2
    assert "connection acme is still in the config: rename it there to acme-uk first" in (
        result.stderr
    )
