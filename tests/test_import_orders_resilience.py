"""import-orders under stress: killed between pages, run twice at once, and a large import.

The crash is a real process (``python -m sqsync import-orders``) against the emulator in
this test process, killed by the emulator's ``before_request`` hook; the concurrent runs
are held by the same hook at the same point, so nothing depends on timing.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from factories import write_config
from sqsync.cli import cli
from sqsync.config import load_config
from sqsync.emulator import EmulatorState
from sqsync.emulator.generate import build_order
from sqsync.emulator.wire import datetime_to_ms
from sqsync.jobs import JobResult
from sqsync.jobs.runner import run_job
from sqsync.store import Store

ORDERS = "/1.0/commerce/orders"


def sqsync_process(config: Path, key: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "ACME_KEY": key}
    command = [sys.executable, "-m", "sqsync", "--config", str(config), "import-orders", *args]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def stored(config: Path, sql: str) -> list[tuple]:
    with Store.open(load_config(config).store_path) as store:
        return [tuple(row) for row in store.conn.execute(sql)]


def listing_order(emulator) -> list[dict]:
    """The emulator's orders in the order the API lists them (modifiedOn, then id)."""
    return sorted(emulator.orders.values(), key=lambda o: (o["modifiedOn"], o["id"]))


def test_killed_between_pages_then_rerun_loses_nothing_and_duplicates_nothing(
    tmp_path, emulator, monkeypatch
):
    for number in range(175):
        emulator.add_order(emulator.make_order(sku="RED-S", testmode=number % 12 == 0))
    listed = listing_order(emulator)
    eligible = {o["id"] for o in listed if not o["testmode"]}
    config = write_config(tmp_path, api_url=emulator.url)
    pages = itertools.count(1)
    child: dict[str, subprocess.Popen[str]] = {}

    def kill_at_fourth_page(method: str, path: str) -> None:
        if path == ORDERS and next(pages) == 4:
            os.kill(child["process"].pid, signal.SIGKILL)

    emulator.before_request = kill_at_fourth_page
    child["process"] = sqsync_process(config, emulator.api_key)
    child["process"].communicate(timeout=60)
    emulator.before_request = None

    assert child["process"].returncode == -signal.SIGKILL
    # Page 4 never arrived. Pages are read one ahead of the store, so page 1 was surely
    # committed and page 3 perhaps: whole pages from the first, never part of one.
    kept = {r[0] for r in stored(config, "SELECT squarespace_id FROM orders")}
    whole_pages = [{o["id"] for o in listed[: 50 * n]} & eligible for n in (1, 2, 3)]
    assert kept in whole_pages
    # No window end: only where the first import began, saved with its first page.
    assert stored(config, "SELECT key FROM sync_state WHERE key LIKE '%window%'") == []
    assert stored(config, "SELECT outcome FROM run_log") == [("running",)]

    monkeypatch.setenv("ACME_KEY", emulator.api_key)
    result = CliRunner().invoke(cli, ["--config", str(config), "import-orders", "--json"])

    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout)
    assert (line["imported"], line["unchanged"]) == (len(eligible) - len(kept), len(kept))
    ids = [r[0] for r in stored(config, "SELECT squarespace_id FROM orders")]
    assert sorted(ids) == sorted(eligible)  # each eligible order exactly once
    assert stored(config, "SELECT count(*) FROM sync_state WHERE key LIKE '%window_end'") == [(1,)]


def test_two_concurrent_imports_of_one_window_store_each_order_once(tmp_path, emulator):
    # The CLI refuses a second run of a busy connection (its lock); this proves the job
    # itself never duplicates an order even when two runs do overlap (a lock taken over
    # from a stalled run, a library caller): two threads, each with its own store
    # connection and client, read the same window from the same empty store.
    count = 120
    for _ in range(count):
        emulator.add_order(emulator.make_order(sku="RED-S"))
    config = load_config(write_config(tmp_path, api_url=emulator.url, api_key=emulator.api_key))
    Store.open(config.store_path).close()  # schema in place before the race
    both_asked = threading.Barrier(2, timeout=30)
    first_pages = itertools.count(1)

    def hold_until_both_asked(method: str, path: str) -> None:
        if path == ORDERS and next(first_pages) <= 2:
            both_asked.wait()  # both runs have read the same (empty) store state by now

    emulator.before_request = hold_until_both_asked
    results: list[JobResult] = []

    def one_run() -> None:
        with Store.open(config.store_path) as store:
            results.append(run_job("import-orders", config.connections[0], store))

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert [r.ok for r in results] == [True, True], [r.error for r in results]
    assert sum(r.counts["imported"] for r in results) == count
    assert sum(r.counts["unchanged"] for r in results) == count
    with Store.open(config.store_path) as store:
        found = store.conn.execute("SELECT count(*), count(DISTINCT squarespace_id) FROM orders")
        assert tuple(found.fetchone()) == (count, count)


def pending_shop(count: int) -> EmulatorState:
    """``count`` eligible orders (PENDING, PAID, to GB), one modified per second to now."""
    end = datetime_to_ms(datetime.now(UTC)) - 1000
    return EmulatorState(
        [
            build_order(
                order_id=f"{n:024x}",
                number=1001 + n,
                created_ms=end - (count - n) * 1000,
                modified_ms=end - (count - n) * 1000,
                line={"sku": "RED-S", "variant_id": "v1"},
            )
            for n in range(count)
        ]
    )


def test_a_thousand_orders_take_twenty_list_requests_and_nothing_per_order(
    tmp_path, make_emulator, monkeypatch
):
    emulator = make_emulator(pending_shop(1000))
    config = write_config(tmp_path, api_url=emulator.url)
    monkeypatch.setenv("ACME_KEY", emulator.api_key)

    result = CliRunner().invoke(cli, ["--config", str(config), "import-orders", "--json"])

    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout)
    assert (line["imported"], line["requests"]) == (1000, 20)
    assert emulator.stats.count("GET", ORDERS) == 20
    assert emulator.stats.requests == 20
    assert stored(config, "SELECT count(*) FROM order_items") == [(1000,)]
