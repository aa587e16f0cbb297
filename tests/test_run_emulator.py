"""`sqsync run` end to end: real processes overlapping on one store and one emulator.

Process A is held inside its first request by the emulator's before_request hook, so it
holds the connection's lock for as long as the test wants (no sleeping, no timing luck).
"""

import os
import signal
import subprocess
import sys
import threading

import pytest
from click.testing import CliRunner

from factories import write_config
from sqsync.cli import cli
from sqsync.store import Store


class Gate:
    """Holds the first request in the emulator until released."""

    def __init__(self, emulator) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        self._first = True
        self._lock = threading.Lock()
        emulator.before_request = self

    def __call__(self, method: str, path: str) -> None:
        with self._lock:
            first, self._first = self._first, False
        if first:
            self.arrived.set()
            self.release.wait(timeout=60)


@pytest.fixture
def setup(tmp_path, make_emulator):
    emulator = make_emulator(orders=12, variants=8, seed=3)
    path = write_config(tmp_path, api_url=emulator.url, stock_sync=True)
    env = {**os.environ, "ACME_KEY": emulator.api_key, "SQSYNC_CONFIG": str(path)}
    # Stock for the emulator's SKUs so the stock sync has something to do.
    skus = sorted({i["sku"] for i in emulator.inventory.values() if i.get("sku")})
    feed = "sku,quantity\n" + "".join(f"{sku},5\n" for sku in skus)
    CliRunner().invoke(cli, ["--config", str(path), "stock", "import", "-"], input=feed)
    return emulator, path, env


def sqsync(env, *args, **popen):
    return subprocess.Popen(
        [sys.executable, "-m", "sqsync", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def run_log(path):
    with Store.open(path.parent / "sqsync.db") as store:
        rows = store.conn.execute("SELECT job, outcome FROM run_log ORDER BY id").fetchall()
    return [tuple(row) for row in rows]


def test_overlapping_runs_each_job_runs_once(setup):
    emulator, path, env = setup
    gate = Gate(emulator)
    first = sqsync(env, "run")
    try:
        assert gate.arrived.wait(timeout=60), "the first run never reached the emulator"
        second = sqsync(env, "run", "--force")
        _, err = second.communicate(timeout=60)
        assert second.returncode == 0, err
        assert "acme: skipped, locked by sqsync run" in err
        manual = sqsync(env, "sync-stock")
        _, manual_err = manual.communicate(timeout=60)
        assert manual.returncode == 1
        assert manual_err.count("\n") == 1 and "busy: locked by sqsync run" in manual_err
        assert emulator.stats.requests == 1  # only the held request: nothing else was sent
    finally:
        gate.release.set()
        _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert run_log(path) == [
        ("import-orders", "ok"),
        ("push-despatch", "ok"),
        ("sync-stock", "ok"),
    ]
    assert emulator.stats.count("POST", "/1.0/commerce/inventory/adjustments") == 1


def test_a_killed_run_does_not_wedge_the_connection(setup, monkeypatch):
    emulator, path, env = setup
    monkeypatch.setenv("ACME_KEY", emulator.api_key)
    gate = Gate(emulator)
    victim = sqsync(env, "run")
    assert gate.arrived.wait(timeout=60)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    gate.release.set()
    assert run_log(path) == [("import-orders", "running")]

    # Same host, dead pid: the next run takes the lock over at once, marks the import
    # killed (not failed) and runs it again at once, then the jobs after it.
    result = CliRunner().invoke(cli, ["--config", str(path), "run"])
    assert result.exit_code == 0, result.output
    assert "taking over the lock" in result.stderr
    assert run_log(path) == [
        ("import-orders", "killed"),
        ("import-orders", "ok"),
        ("push-despatch", "ok"),
        ("sync-stock", "ok"),
    ]
    with Store.open(path.parent / "sqsync.db") as store:
        assert store.conn.execute("SELECT count(*) FROM orders").fetchone()[0] > 0


def test_nothing_due_run_sends_nothing_and_prints_nothing(setup, monkeypatch):
    emulator, path, env = setup
    monkeypatch.setenv("ACME_KEY", emulator.api_key)
    assert CliRunner().invoke(cli, ["--config", str(path), "run"]).exit_code == 0
    requests = emulator.stats.requests
    again = sqsync(env, "run")
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0 and out == "" and err == ""
    assert emulator.stats.requests == requests
