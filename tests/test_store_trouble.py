"""Store trouble (issue 12): a full disk, a corrupted file, a read-only file or folder is one
line on stderr naming the store and the cause, exit 1, never a traceback; commands that
only read still work on a store that cannot be written.

The tests run as root, who ignores file permissions, so the read-only cases run sqsync in
a subprocess as the unprivileged user 65534 (nobody), on files in a fresh folder under
/tmp that it can reach.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import sqsync
from factories import insert_order, write_config
from sqsync.cli import cli
from sqsync.config import load_config
from sqsync.jobs import runner
from sqsync.store import Store, database
from sqsync.store.database import StoreError, migration_files
from sqsync.store.stock import set_on_hand
from sqsync.store.sync_state import set_state

pytestmark = pytest.mark.sqlite_only  # a SQLite file's disk, permission and corruption trouble


NOBODY = 65534
CORRUPTED = "the file is not an sqlite database or is corrupted; restore it from a backup"


def sqsync_cli(config: Path, *args: str, **kwargs: Any) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args], **kwargs)


def assert_one_line(result: Result, *parts: str) -> str:
    """Exit 1 and exactly one line on stderr, ``sqsync: error: ...`` or a job's FAILED
    summary, containing every one of ``parts``; return it."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert result.stderr.count("\n") == 1, result.stderr
    line = result.stderr.strip()
    for part in parts:
        assert part in line
    return line


def store_of(config: Path) -> Path:
    return load_config(config).store_path


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every store the code opens from now on cannot grow: ``max_page_count`` is its
    current size, so the first write that needs a new page fails with SQLITE_FULL, as on
    a full disk."""
    real_open = Store.open

    def capped_open(path: Path | str, **options: Any) -> Store:
        store = real_open(path, **options)
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages}")
        return store

    monkeypatch.setattr(Store, "open", staticmethod(capped_open))


# ------------------------------------------------------------------------ a full disk


def test_a_full_disk_during_a_command_write_is_one_line(tmp_path, full_disk):
    config = write_config(tmp_path)
    Store.open(store_of(config)).close()
    feed = tmp_path / "stock.csv"
    feed.write_text("sku,quantity\n" + "".join(f"SKU-{n:05d},{n}\n" for n in range(3000)))

    result = sqsync_cli(config, "stock", "import", str(feed))

    line = assert_one_line(result, f"store {store_of(config)}: the disk is full")
    assert line.startswith("sqsync: error: ")
    with Store.open(store_of(config)) as store:  # all or nothing: nothing was written
        assert store.conn.execute("SELECT count(*) FROM stock_levels").fetchone()[0] == 0


def _filling_job(client: Any, store: Store, connection: Any, **options: Any) -> Any:
    with store.transaction() as conn:
        set_state(conn, connection.name, "ballast", "x" * 1_000_000)
    raise AssertionError("the write should have found the disk full")


def test_a_full_disk_during_a_job_is_a_failed_job_in_one_line(tmp_path, monkeypatch, full_disk):
    monkeypatch.setenv("ACME_KEY", "k" * 40)
    monkeypatch.setattr(runner, "job_function", lambda job: _filling_job)
    config = write_config(tmp_path)
    Store.open(store_of(config)).close()

    result = sqsync_cli(config, "import-orders")

    line = assert_one_line(result, f"store {store_of(config)}: the disk is full")
    assert line.startswith("acme import-orders: FAILED: ")  # a failed job result
    with Store.open(store_of(config)) as store:
        outcome, error = store.conn.execute("SELECT outcome, error FROM run_log").fetchone()
    assert outcome == "failed" and "the disk is full" in error


def test_a_store_error_inside_a_job_is_a_failed_result(tmp_path, monkeypatch, full_disk):
    monkeypatch.setattr(runner, "job_function", lambda job: _filling_job)
    config = load_config(write_config(tmp_path))
    with Store.open(config.store_path) as store:
        result = runner.run_job(
            "import-orders", config.connections[0], store, client_factory=lambda c: _Client()
        )
    assert not result.ok
    assert result.error == f"store {config.store_path}: the disk is full"


class _Client:
    """Stands in for the Squarespace client: the job fails on the store before any request."""

    request_count = 0

    def close(self) -> None:
        pass

    def preload_pacing(self, ages: list[float]) -> None:
        pass

    def recent_request_ages(self) -> list[float]:
        return []


# ------------------------------------------------------------------- a corrupted file


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database, just some bytes " * 200)


def _truncated(path: Path) -> None:
    with Store.open(path) as store:
        insert_order(store, items=[("RED-S", 1)] * 200)
    size = path.stat().st_size
    with path.open("r+b") as file:
        file.truncate(size // 2)


@pytest.mark.parametrize("spoil", [_garbage, _truncated], ids=["garbage", "truncated"])
@pytest.mark.parametrize("command", [["status"], ["import-orders"]], ids=["status", "job"])
def test_a_corrupted_file_is_one_line(tmp_path, monkeypatch, spoil, command):
    monkeypatch.setenv("ACME_KEY", "k" * 40)
    config = write_config(tmp_path)
    spoil(store_of(config))

    result = sqsync_cli(config, *command)

    line = assert_one_line(result, f"store {store_of(config)}: {CORRUPTED}")
    assert line.startswith("sqsync: error: ")


def test_a_malformed_page_met_by_a_read_is_one_line(tmp_path):
    config = write_config(tmp_path)
    path = store_of(config)
    with Store.open(path) as store:
        for _ in range(40):
            insert_order(store)
        root = store.conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = 'orders'"
        ).fetchone()[0]
        page_size = store.conn.execute("PRAGMA page_size").fetchone()[0]
    assert not Path(f"{path}-wal").exists()  # checkpointed on close: the pages are in the file
    with path.open("r+b") as file:  # the orders table's root page, nothing else
        file.seek((root - 1) * page_size)
        file.write(b"\xff" * page_size)

    result = sqsync_cli(config, "orders", "list")  # opens fine, then fails reading orders

    assert_one_line(result, f"sqsync: error: store {path}: {CORRUPTED}")


def test_translation_is_only_for_store_trouble(tmp_path):
    with Store.open(tmp_path / "s.db") as store:
        with pytest.raises(sqlite3.IntegrityError), store.transaction() as conn:
            conn.execute("INSERT INTO schema_migrations (name) VALUES ('x')")  # NOT NULL
        with pytest.raises(sqlite3.OperationalError), store.transaction():
            raise sqlite3.OperationalError("disk I/O error")  # made by hand: no error code
        full = pytest.raises(StoreError, match="the disk is full")
        with full, store.transaction(), store.transaction() as conn:  # the inner: a savepoint
            conn.execute("PRAGMA max_page_count = 1")
            set_state(conn, "acme", "ballast", "x" * 100_000)
        assert not store.conn.in_transaction


# ------------------------------------------------ read-only file and folder (as nobody)


@cache
def _nobody_python() -> list[str] | str:
    """How to start Python as nobody with this sqsync importable, or why it cannot be.

    This venv's own interpreter first; when nobody cannot run it (here it lives under
    root's home, mode 700) the system's Python of the same version, with the venv's
    packages and sqsync's source put first on its path.
    """
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    paths = [str(Path(sqsync.__file__).parents[1]), sysconfig.get_paths()["purelib"]]
    prelude = f"import sys; sys.path[:0] = {paths!r}; "
    tried = []
    for python in dict.fromkeys([sys.executable, f"/usr/bin/python{version}"]):
        command = [python, "-s", "-c", prelude + "exec(sys.argv.pop(1))"]
        try:
            probe = _run(command, "import sqsync.cli, sqsync.store")
        except OSError as error:
            tried.append(f"{python}: {error.strerror}")
            continue
        if probe.returncode == 0:
            return command
        tried.append(f"{python}: {probe.stderr.strip().splitlines()[-1:]}")
    return "cannot run sqsync as uid 65534: " + "; ".join(tried)


def _run(command: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [*command, *args],
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def as_nobody(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` (``sys.argv[1:]`` is ``args``) as nobody."""
    command = _nobody_python()
    if isinstance(command, str):
        pytest.skip(command)
    return _run(command, code, *args)


def sqsync_as_nobody(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return as_nobody(
        "from sqsync.cli import main; sys.argv[0] = 'sqsync'; main()",
        "--config",
        str(config),
        *args,
    )


def assert_one_line_as_nobody(done: subprocess.CompletedProcess[str], message: str) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr == f"sqsync: error: {message}\n"


class Shop:
    """A config and a store with one order and one stock level, in a fresh folder under
    /tmp owned by nobody (the store's own folder, ``shop``, is inside it)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.folder = base / "shop"
        self.folder.mkdir()
        self.path = self.folder / "sqsync.db"
        self.config = write_config(base, store_path=str(self.path))
        with Store.open(self.path) as store:
            insert_order(store, order_number="SQ-1001")
            set_on_hand(store, "ACME", "MAIN", "RED-S", 7)
        for path in (base, self.folder, self.config, self.path):
            os.chown(path, NOBODY, NOBODY)
        assert not Path(f"{self.path}-wal").exists()

    def file_read_only(self) -> None:
        self.path.chmod(0o444)

    def folder_read_only(self) -> None:
        self.folder.chmod(0o555)


@pytest.fixture
def shop() -> Iterator[Shop]:
    base = Path(tempfile.mkdtemp(prefix="sqsync-trouble-", dir="/tmp"))
    base.chmod(0o755)
    try:
        yield Shop(base)
    finally:
        for folder, _, _ in os.walk(base):
            Path(folder).chmod(0o755)
        shutil.rmtree(base)


READ_ONLY = pytest.mark.parametrize("read_only", ["file", "folder"])


def _cause(shop: Shop, read_only: str) -> str:
    if read_only == "file":
        shop.file_read_only()
        return "the file is read-only"
    shop.folder_read_only()
    return f"the folder {shop.folder} is read-only: sqlite needs to create sqsync.db-wal there"


def _stock_table(shop: Shop) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"{shop.path.as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT sku, on_hand FROM stock_levels").fetchall()
    finally:
        conn.close()


@READ_ONLY
def test_a_write_to_a_read_only_store_is_one_line(shop, read_only):
    cause = _cause(shop, read_only)

    done = sqsync_as_nobody(shop.config, "stock", "set", "RED-S", "9")

    assert_one_line_as_nobody(done, f"store {shop.path}: {cause}")
    assert _stock_table(shop) == [("RED-S", 7)]


_READ_ALL = """
import json
from sqsync.config import load_config
from sqsync.status import status_report
from sqsync.store import Store
from sqsync.store.orders import iter_order_dicts
from sqsync.store.stock import stock_rows

config = load_config(sys.argv[1])
with Store.open(config.store_path, readonly=True) as store:
    report = status_report(store, config.connections)
    orders = [o["order_number"] for o in iter_order_dicts(store)]
    stock = [(r["sku"], r["on_hand"]) for r in stock_rows(store, None, None)]
    print(json.dumps({"read_only": store.read_only, "orders": orders, "stock": stock,
                      "status": [s["connection"] for s in report]}))
"""


@READ_ONLY
def test_a_read_only_store_can_still_be_read(shop, read_only):
    cause = _cause(shop, read_only)

    done = as_nobody(_READ_ALL, str(shop.config))

    assert done.returncode == 0, done.stderr
    read = json.loads(done.stdout)
    assert read["orders"] == ["SQ-1001"]
    assert read["stock"] == [["RED-S", 7]]
    assert read["status"] == ["acme"]
    # A read-only file in a writable folder opens as usual (its schema is current, so
    # there is nothing to write); a read-only folder is opened read-only.
    assert read["read_only"] == (None if read_only == "file" else cause)


_OPEN_WITH_A_NEWER_MIGRATION = """
from sqsync.store import Store, database
from sqsync.store.database import StoreError
shipped = database.migration_files()
newer = ("9999_newer", "CREATE TABLE newer (x INTEGER);\\n")
database.migration_files = lambda: [*shipped, newer]
try:
    Store.open(sys.argv[1], readonly=True)
except StoreError as error:
    print(error)
"""


@READ_ONLY
def test_an_older_schema_on_a_read_only_store_is_one_line(shop, read_only):
    # This sqsync ships a migration the store has not had, and the store cannot be written.
    cause = _cause(shop, read_only)

    done = as_nobody(_OPEN_WITH_A_NEWER_MIGRATION, str(shop.path))

    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"store {shop.path}: its schema is older than this sqsync (9999_newer not applied)"
        f" and cannot be upgraded: {cause}\n"
    )
    with sqlite3.connect(f"{shop.path.as_uri()}?mode=ro", uri=True) as conn:  # untouched
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "newer" not in tables


@READ_ONLY
@pytest.mark.parametrize(
    "command",
    [["status"], ["orders", "list"], ["stock", "list"]],
    ids=["status", "orders", "stock"],
)
def test_read_only_commands_work_on_a_read_only_store(shop, read_only, command):
    _cause(shop, read_only)

    done = sqsync_as_nobody(shop.config, *command)

    assert done.returncode == 0, done.stderr
    assert "acme" in done.stdout or "RED-S" in done.stdout


def test_store_open_readonly_on_a_writable_store_migrates_as_usual(tmp_path, monkeypatch):
    Store.open(tmp_path / "s.db").close()
    extra = ("9999_extra", "CREATE TABLE extra (x INTEGER);\n")
    monkeypatch.setattr(database, "migration_files", lambda: [*migration_files(), extra])
    with Store.open(tmp_path / "s.db", readonly=True) as store:
        assert store.read_only is None
        assert store.conn.execute("SELECT count(*) FROM extra").fetchone()[0] == 0


def test_a_malformed_page_met_inside_a_job_is_a_failed_job_without_a_traceback(
    tmp_path, emulator, monkeypatch
):
    monkeypatch.setenv("ACME_KEY", emulator.api_key)
    config = write_config(tmp_path, api_url=emulator.url)
    path = store_of(config)
    with Store.open(path) as store:
        # A table import-orders reads outside any transaction (the orders it re-fetches).
        with store.transaction() as conn:
            for n in range(200):
                conn.execute(
                    "INSERT INTO unreadable_orders VALUES ('acme', ?, 'x', 'x', ?)",
                    (f"id{n}", "e" * 200),
                )
        root = store.conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'unreadable_orders'"
        ).fetchone()[0]
        page_size = store.conn.execute("PRAGMA page_size").fetchone()[0]
    with path.open("r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(b"\xff" * page_size)

    result = sqsync_cli(config, "import-orders")

    assert result.exit_code == 1
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert f"FAILED: store {path}: {CORRUPTED}" in result.stderr
