"""The PostgreSQL store: how it is chosen, what it shares with SQLite, and its locks.

Tests that need a server run in the suite's PostgreSQL pass (SQSYNC_TEST_BACKEND=postgres,
which `make test` runs second); the rest run on every pass.
"""

from __future__ import annotations

import os
import sqlite3
from importlib import resources

import pytest

from factories import insert_order, write_config
from sqsync.config import load_config
from sqsync.errors import ConfigError
from sqsync.store import Store
from sqsync.store.database import migration_files
from sqsync.store.postgres import postgres_migration_files, redacted, translate

on_postgres = pytest.mark.skipif(
    os.environ.get("SQSYNC_TEST_BACKEND") != "postgres", reason="needs the PostgreSQL pass"
)


def test_every_sqlite_migration_has_a_postgresql_twin_and_no_more():
    sqlite_names = [name for name, _ in migration_files()]
    assert sorted(postgres_migration_files()) == sqlite_names


def test_placeholders_are_translated_outside_quotes_and_comments():
    query, writes = translate("UPDATE t SET a = ?, b = '?%' WHERE c LIKE 'x%' -- why?\n AND d = :d")
    assert query == "UPDATE t SET a = %s, b = '?%%' WHERE c LIKE 'x%%' -- why?\n AND d = %(d)s"
    assert writes
    assert translate("SELECT x::text FROM t")[0] == "SELECT x::text FROM t"
    assert not translate("SELECT 1")[1]


def test_a_password_is_never_kept_in_the_config_or_shown():
    assert redacted("postgresql://u:secret@h:5432/db") == "postgresql://u@h:5432/db"


def _with_store(tmp_path, text):
    path = write_config(tmp_path)
    config = path.read_text(encoding="utf-8")
    assert 'path = "sqsync.db"' in config
    path.write_text(config.replace('path = "sqsync.db"', text), encoding="utf-8")
    return path


def test_url_and_path_together_are_a_config_error(tmp_path):
    path = _with_store(tmp_path, 'path = "x.db"\nurl = "postgresql://u@h/db"')
    with pytest.raises(ConfigError, match="not both"):
        load_config(path)


def test_a_url_with_a_password_is_refused(tmp_path):
    path = _with_store(tmp_path, 'url = "postgresql://u:hunter2@h/db"')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "pgpass" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_the_environment_url_wins_over_the_file(tmp_path, monkeypatch):
    path = write_config(tmp_path)
    monkeypatch.setenv("SQSYNC_STORE_URL", "postgresql://sqsync@db.example/sqsync")
    assert load_config(path).store_location == "postgresql://sqsync@db.example/sqsync"
    monkeypatch.setenv("SQSYNC_STORE_URL", "mysql://nope")
    with pytest.raises(ConfigError, match="SQSYNC_STORE_URL"):
        load_config(path).store_location  # noqa: B018


def test_a_refused_connection_is_one_store_error_naming_the_database():
    from sqsync.store.database import StoreError

    with pytest.raises(StoreError) as caught:
        Store.open("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    assert str(caught.value).startswith("store postgresql://nobody@127.0.0.1:1/none")


@pytest.mark.parametrize(
    "url, why",
    [
        ("postgresql://nobody@127.0.0.1:notaport/none", 'invalid integer value "notaport"'),
        ("postgresql://nobody@127.0.0.1/none?sslmode=bogus", 'invalid sslmode value: "bogus"'),
        ("postgresql://%zz@127.0.0.1/none", "invalid percent-encoded token"),
    ],
)
def test_a_bad_url_is_one_line_exit_1_naming_what_is_wrong(tmp_path, monkeypatch, url, why):
    from click.testing import CliRunner

    from sqsync.cli import cli

    path = write_config(tmp_path)
    monkeypatch.setenv("SQSYNC_STORE_URL", url)
    result = CliRunner().invoke(cli, ["--config", str(path), "status"])
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("sqsync: error: store postgresql://") and why in line, line
    assert "Traceback" not in result.output


def test_sqlite_users_never_import_psycopg():
    import subprocess
    import sys

    code = (
        "import sys; from sqsync.cli import main; from sqsync.store import Store;"
        "Store.open(sys.argv[1]).close(); print('psycopg' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "SQSYNC_STORE_URL"}
    done = subprocess.run(
        [sys.executable, "-c", code, "/tmp/sqsync-no-psycopg.db"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert done.stdout.strip() == "False"


@on_postgres
def test_the_lock_is_the_databases_own_and_dies_with_its_session(store_backend):
    from sqsync.store.locks import ConnectionLocked, acquire, holder, is_held

    first, second = Store.open(store_backend), Store.open(store_backend)
    lease = acquire(first, "acme", command="sqsync run", host="host-a", pid=1)
    with pytest.raises(ConnectionLocked):
        acquire(second, "acme", command="sqsync run", host="host-b", pid=2)
    assert is_held(second, holder(second, "acme"), lease.clock())
    [(backend,)] = first.conn.execute("SELECT pg_backend_pid()").fetchall()
    first.close()  # the host died: its session, and so its lock, are gone at once
    # "At once" is when its backend has exited, a moment after the client hung up: wait
    # for that (pg_terminate_backend with a timeout waits; false if it is already gone).
    second.conn.execute("SELECT pg_terminate_backend(?, 10000)", (backend,))
    again = acquire(second, "acme", command="sqsync run", host="host-b", pid=2)
    assert holder(second, "acme").host == "host-b"
    again.release()
    second.close()
    del lease


@on_postgres
def test_no_clock_frees_a_live_sessions_lock_and_a_lost_session_frees_it_at_once(
    store_backend,
):
    # The SQLite lease ends after LEASE and is judged by pids on one host; here neither:
    # the holder's clock, host and pid say nothing, only whether its session is alive.
    from datetime import timedelta

    from sqsync.store.locks import LEASE, ConnectionLocked, acquire

    first, second = Store.open(store_backend), Store.open(store_backend)
    start = first.conn.execute("SELECT now()").fetchone()[0]
    acquire(first, "acme", command="sqsync run", host="host-a", pid=1, clock=lambda: start)
    much_later = start + 10 * LEASE
    with pytest.raises(ConnectionLocked):
        acquire(
            second,
            "acme",
            command="sqsync run",
            host="host-a",
            pid=2,
            clock=lambda: much_later,
            alive=lambda pid: False,
        )
    # Host A's network is cut: the server ends its session (here: terminated by hand).
    [(backend,)] = first.conn.execute("SELECT pg_backend_pid()").fetchall()
    # With a timeout it waits for the backend to be gone, its locks with it (without, the
    # signal is only sent, and the next acquire could still find the lock held).
    second.conn.execute("SELECT pg_terminate_backend(?, 10000)", (backend,))
    acquire(
        second,
        "acme",
        command="sqsync run",
        host="host-b",
        pid=2,
        clock=lambda: start + timedelta(seconds=1),
    ).release()
    second.close()


@on_postgres
def test_a_failure_while_taking_the_lock_is_reported_as_itself_and_leaves_it_free(
    store_backend,
):
    # `run` writes its first run-log row in the lock's transaction; when a statement there
    # fails, PostgreSQL refuses every later one in it, the unlock included.
    from sqsync.store.locks import acquire

    first, second = Store.open(store_backend), Store.open(store_backend)

    def broken(conn):
        conn.execute("SELECT no_such_function()")

    with pytest.raises(Exception, match="no_such_function"):
        acquire(first, "acme", command="sqsync run", also=broken)
    acquire(second, "acme", command="sqsync run").release()  # not held by `first`
    acquire(first, "acme", command="sqsync run").release()  # and `first` still works
    first.close()
    second.close()


@on_postgres
def test_every_sqlite_index_has_a_postgresql_twin_on_the_same_columns(tmp_path, store_backend):
    # The query-plan tests (run log, allocation, order changes) run on SQLite's planner;
    # this keeps the indexes they prove there present here too.
    lite = sqlite3.connect(tmp_path / "lite.db")
    for _, script in migration_files():
        lite.executescript(script)
    expected = {}
    for name, table in lite.execute(
        "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ):
        columns = [row[2] for row in lite.execute(f"PRAGMA index_info('{name}')")]
        expected[name] = (table, columns)
    with Store.open(store_backend) as store:
        found = {}
        for row in store.conn.execute(
            "SELECT i.relname, t.relname, array_agg(a.attname ORDER BY k.n)"
            " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
            " JOIN pg_class t ON t.oid = x.indrelid"
            " CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, n)"
            " LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum"
            " WHERE t.relnamespace = 'public'::regnamespace GROUP BY i.relname, t.relname"
        ):
            found[row[0]] = (row[1], [c for c in row[2] if c is not None])
    assert expected, "no index read from SQLite: the test proves nothing"
    for name, (table, columns) in expected.items():
        assert name in found, f"index {name} on {table} missing on PostgreSQL"
        assert found[name][0] == table
        if columns:  # an index on an expression names no column on SQLite
            assert found[name][1] == columns, name


@on_postgres
def test_the_database_going_away_mid_run_is_one_line_and_the_next_run_resumes(
    tmp_path, make_emulator, monkeypatch, store_backend
):
    import json

    import psycopg
    from click.testing import CliRunner

    from sqsync.cli import cli

    emu = make_emulator(orders=300, variants=6, seed=3)
    path = write_config(tmp_path, api_url=emu.url)
    monkeypatch.setenv("ACME_KEY", emu.api_key)
    requests = {"n": 0}

    def server_restarts(method, route):  # on the third orders page, mid-import
        requests["n"] += 1
        if requests["n"] == 3:
            with psycopg.connect(store_backend, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
                    " WHERE application_name = 'sqsync' AND datname = current_database()"
                )

    emu.before_request = server_restarts
    broken = CliRunner().invoke(cli, ["--config", str(path), "-q", "run"])
    assert broken.exit_code == 1
    assert "Traceback" not in broken.output
    [line] = [x for x in broken.stderr.splitlines() if "FAILED" in x]
    assert "store postgresql://" in line and "closed" in line, line

    emu.before_request = None
    again = CliRunner().invoke(cli, ["--config", str(path), "-q", "run", "--force", "--json"])
    assert again.exit_code == 0, again.output
    last = CliRunner().invoke(cli, ["--config", str(path), "run", "--force", "--json"])
    [imported] = [json.loads(x) for x in last.stdout.splitlines() if "import-orders" in x]
    assert imported["ok"] and imported["imported"] == 0  # nothing was missed
    with Store.open(store_backend) as store:
        numbers = [r[0] for r in store.conn.execute("SELECT order_number FROM orders")]
    assert numbers and len(numbers) == len(set(numbers))


@on_postgres
def test_a_deferred_commit_is_the_transactions_own_and_leaves_the_session_setting(
    store_backend,
):
    with Store.open(store_backend) as store:
        for default in ("on", "off"):  # a server's usual setting, then a DBA's choice
            store.conn.execute(f"SET synchronous_commit = {default}")
            with store.deferred_sync(), store.transaction() as conn:
                assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "off"
            with store.transaction() as conn:
                assert conn.execute("SHOW synchronous_commit").fetchone()[0] == default
            assert store.conn.execute("SHOW synchronous_commit").fetchone()[0] == default


@on_postgres
def test_the_orders_statistics_follow_a_first_import_as_it_grows(store_backend, monkeypatch):
    # Planned with an empty table's statistics, each page's lookup walked every order of
    # the connection; autovacuum looks a minute later, long after a first import's pages.
    from sqsync.store.postgres import PgConnection

    analyzed: list[str] = []
    real_script = PgConnection.script

    def script(self, sql):
        if sql.startswith("ANALYZE"):
            analyzed.append(sql)
        return real_script(self, sql)

    monkeypatch.setattr(PgConnection, "script", script)

    def estimate(store):
        return store.conn.execute(
            "SELECT reltuples FROM pg_class WHERE relname = 'orders'"
        ).fetchone()[0]

    with Store.open(store_backend) as store:
        for n in range(3):
            insert_order(store, order_number=f"SQ-{n}")
        store.orders_added(999)
        assert analyzed == []  # not yet: a thousand orders added first
        store.orders_added(1)
        assert len(analyzed) == 1 and estimate(store) == 3
        insert_order(store, order_number="SQ-3")
        store.orders_added(999)  # the next look is at twice as many
        assert len(analyzed) == 1
        store.orders_added(1)
        assert len(analyzed) == 2 and estimate(store) == 4


@on_postgres
def test_store_copy_moves_everything_and_refuses_a_non_empty_target(tmp_path, store_backend):
    from sqsync.store.copy import copy_store

    source = _sqlite_store(tmp_path / "old.db")
    order_id = insert_order(source, order_number="SQ-7")
    copied = copy_store(source, store_backend)
    assert copied.rows["orders"] == 1
    target = Store.open(store_backend)
    row = target.conn.execute("SELECT id, order_number, change_no FROM orders").fetchone()
    assert (row[0], row[1]) == (order_id, "SQ-7")
    assert row[2] == source.conn.execute("SELECT change_no FROM orders").fetchone()[0]
    # New rows go on after the copied ids, and the feed after the copied numbers.
    assert insert_order(target, order_number="SQ-8") > order_id
    target.close()
    with pytest.raises(ConfigError, match="not empty"):
        copy_store(source, store_backend)
    source.close()


@on_postgres
def test_jobs_resume_from_a_copied_store_without_importing_or_sending_anything_again(
    tmp_path, make_emulator, store_backend
):
    # A month of SQLite, as users have it, then `store copy` and the jobs on PostgreSQL.
    # Real processes: in this pass, Store.open in this one is redirected to PostgreSQL.
    import json

    from factories import sqsync_process as sqsync

    emu = make_emulator(orders=30, variants=6, seed=4)
    path = write_config(tmp_path, api_url=emu.url, stock_sync=True)
    lite = {k: v for k, v in os.environ.items() if k != "SQSYNC_STORE_URL"}
    lite.update(SQSYNC_CONFIG=str(path), ACME_KEY=emu.api_key)

    skus = sorted({v["sku"] for v in emu.inventory.values() if v.get("sku")})
    sqsync(lite, "stock", "import", "-", input="sku,quantity\n" + "".join(f"{s},9\n" for s in skus))
    sqsync(lite, "run")
    numbers = sqsync(lite, "orders", "list", "--status", "NEW", "--format", "ndjson")
    numbers = [json.loads(line)["order_number"] for line in numbers.splitlines()]
    assert len(numbers) >= 4, "too few orders to ship: the test proves little"
    feed = "order_number,carrier,service,tracking_number\n"
    sqsync(lite, "despatch", "import", "-", input=feed + f"{numbers[0]},DPD,Next Day,T1\n")
    sqsync(lite, "push-despatch")  # one shipment pushed; the next one waits unpushed
    sqsync(lite, "despatch", "import", "-", input=feed + f"{numbers[1]},DPD,Next Day,T2\n")
    fulfilled = emu.stats.fulfilments_applied

    out = sqsync(lite, "store", "copy", "--to", store_backend)
    assert "orders" in out

    source = sqlite3.connect(tmp_path / "sqsync.db")
    tables = [
        row[0]
        for row in source.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    with Store.open(store_backend) as target:
        for table in tables:  # every row of every table, column by column
            order = "1" if table in ("schema_migrations",) else "1, 2"
            mine = [tuple(r) for r in source.execute(f"SELECT * FROM {table} ORDER BY {order}")]
            theirs = [
                tuple(r) for r in target.conn.execute(f"SELECT * FROM {table} ORDER BY {order}")
            ]
            if table == "schema_migrations":  # applied_at differs: when each store migrated
                mine, theirs = [r[:1] for r in mine], [r[:1] for r in theirs]
            assert theirs == mine, table
    assert "orders" in tables and "run_log" in tables and "stock_adjustments" in tables

    pg = {**lite, "SQSYNC_STORE_URL": store_backend}
    lines = [json.loads(x) for x in sqsync(pg, "run", "--force", "--json").splitlines()]
    done = {line["job"]: line for line in lines}
    assert done["import-orders"]["ok"] and done["import-orders"]["imported"] == 0
    assert done["sync-stock"]["ok"] and done["sync-stock"]["adjusted"] == 0
    assert done["push-despatch"]["pushed"] == 1  # only the one never sent
    assert emu.stats.fulfilments_applied == fulfilled + 1


def _sqlite_store(path):
    """A real SQLite store even in the PostgreSQL pass (which redirects Store.open)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    store = Store(conn, path)
    store.migrate()
    return store


def test_the_postgresql_migrations_ship_in_the_package():
    folder = resources.files("sqsync.store").joinpath("migrations").joinpath("postgres")
    assert any(entry.name == "0001_initial.sql" for entry in folder.iterdir())


def test_a_missing_extra_is_one_line_exit_2(tmp_path):
    import subprocess
    import sys

    path = _with_store(tmp_path, 'url = "postgresql://sqsync@127.0.0.1:1/sqsync"')
    # A module finder that hides psycopg, as on a machine without the extra.
    hide = (
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'psycopg':\n"
        "            raise ModuleNotFoundError(name=name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from sqsync.cli import main\n"
        "sys.argv = ['sqsync', '--config', sys.argv[1], 'status']\n"
        "main()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "SQSYNC_STORE_URL"}
    done = subprocess.run(
        [sys.executable, "-c", hide, str(path)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "sqsync: error: [store] url is a PostgreSQL database, which needs the postgres extra:"
        " pip install 'sqsync[postgres]'"
    ]
