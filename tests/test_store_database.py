"""The store file: WAL, busy timeout, foreign keys, migrations recorded once, transactions."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest

from sqsync.errors import ConfigError
from sqsync.store import Store, database, parse_time, utc_text
from sqsync.store.database import migration_files, split_statements

pytestmark = (
    pytest.mark.sqlite_only
)  # SQLite's file, pragmas and migrations runner (PostgreSQL: test_store_postgres.py)


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "sqsync.db") as opened:
        yield opened


def test_pragmas(store):
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # FULL: a committed "sending" mark survives a power cut (see Store.open).
    assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 30_000
    assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.conn.isolation_level is None  # autocommit: transactions are explicit


def test_migrations_recorded_with_time(store):
    rows = store.conn.execute("SELECT name, applied_at FROM schema_migrations").fetchall()
    assert [r["name"] for r in rows] == [name for name, _ in migration_files()]
    assert rows[0]["name"] == "0001_initial"
    assert parse_time(rows[0]["applied_at"]).tzinfo is not None


def test_reopening_applies_nothing_twice(tmp_path):
    Store.open(tmp_path / "s.db").close()
    with Store.open(tmp_path / "s.db") as again:
        assert again.migrate() == []
        count = again.conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
        assert count == len(migration_files())


def test_new_migration_applied_in_order_and_only_once(tmp_path, monkeypatch):
    Store.open(tmp_path / "s.db").close()
    extra = ("0002_extra", "CREATE TABLE extra (x INTEGER);\nINSERT INTO extra VALUES (1);\n")
    monkeypatch.setattr(database, "migration_files", lambda: [*migration_files(), extra])
    with Store.open(tmp_path / "s.db") as store:
        assert store.conn.execute("SELECT count(*) FROM extra").fetchone()[0] == 1
    with Store.open(tmp_path / "s.db") as store:
        assert store.conn.execute("SELECT count(*) FROM extra").fetchone()[0] == 1


def test_failed_migration_leaves_no_trace(tmp_path, monkeypatch):
    Store.open(tmp_path / "s.db").close()
    broken = ("0002_broken", "CREATE TABLE half (x INTEGER);\nINSERT INTO nowhere VALUES (1);\n")
    monkeypatch.setattr(database, "migration_files", lambda: [*migration_files(), broken])
    with pytest.raises(Exception, match="cannot apply the schema"):
        Store.open(tmp_path / "s.db")
    conn = sqlite3.connect(tmp_path / "s.db")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "half" not in tables
    assert (
        conn.execute(
            "SELECT count(*) FROM schema_migrations WHERE name = '0002_broken'"
        ).fetchone()[0]
        == 0
    )


def test_migration_files_are_numbered_and_named():
    names = [name for name, _ in migration_files()]
    assert names == sorted(names)
    assert all(name[:4].isdigit() and name[4] == "_" for name in names)


def test_opening_the_store_reads_its_migrations_without_importlib_resources(tmp_path):
    # a fresh interpreter: importlib.resources (tempfile, shutil, bz2, lzma) cost 8 ms a start
    code = (
        "import sys; from sqsync.store import Store; "
        f"Store.open({str(tmp_path / 'fresh.db')!r}).close(); "
        "print('importlib.resources' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False"]


def test_a_zipped_package_still_finds_its_migrations(monkeypatch):
    import importlib.resources

    on_disk = database.migrations_folder()
    real_is_dir, real_files = type(on_disk).is_dir, importlib.resources.files
    asked: list[str] = []
    # as in a zip: the package's folder is not a directory on the file system
    monkeypatch.setattr(type(on_disk), "is_dir", lambda self: self != on_disk and real_is_dir(self))
    monkeypatch.setattr(importlib.resources, "files", lambda p: asked.append(p) or real_files(p))
    assert database.migration_files.__wrapped__() == migration_files()
    assert asked == ["sqsync.store"]  # read through importlib.resources instead


def test_split_statements_keeps_triggers_whole():
    sql = (
        "-- a comment\nCREATE TABLE t (x);\n"
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  UPDATE t SET x = 1;\n  SELECT 1;\nEND;\n"
    )
    statements = list(split_statements(sql))
    assert len(statements) == 2
    assert "END;" in statements[1]


def test_missing_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"store path .*nowhere.*does not exist"):
        Store.open(tmp_path / "nowhere" / "s.db")
    assert not (tmp_path / "nowhere").exists()


def test_transaction_commits_or_rolls_back(store):
    with store.transaction() as conn:
        conn.execute("INSERT INTO clients (code) VALUES ('A')")
    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute("INSERT INTO clients (code) VALUES ('B')")
        raise RuntimeError("boom")
    assert [r[0] for r in store.conn.execute("SELECT code FROM clients")] == ["A"]
    assert not store.conn.in_transaction


def test_nested_transaction_is_a_savepoint(store):
    with store.transaction() as conn:
        conn.execute("INSERT INTO clients (code) VALUES ('A')")
        with pytest.raises(RuntimeError), store.transaction():
            conn.execute("INSERT INTO clients (code) VALUES ('B')")
            raise RuntimeError("inner fails")
        conn.execute("INSERT INTO clients (code) VALUES ('C')")
    assert [r[0] for r in store.conn.execute("SELECT code FROM clients ORDER BY code")] == [
        "A",
        "C",
    ]


def test_writers_take_the_lock_up_front(tmp_path):
    first = Store.open(tmp_path / "s.db")
    second = Store.open(tmp_path / "s.db")
    second.conn.execute("PRAGMA busy_timeout = 0")  # do not wait 30 s in a test
    with first.transaction():
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            second.conn.execute("BEGIN IMMEDIATE")
        # A reader is never blocked by the writer (WAL).
        assert second.conn.execute("SELECT count(*) FROM clients").fetchone()[0] == 0
    first.close()
    second.close()


def test_utc_text_sorts_and_round_trips():
    moment = datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=UTC)
    assert utc_text(moment) == "2026-11-27T10:00:00.123Z"
    paris = moment.astimezone(timezone(timedelta(hours=1)))
    assert utc_text(paris) == "2026-11-27T10:00:00.123Z"
    assert parse_time(utc_text(moment)) == moment.replace(microsecond=123000)
    assert utc_text(moment) < utc_text(moment + timedelta(milliseconds=1))
    with pytest.raises(ValueError):
        utc_text(datetime(2026, 1, 1))


def synchronous(store: Store) -> int:
    return store.conn.execute("PRAGMA synchronous").fetchone()[0]


def test_deferred_sync_changes_nothing_outside_wal(tmp_path):
    Store.open(tmp_path / "journal.db").close()
    # As on a file system that refuses WAL: the store's journal stays DELETE.
    conn = sqlite3.connect(tmp_path / "journal.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = DELETE")
    store = Store(conn, tmp_path / "journal.db")
    with store, store.deferred_sync(), store.transaction():
        assert synchronous(store) == 2
    with Store.open(tmp_path / "journal.db") as store:  # WAL again
        with store.deferred_sync(), store.transaction():
            assert synchronous(store) == 1
        with store.transaction():
            assert synchronous(store) == 2


def test_deferred_commits_in_a_row_switch_synchronous_once(store):
    """A quiet job's deferred commits (lock, run log, window end) pay one PRAGMA between
    them, not three each; the durable commit after them is FULL again before it begins."""
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    for _ in range(3):
        with store.deferred_sync(), store.transaction():
            assert synchronous(store) == 1
    with store.transaction():
        assert synchronous(store) == 2
    with store.deferred_sync():
        with store.deferred_sync(), store.transaction():  # nested: still deferred
            assert synchronous(store) == 1
        with store.transaction():
            assert synchronous(store) == 1
    store.conn.set_trace_callback(None)
    switches = [s for s in statements if s.startswith("PRAGMA synchronous =")]
    assert switches == [
        "PRAGMA synchronous = NORMAL",
        "PRAGMA synchronous = FULL",
        "PRAGMA synchronous = NORMAL",
    ]
    begins = [n for n, s in enumerate(statements) if s == "BEGIN IMMEDIATE"]
    full = statements.index("PRAGMA synchronous = FULL")
    assert full == begins[3] - 1  # set just before the durable transaction's BEGIN
