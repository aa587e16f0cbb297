"""`sqsync status --check`: what waits for a person reaches them (a monitoring check).

Exit 1 and one line per waiting thing on stdout, or exit 0 and nothing; ``--json`` keeps
its array, each connection with a ``needs_attention`` list, and exits the same way.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from factories import insert_order, insert_shipment, write_config
from sqsync.cli import cli
from sqsync.config import load_config
from sqsync.store import Store
from sqsync.store.order_writes import remember_unreadable
from sqsync.store.sync_state import set_state


def setup(tmp_path, **overrides):
    path = write_config(tmp_path, **overrides)
    return path, Store.open(load_config(path).store_path)


def check(path, *args):
    return CliRunner().invoke(cli, ["--config", str(path), "status", "--check", *args])


def drift(store, connection="acme"):
    """What a stock sync leaves: an uncounted SKU, two unmatched variants, a SKU on two."""
    with store.transaction() as conn:
        set_state(conn, connection, "sync_stock.uncounted", json.dumps(["BLUE-M"]))
        set_state(conn, connection, "sync_stock.unmatched", json.dumps({"v-1": None, "v-2": "ODD"}))
        set_state(conn, connection, "sync_stock.duplicates", json.dumps({"RED-S": ["v-3", "v-4"]}))


def test_nothing_waiting_is_quiet_and_exit_0(tmp_path):
    path, store = setup(tmp_path)
    insert_order(store, status="NEW")  # NEW orders go to the warehouse: nobody is needed
    despatched = insert_order(store, status="DESPATCHED")
    insert_shipment(store, despatched)  # pending: the next push sends it
    insert_shipment(store, despatched, push_state="pushed")
    store.close()
    result = check(path)
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and result.stderr == ""


def test_each_waiting_thing_is_one_line_and_exit_1(tmp_path):
    path, store = setup(tmp_path, stock_sync=True)
    insert_order(store, order_number="SQ-1", status="HOLDING", problems=["unknown_sku:BLUE-M"])
    insert_order(
        store, order_number="SQ-2", status="HOLDING", problems=["no_sku:v9", "shipping_zone:US"]
    )
    insert_order(store, order_number="SQ-3", status="HOLDING")  # held by a person: no problem
    despatched = insert_order(store, order_number="SQ-4", status="DESPATCHED")
    insert_shipment(
        store, despatched, tracking_number="RM1GB", push_state="failed", push_error="400: bad URL"
    )
    insert_shipment(store, despatched, push_state="pushed")
    with store.transaction() as conn:
        remember_unreadable(
            conn, "acme", "sq-bad", "lineItems.0.quantity: not a number", "2026-11-27T09:00:00.000Z"
        )
    drift(store)
    store.close()

    result = check(path)

    assert result.exit_code == 1, result.output
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        "acme: order SQ-1 is HOLDING: unknown_sku:BLUE-M",
        "acme: order SQ-2 is HOLDING: no_sku:v9, shipping_zone:US",
        "acme: order SQ-3 is HOLDING",
        "acme: shipment RM1GB of order SQ-4 was refused by Squarespace: 400: bad URL"
        " (fix it, then `sqsync despatch retry ORDER`)",
        "acme: Squarespace order sq-bad could not be read since 2026-11-27 09:00:"
        " lineItems.0.quantity: not a number",
        "acme: SKU BLUE-M was never counted, so not synced (`sqsync stock set SKU N`)",
        "acme: variant v-1 is left alone by the stock sync: it has no SKU",
        "acme: variant v-2 is left alone by the stock sync: SKU ODD is unknown to the warehouse",
        "acme: SKU RED-S is on 2 variants: v-3, v-4",
    ]


@pytest.mark.parametrize(
    ("waiting", "kind"),
    [
        ("holding", "holding_order"),
        ("failed", "failed_shipment"),
        ("unreadable", "unreadable_order"),
    ],
)
def test_any_one_kind_alone_fails_the_check(tmp_path, waiting, kind):
    path, store = setup(tmp_path)
    if waiting == "holding":
        insert_order(store, status="HOLDING", problems=["unknown_sku:X"])
    elif waiting == "failed":
        insert_shipment(store, insert_order(store, status="DESPATCHED"), push_state="failed")
    else:
        with store.transaction() as conn:
            remember_unreadable(conn, "acme", "sq-bad", "bad", "2026-11-27T09:00:00.000Z")
    store.close()
    result = check(path)
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 1
    result = check(path, "--json")
    assert result.exit_code == 1
    [acme] = json.loads(result.stdout)
    assert [item["kind"] for item in acme["needs_attention"]] == [kind]


def test_json_keeps_its_array_with_needs_attention_per_connection(tmp_path):
    connections = [
        {"name": "acme", "client": "ACME", "warehouse": "MAIN", "api_key_env": "ACME_KEY",
         "stock_sync": True},
        {"name": "beta", "client": "BETA", "warehouse": "MAIN", "api_key_env": "BETA_KEY"},
    ]  # fmt: skip
    path, store = setup(tmp_path, connections=connections)
    insert_order(store, order_number="SQ-1", status="HOLDING", problems=["unknown_sku:BLUE-M"])
    shipped = insert_order(
        store, connection="beta", client="BETA", order_number="B-1", status="DESPATCHED"
    )
    insert_shipment(store, shipped, tracking_number=None, push_state="failed", push_error="409")
    drift(store)
    store.close()

    result = check(path, "--json")

    assert result.exit_code == 1, result.output
    acme, beta = json.loads(result.stdout)
    assert acme["needs_attention"] == [
        {
            "kind": "holding_order",
            "order_number": "SQ-1",
            "squarespace_id": acme["needs_attention"][0]["squarespace_id"],
            "problems": ["unknown_sku:BLUE-M"],
        },
        {"kind": "uncounted_sku", "sku": "BLUE-M"},
        {"kind": "unmatched_variant", "variant_id": "v-1", "sku": None},
        {"kind": "unmatched_variant", "variant_id": "v-2", "sku": "ODD"},
        {"kind": "duplicate_sku", "sku": "RED-S", "variant_ids": ["v-3", "v-4"]},
    ]
    assert beta["needs_attention"] == [
        {"kind": "failed_shipment", "order_number": "B-1", "tracking_number": None, "error": "409"}
    ]
    # The text form names each connection; a shipment without tracking says so.
    lines = check(path).stdout.splitlines()
    assert (
        "beta: a shipment without tracking of order B-1 was refused by Squarespace: 409"
        in (lines[-1])
    )
    # Plain `status --json` has needs_attention too, and keeps exit 0.
    plain = CliRunner().invoke(cli, ["--config", str(path), "status", "--json"])
    assert plain.exit_code == 0
    assert json.loads(plain.stdout)[1]["needs_attention"] == beta["needs_attention"]


def test_nothing_waiting_with_json_exits_0_with_empty_lists(tmp_path):
    path, store = setup(tmp_path)
    store.close()
    result = check(path, "--json")
    assert result.exit_code == 0
    assert [c["needs_attention"] for c in json.loads(result.stdout)] == [[]]


def test_drift_of_a_connection_that_no_longer_syncs_stock_is_not_waiting(tmp_path):
    # No stock sync will run to clear what the last one saw: it would fail the check for ever.
    path, store = setup(tmp_path, stock_sync=False)
    drift(store)
    store.close()
    result = check(path)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


def test_check_is_per_connection_with_c(tmp_path):
    connections = [
        {"name": "acme", "client": "ACME", "warehouse": "MAIN", "api_key_env": "ACME_KEY"},
        {"name": "beta", "client": "BETA", "warehouse": "MAIN", "api_key_env": "BETA_KEY"},
    ]
    path, store = setup(tmp_path, connections=connections)
    insert_order(store, connection="beta", client="BETA", status="HOLDING")
    store.close()
    assert check(path, "-c", "acme").exit_code == 0
    assert check(path, "-c", "beta").exit_code == 1


def test_orders_under_a_connection_no_longer_configured_wait_too(tmp_path):
    path, store = setup(tmp_path)
    insert_order(store, connection="old-name", status="NEW")
    store.close()
    result = check(path)
    assert result.exit_code == 1
    assert result.stdout.startswith("old-name (not in the config): ")
    # Asked about acme alone, acme has nothing waiting.
    assert check(path, "-c", "acme").exit_code == 0


def test_an_order_held_by_an_import_reaches_the_check(tmp_path, emulator, monkeypatch):
    # End to end: Squarespace sells a SKU the warehouse does not know; the import holds the
    # order; the check names it and why; once the SKU is known and re-imported, all clear.
    monkeypatch.setenv("ACME_KEY", emulator.api_key)
    path = write_config(tmp_path, api_url=emulator.url, order_prefix="SQ-")
    order_id = emulator.add_order(emulator.make_order(sku="NEW-MUG"))
    number = emulator.orders[order_id]["orderNumber"]
    runner = CliRunner()
    assert runner.invoke(cli, ["--config", str(path), "import-orders"]).exit_code == 0

    result = check(path)
    assert result.exit_code == 1
    assert result.stdout == f"acme: order SQ-{number} is HOLDING: unknown_sku:NEW-MUG\n"

    stock = ["stock", "set", "NEW-MUG", "5", "--client", "ACME", "--warehouse", "MAIN"]
    assert runner.invoke(cli, ["--config", str(path), *stock]).exit_code == 0
    assert runner.invoke(cli, ["--config", str(path), "import-orders"]).exit_code == 0
    result = check(path)
    assert (result.exit_code, result.stdout) == (0, "")
