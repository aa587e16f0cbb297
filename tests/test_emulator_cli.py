"""``sqsync emulator``: serves until SIGTERM/Ctrl-C, prints URL and key, refuses bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx
import pytest
from click.testing import CliRunner

from sqsync.cli import cli
from sqsync.emulator import EmulatorState


def _start(*args: str) -> tuple[subprocess.Popen, str, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "sqsync", "emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url_line = process.stdout.readline()
    key_line = process.stdout.readline()
    assert url_line.startswith("Squarespace emulator on http://127.0.0.1:"), url_line
    assert key_line.startswith("API key: "), key_line
    return process, url_line.split(" on ")[1].strip(), key_line.split(": ")[1].strip()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serves_generated_shop_until_signalled(stop_signal):
    process, url, key = _start(
        "--orders", "7", "--variants", "5", "--seed", "2", "--rate-limit", "0"
    )
    try:
        headers = {"Authorization": f"Bearer {key}", "User-Agent": "t"}
        orders = httpx.get(url + "/1.0/commerce/orders?paymentStates=PAID", headers=headers)
        assert orders.status_code == 200
        inventory = httpx.get(url + "/1.0/commerce/inventory", headers=headers).json()
        assert len(inventory["inventory"]) == 5
    finally:
        process.send_signal(stop_signal)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "stopped after 2 requests" in stderr


def test_serves_a_state_file(tmp_path):
    path = tmp_path / "shop.json"
    EmulatorState.generate(orders=3, variants=2, seed=1).save(path)
    key = next(iter(json.loads(path.read_text())["keys"]))
    process, url, printed_key = _start("--state", str(path))
    try:
        assert printed_key == key
        headers = {"Authorization": f"Bearer {key}", "User-Agent": "t"}
        assert (
            len(httpx.get(url + "/1.0/commerce/inventory", headers=headers).json()["inventory"])
            == 2
        )
    finally:
        process.terminate()
        process.communicate(timeout=20)
    assert process.returncode == 0


def test_state_with_generator_options_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(
        cli, ["emulator", "--state", str(tmp_path / "x.json"), "--orders", "5"]
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith("sqsync: error: --state")


def test_unreadable_state_file_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["emulator", "--state", str(tmp_path / "missing.json")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "sqsync: error: cannot read emulator state" in result.output


def test_a_state_file_it_could_not_serve_is_refused_in_one_line_exit_2(tmp_path):
    # A quantity of "7" used to load, then answer 500 to every inventory adjustment.
    path = tmp_path / "shop.json"
    item = {"variantId": "v1", "sku": "A", "descriptor": "A", "isUnlimited": False}
    path.write_text(json.dumps({"inventory": [{**item, "quantity": "7"}]}))
    process = subprocess.run(
        [sys.executable, "-m", "sqsync", "emulator", "--port", "0", "--state", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode == 2
    assert process.stdout == ""  # it never started: no URL, no key
    assert process.stderr.count("\n") == 1
    assert process.stderr.startswith(f"sqsync: error: emulator state {path} is not usable: ")
    assert 'inventory item 0 (variantId "v1"): quantity must be a whole number' in (process.stderr)


def test_serve_options_given_to_an_order_command_are_refused(tmp_path):
    result = CliRunner().invoke(cli, ["emulator", "--orders", "5", "order", "cancel", "1001"])
    assert result.exit_code == 2
    assert result.stderr == (
        "sqsync: error: --orders only apply when serving, not to `emulator order`\n"
    )


def test_port_in_use_is_one_line():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["emulator", "--port", str(port), "--orders", "0"])
    assert result.exit_code == 2
    assert f"sqsync: error: cannot listen on 127.0.0.1:{port}" in result.output


def test_command_module_imports_the_emulator_only_when_run():
    code = (
        "import sys, sqsync.cli.emulator; "
        "print(any(m.startswith('sqsync.emulator') for m in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == "False"
