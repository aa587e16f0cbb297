"""A listing piped into `head` ends quietly: exit 0, nothing on stderr, no traceback.

Run as real processes with a real pipe whose reader goes away after one line: the
command is still writing (far more than a pipe holds), so its next write fails.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from factories import count_in_bulk, insert_order, write_config
from sqsync.config import load_config
from sqsync.store import Store


def _scope(fixture_name: str, config: pytest.Config) -> str:
    # On PostgreSQL each test's database is emptied before it starts: fill it per test.
    return "function" if os.environ.get("SQSYNC_TEST_BACKEND") == "postgres" else "module"


@pytest.fixture(scope=_scope)
def config(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pipes")
    path = write_config(folder)
    with Store.open(load_config(path).store_path) as store:
        count_in_bulk(store, "ACME", "MAIN", {f"SKU-{n:05d}": n for n in range(4000)})
        for _ in range(300):
            insert_order(store, status="HOLDING", problems=["unknown_sku:X"], items=[("A", 1)])
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["stock", "list"],
        ["stock", "list", "--format", "csv"],
        ["orders", "list", "--format", "ndjson"],
    ],
    ids=" ".join,
)
def test_a_reader_that_stops_after_one_line_ends_the_command_quietly(config, command):
    process = subprocess.Popen(
        [sys.executable, "-m", "sqsync", "--config", str(config), *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "ACME_KEY": "sk-unused"},
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline()  # like `| head -1`
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0, stderr
    assert stderr == ""
