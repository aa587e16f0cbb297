"""`sqsync inventory list -c NAME`: the shop's variants and SKUs, for the first stock count."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from factories import FactoryRunner, write_config
from sqsync.cli import cli
from sqsync.emulator import EmulatorState

COLUMNS = ["variant_id", "sku", "warehouse_sku", "descriptor", "quantity", "unlimited"]


def no_wait_client(connection, **overrides):
    from sqsync.squarespace import Client

    return Client(
        connection.api_key(), base_url=connection.api_url, sleep=lambda s: None, max_attempts=1
    )


@pytest.fixture
def shop(tmp_path, make_emulator, monkeypatch):
    state = EmulatorState()
    state.add_variant("TEE-RED-M", 7, descriptor="Classic Tee [Red, M]", variant_id="v-1")
    state.add_variant("SQ-RED-S", 3, descriptor="Classic Tee [Red, S]", variant_id="v-2")
    state.add_variant(None, 0, unlimited=True, descriptor="Gift wrap", variant_id="v-3")
    state.add_variant(None, 2, descriptor="Mystery", variant_id="v-4")
    emulator = make_emulator(state)
    monkeypatch.setenv("ACME_KEY", emulator.api_key)
    path = write_config(
        tmp_path, api_url=emulator.url, sku_aliases={"SQ-RED-S": "RED-S", "v-4": "MYSTERY"}
    )
    return emulator, path


def listing(path, *args: str):
    return FactoryRunner(no_wait_client).invoke(
        cli, ["--config", str(path), "inventory", "list", "-c", "acme", *args]
    )


def test_ndjson_lists_every_variant_with_its_warehouse_sku(shop):
    _, path = shop
    result = listing(path, "--format", "ndjson")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows == [
        {"variant_id": "v-1", "sku": "TEE-RED-M", "warehouse_sku": "TEE-RED-M",
         "descriptor": "Classic Tee [Red, M]", "quantity": 7, "unlimited": False},
        {"variant_id": "v-2", "sku": "SQ-RED-S", "warehouse_sku": "RED-S",
         "descriptor": "Classic Tee [Red, S]", "quantity": 3, "unlimited": False},
        {"variant_id": "v-3", "sku": None, "warehouse_sku": None,
         "descriptor": "Gift wrap", "quantity": 0, "unlimited": True},
        {"variant_id": "v-4", "sku": None, "warehouse_sku": "MYSTERY",
         "descriptor": "Mystery", "quantity": 2, "unlimited": False},
    ]  # fmt: skip


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_every_output_format(shop, fmt):
    _, path = shop
    result = listing(path, "--format", fmt)
    assert result.exit_code == 0, result.output
    if fmt == "json":
        assert [row["variant_id"] for row in json.loads(result.stdout)] == [
            "v-1",
            "v-2",
            "v-3",
            "v-4",
        ]
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(result.stdout)))
        assert rows[0] == COLUMNS
        assert rows[2] == ["v-2", "SQ-RED-S", "RED-S", "Classic Tee [Red, S]", "3", "false"]
    else:
        header, _rule, *lines = result.stdout.splitlines()
        assert header.split() == COLUMNS
        assert len(lines) == 4 and "TEE-RED-M" in lines[0]
    # The table is the default.
    if fmt == "table":
        assert listing(path).stdout == result.stdout


def test_the_listing_streams_page_by_page_and_a_failure_is_one_line(
    make_emulator, tmp_path, monkeypatch
):
    # 60 variants are two pages; the second fails. ndjson has already printed the first
    # page (it streams), then the error is one line and the exit 1.
    emulator = make_emulator(variants=60)
    monkeypatch.setenv("ACME_KEY", emulator.api_key)
    path = write_config(tmp_path, api_url=emulator.url)
    calls = []

    def fail_the_second_page(method, request_path):
        calls.append(request_path)
        if len(calls) == 2:
            emulator.faults.add("GET", "/1.0/commerce/inventory", "500", count=5)

    emulator.before_request = fail_the_second_page
    result = listing(path, "--format", "ndjson")
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 50
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("sqsync: error: ")
    assert "500" in result.stderr and "Traceback" not in result.output


def test_a_refused_key_is_one_line_and_never_shows_the_key(shop, monkeypatch):
    _, path = shop
    monkeypatch.setenv("ACME_KEY", "sk-not-a-real-key")
    result = listing(path)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "401" in result.stderr
    assert "sk-not-a-real-key" not in result.output


def test_no_network_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_KEY", "sk-test")
    path = write_config(tmp_path, api_url="http://127.0.0.1:9")  # nothing listens there
    result = listing(path)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("sqsync: error: ")
    assert "Traceback" not in result.output


def test_a_missing_key_or_unknown_connection_is_a_config_error(shop, monkeypatch):
    _, path = shop
    unknown = CliRunner().invoke(cli, ["--config", str(path), "inventory", "list", "-c", "nope"])
    assert unknown.exit_code == 2
    monkeypatch.delenv("ACME_KEY")
    missing = listing(path)
    assert missing.exit_code == 2 and "ACME_KEY" in missing.stderr
    needs_c = CliRunner().invoke(cli, ["--config", str(path), "inventory", "list"])
    assert needs_c.exit_code == 2


def test_the_listing_builds_a_first_stock_count(shop):
    # The README's recipe: keep the variants the warehouse has a SKU for, and import their
    # quantities as the first count.
    _, path = shop
    rows = csv.DictReader(io.StringIO(listing(path, "--format", "csv").stdout))
    counts = "sku,quantity\n" + "".join(
        f"{r['warehouse_sku']},{r['quantity']}\n"
        for r in rows
        if r["warehouse_sku"] and r["unlimited"] == "false"
    )
    runner = CliRunner()
    imported = runner.invoke(cli, ["--config", str(path), "stock", "import", "-"], input=counts)
    assert imported.exit_code == 0, imported.output
    listed = runner.invoke(cli, ["--config", str(path), "stock", "list", "--format", "ndjson"])
    on_hand = {row["sku"]: row["on_hand"] for row in map(json.loads, listed.stdout.splitlines())}
    assert on_hand == {"TEE-RED-M": 7, "RED-S": 3, "MYSTERY": 2}
