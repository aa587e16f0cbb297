"""The README's alert recipe, run as written: ``sqsync --quiet run --json | jq -c
'select(.ok == false)'`` prints exactly the failed jobs of the run, and nothing for a clean
run (issue 12: a job that leaves undone what it was asked to do is ``ok: false``).

sqsync runs as a real process (``python -m sqsync``) against the emulator, and its stdout
goes through a real jq.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from factories import DEFAULT_CONNECTION, insert_order, insert_shipment, write_config
from sqsync.config import load_config
from sqsync.emulator import Emulator
from sqsync.store import Store

RECIPE = "select(.ok == false)"
TIMEOUT = 60

pytestmark = pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")


def connection(name: str, emu: Emulator) -> dict[str, Any]:
    return {**DEFAULT_CONNECTION, "name": name, "client": name.upper(), "api_url": emu.url}


def despatched(store: Store, emu: Emulator, name: str, *, cancel: bool = False) -> str:
    """A DESPATCHED local order with one tracked shipment, matched to a new (PENDING)
    emulator order; with ``cancel`` the order is then cancelled in Squarespace, so the
    push is refused. Returns the order number."""
    sq_id = emu.add_order(emu.make_order())
    number = str(emu.orders[sq_id]["orderNumber"])
    local = insert_order(
        store,
        connection=name,
        client=name.upper(),
        order_number=number,
        squarespace_id=sq_id,
        status="DESPATCHED",
    )
    insert_shipment(store, local, tracking_number=f"TR{number}")
    if cancel:
        emu.update_order(sq_id, fulfillmentStatus="CANCELED")
    return number


def alert(config: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[bytes], str]:
    """Run the recipe: sqsync's stdout piped into jq. Returns (sqsync, jq's output)."""
    command = [sys.executable, "-m", "sqsync", "--config", str(config), "--quiet", "run", "--json"]
    sqsync = subprocess.run(command, env=env, capture_output=True, timeout=TIMEOUT)
    jq = subprocess.run(
        ["jq", "-c", RECIPE], input=sqsync.stdout, capture_output=True, timeout=TIMEOUT
    )
    assert jq.returncode == 0, (sqsync.stdout, jq.stderr)
    return sqsync, jq.stdout.decode()


def test_the_alert_recipe_prints_only_the_job_that_left_a_shipment_undone(tmp_path, make_emulator):
    acme, beta = make_emulator(seed=1), make_emulator(seed=2)  # two sites, two keys
    config = write_config(
        tmp_path, connections=[connection("acme", acme), connection("beta", beta)]
    )
    with Store.open(load_config(config).store_path) as store:
        despatched(store, acme, "acme")
        refused = despatched(store, beta, "beta", cancel=True)
    env = {**os.environ, "ACME_KEY": acme.api_key, "BETA_KEY": beta.api_key}

    sqsync, output = alert(config, env)

    assert sqsync.returncode == 1, sqsync.stderr
    lines = [json.loads(line) for line in sqsync.stdout.decode().splitlines()]
    assert {(line["connection"], line["job"]) for line in lines} >= {
        ("acme", "import-orders"),
        ("acme", "push-despatch"),
        ("beta", "import-orders"),
        ("beta", "push-despatch"),
    }
    [failed] = [line for line in lines if line["ok"] is False]
    assert (failed["connection"], failed["job"]) == ("beta", "push-despatch")
    assert failed["failed"] == 1 and failed["pushed"] == 0
    assert failed["failures"] == [{"order_number": refused, "error": "cancelled in Squarespace"}]
    assert "refused by Squarespace" in failed["error"]
    # jq prints exactly that line (compact, as sqsync wrote it) and nothing else
    assert [json.loads(line) for line in output.splitlines()] == [failed]


def test_the_alert_recipe_prints_nothing_for_a_clean_run(tmp_path, emulator):
    config = write_config(tmp_path, api_url=emulator.url)
    with Store.open(load_config(config).store_path) as store:
        despatched(store, emulator, "acme")
    env = {**os.environ, "ACME_KEY": emulator.api_key}

    sqsync, output = alert(config, env)

    assert sqsync.returncode == 0, sqsync.stderr
    lines = [json.loads(line) for line in sqsync.stdout.decode().splitlines()]
    assert [line["ok"] for line in lines] == [True] * len(lines) and lines
    assert [line["pushed"] for line in lines if line["job"] == "push-despatch"] == [1]
    assert output == ""
