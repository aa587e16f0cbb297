"""Rehearsing the hard cases with `sqsync emulator`: random failures, dropped connections
before or after the change, slow writes, the merchant changing orders while it serves,
and clients that hang up, none of which may print a traceback.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from factories import write_config
from sqsync.cli import cli
from sqsync.config import load_config
from sqsync.emulator import Emulator, EmulatorState
from sqsync.store import Store
from sqsync.store.orders import find_orders

ADJUST = "/1.0/commerce/inventory/adjustments"
ANSWERED = {500, 502, 503, 504, 429}


def headers(key: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "User-Agent": "rehearsal/1", **extra}


def increment(variant_id: str = "v1", quantity: int = 1) -> dict:
    return {"incrementOperations": [{"variantId": variant_id, "quantity": quantity}]}


# --- the command line: a served emulator ----------------------------------------------


def shop_file(tmp_path: Path) -> Path:
    state = EmulatorState()
    state.add_variant("TEE-RED-M", 5, variant_id="v1")
    state.add_order(state.make_order(sku="TEE-RED-M", variant_id="v1"))
    path = tmp_path / "shop.json"
    state.save(path)
    return path


class Served:
    """`sqsync emulator ...` in its own process, stopped (SIGTERM) by the test."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sqsync", "emulator", "--port", "0", "--rate-limit", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().split(" on ")[1].strip()
        self.key = self.process.stdout.readline().split(": ")[1].strip()

    def stats(self) -> dict:
        return httpx.get(self.url + "/_emulator/stats", timeout=10).json()

    def stop(self) -> str:
        self.process.terminate()
        _, stderr = self.process.communicate(timeout=20)
        assert self.process.returncode == 0, stderr
        return stderr


@pytest.fixture
def serve(tmp_path) -> Iterator:
    started: list[Served] = []

    def start(*args: str) -> Served:
        served = Served("--state", str(shop_file(tmp_path)), *args)
        started.append(served)
        return served

    yield start
    for served in started:
        if served.process.poll() is None:
            served.stop()


@pytest.mark.parametrize(("after_apply", "applied"), [("0", 0), ("1", 1)])
def test_drop_rate_drops_connections_before_or_after_the_change(serve, after_apply, applied):
    served = serve("--drop-rate", "1", "--after-apply", after_apply)
    with pytest.raises(httpx.TransportError):
        httpx.post(
            served.url + ADJUST,
            json=increment(),
            headers=headers(served.key, **{"Idempotency-Key": "k1"}),
            timeout=10,
        )
    stats = served.stats()
    assert stats["faults_injected"] == 1
    assert stats["adjustments_applied"] == applied
    assert "Traceback" not in served.stop()


def test_failure_rate_answers_server_errors_and_429s(serve):
    served = serve("--failure-rate", "1")
    for _ in range(5):
        answer = httpx.get(served.url + "/1.0/commerce/inventory", headers=headers(served.key))
        assert answer.status_code in ANSWERED
        assert answer.json()["message"].startswith("Injected fault")
    assert served.stats()["faults_injected"] == 5


def test_slow_apply_keeps_a_write_in_flight_past_the_client_timeout(serve):
    served = serve("--slow-apply", "60")
    sent = headers(served.key, **{"Idempotency-Key": "slow-1"})
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(served.url + ADJUST, json=increment(), headers=sent, timeout=0.5)
    # Squarespace is still applying it: a retry under the same key is told so.
    retry = httpx.post(served.url + ADJUST, json=increment(), headers=sent, timeout=10)
    assert retry.status_code == 409
    assert retry.json()["subtype"] == "CONCURRENT_MODIFICATION"
    assert served.stats()["adjustments_applied"] == 0
    served.stop()


def test_the_order_commands_change_the_served_shop(serve):
    served = serve()
    runner = CliRunner()
    url = ["--url", served.url]
    cancel = runner.invoke(cli, ["emulator", "order", "cancel", "1001", *url])
    assert cancel.exit_code == 0, cancel.output
    assert cancel.stdout.startswith("order 1001 (id ") and "CANCELED" in cancel.stdout
    order = httpx.get(
        served.url + "/1.0/commerce/orders?fulfillmentStatus=CANCELED", headers=headers(served.key)
    ).json()["result"]
    assert [o["orderNumber"] for o in order] == ["1001"]
    # Admin requests are not the API's: not counted.
    assert served.stats()["requests"] == 1


# --- slow writes, in process (an injected sleep, so nothing waits) --------------------


def test_slow_apply_holds_adjustments_and_fulfilments_while_a_retry_meets_409(make_emulator):
    emulator = make_emulator()
    variant = next(iter(emulator.inventory))
    order_id = emulator.add_order(emulator.make_order())
    gate, arrived, waited = threading.Event(), threading.Semaphore(0), []

    def slow(seconds: float) -> None:
        waited.append(seconds)
        arrived.release()
        gate.wait(10)

    emulator.sleep = slow
    emulator.slow_apply(3)
    client = httpx.Client(base_url=emulator.url, headers=headers(emulator.api_key), timeout=10)
    adjust = {**client.headers, "Idempotency-Key": "k-slow"}
    before = emulator.inventory[variant]["quantity"]
    answers: dict[str, int] = {}

    def first() -> None:
        answers["adjust"] = client.post(
            ADJUST, json=increment(variant, 2), headers=adjust
        ).status_code

    def fulfil() -> None:
        body = {"shouldSendNotification": False, "shipments": []}
        url = f"/1.0/commerce/orders/{order_id}/fulfillments"
        answers["fulfil"] = client.post(url, json=body).status_code

    threads = [threading.Thread(target=first), threading.Thread(target=fulfil)]
    for thread in threads:
        thread.start()
    assert arrived.acquire(timeout=10) and arrived.acquire(timeout=10)  # both in flight
    retry = httpx.post(
        emulator.url + ADJUST, json=increment(variant, 2), headers=adjust, timeout=10
    )
    assert retry.status_code == 409
    assert emulator.inventory[variant]["quantity"] == before
    assert emulator.orders[order_id]["fulfillmentStatus"] == "PENDING"
    gate.set()
    for thread in threads:
        thread.join(10)
    assert answers == {"adjust": 204, "fulfil": 204}
    assert waited == [3, 3]
    assert emulator.inventory[variant]["quantity"] == before + 2
    assert emulator.orders[order_id]["fulfillmentStatus"] == "FULFILLED"
    client.close()


# --- clients that hang up -------------------------------------------------------------


def _raw(emulator: Emulator) -> socket.socket:
    return socket.create_connection((emulator.host, emulator.port), timeout=10)


def test_a_client_that_hangs_up_before_its_answer_prints_no_traceback(make_emulator, capfd):
    emulator = make_emulator()
    server = emulator._server
    assert server is not None
    hung_up, handled = threading.Event(), threading.Event()
    emulator.before_request = lambda method, path: hung_up.wait(10)
    original = server.handle_error

    def noted(request, client_address):
        try:
            original(request, client_address)
        finally:
            handled.set()

    server.handle_error = noted  # type: ignore[method-assign]
    sock = _raw(emulator)
    request = (
        f"GET /1.0/commerce/inventory HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n"
        f"Authorization: Bearer {emulator.api_key}\r\n\r\n"
    )
    sock.sendall(request.encode())
    # Close with a reset, as a killed client does: the answer meets a dead connection.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    hung_up.set()
    assert handled.wait(10), "the emulator never met the hang-up"
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err and "Exception occurred" not in captured.err


def test_half_a_body_is_never_applied(make_emulator):
    emulator = make_emulator()
    variant = next(iter(emulator.inventory))
    before = emulator.inventory[variant]["quantity"]
    body = json.dumps(increment(variant, 3)).encode()
    sock = _raw(emulator)
    head = (
        f"POST {ADJUST} HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {emulator.api_key}\r\nIdempotency-Key: half-1\r\n"
        # The whole JSON is sent, but the client said more was coming and hung up first.
        f"Content-Length: {len(body) + 10}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    sock.shutdown(socket.SHUT_WR)
    assert sock.recv(100) == b""  # no answer: the emulator closed the connection
    sock.close()
    assert emulator.inventory[variant]["quantity"] == before
    assert emulator.stats.adjustments_applied == 0


# --- the merchant's side: order commands against a running emulator -------------------


def order_command(emulator: Emulator, *args: str):
    return CliRunner().invoke(cli, ["emulator", "order", *args, "--url", emulator.url])


def test_cancel_refund_and_fulfil_by_number_or_id(make_emulator):
    emulator = make_emulator()
    first = emulator.add_order(emulator.make_order())
    second = emulator.add_order(emulator.make_order())
    number = emulator.orders[first]["orderNumber"]
    modified = emulator.orders[first]["modifiedOn"]

    result = order_command(emulator, "cancel", number, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "id": first,
        "orderNumber": number,
        "fulfillmentStatus": "CANCELED",
        "paymentState": "PAID",
    }
    assert emulator.orders[first]["modifiedOn"] > modified  # the next import sees it

    assert order_command(emulator, "refund", first).exit_code == 0
    refunded = emulator.orders[first]
    assert refunded["paymentState"] == "REFUNDED"
    assert refunded["refundedTotal"] == refunded["grandTotal"]

    result = order_command(
        emulator, "fulfil", second, "--carrier", "Royal Mail", "--tracking-number", "RM1GB"
    )
    assert result.exit_code == 0, result.output
    fulfilled = emulator.orders[second]
    assert fulfilled["fulfillmentStatus"] == "FULFILLED" and fulfilled["fulfilledOn"]
    [shipment] = fulfilled["fulfillments"]
    assert (shipment["carrierName"], shipment["trackingNumber"]) == ("Royal Mail", "RM1GB")
    assert shipment["shipDate"]
    # The merchant's admin, not the API: no API fulfilment, no request counted.
    assert emulator.stats.fulfilments_applied == 0 and emulator.stats.requests == 0


def test_add_places_an_order_for_a_variant_with_its_shipping_method(make_emulator):
    emulator = make_emulator()
    skus = [v["sku"] for v in emulator.inventory.values()]
    variant_id, variant = next(
        (vid, v) for vid, v in emulator.inventory.items() if v["sku"] and skus.count(v["sku"]) == 1
    )
    result = order_command(
        emulator,
        "add",
        "--sku",
        variant["sku"],
        "--quantity",
        "3",
        "--shipping-method",
        "Express",
        "--json",
    )
    assert result.exit_code == 0, result.output
    order = emulator.orders[json.loads(result.stdout)["id"]]
    [line] = order["lineItems"]
    assert (line["sku"], line["variantId"], line["quantity"]) == (variant["sku"], variant_id, 3)
    assert order["shippingLines"][0]["method"] == "Express"
    assert order["fulfillmentStatus"] == "PENDING" and order["paymentState"] == "PAID"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cancel", "no-such-order"], "sqsync: error: Order no-such-order was not found.\n"),
        (["fulfil", "CANCELED"], "is canceled and cannot be fulfilled"),
        (["cancel", "CANCELED"], "is already canceled"),
    ],
)
def test_a_refused_change_is_one_line_exit_1(make_emulator, args, message):
    emulator = make_emulator()
    canceled = emulator.add_order(emulator.make_order(fulfillmentStatus="CANCELED"))
    args = [canceled if a == "CANCELED" else a for a in args]
    result = order_command(emulator, *args)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_an_emulator_that_is_not_running_is_one_line_exit_1():
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    result = CliRunner().invoke(
        cli, ["emulator", "order", "cancel", "1001", "--url", f"http://127.0.0.1:{port}"]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"sqsync: error: cannot reach the emulator at http://127.0.0.1:{port}"
    )
    assert result.stderr.count("\n") == 1


def test_admin_requests_are_never_failed_by_injected_faults(make_emulator):
    emulator = make_emulator()
    order_id = emulator.add_order(emulator.make_order())
    emulator.set_fault_rate(1.0, seed=1)
    emulator.latency = 5.0  # would wait, were admin requests slowed
    emulator.sleep = lambda seconds: pytest.fail("an admin request was slowed")
    assert order_command(emulator, "cancel", order_id).exit_code == 0
    assert emulator.stats.faults_injected == 0


def test_a_rehearsal_a_cancel_after_import_reaches_the_store(make_emulator, tmp_path, monkeypatch):
    # The hard case end to end: an imported order is cancelled in Squarespace; the next
    # import marks it CANCELLED in the warehouse.
    emulator = make_emulator()
    monkeypatch.setenv("ACME_KEY", emulator.api_key)
    path = write_config(tmp_path, api_url=emulator.url, order_prefix="SQ-")
    sku = next(iter(emulator.inventory.values()))["sku"]
    placed = order_command(emulator, "add", "--sku", sku, "--json")
    number = json.loads(placed.stdout)["orderNumber"]
    runner = CliRunner()
    stock = ["stock", "set", sku, "5", "--client", "ACME", "--warehouse", "MAIN"]
    assert runner.invoke(cli, ["--config", str(path), *stock]).exit_code == 0
    assert runner.invoke(cli, ["--config", str(path), "import-orders"]).exit_code == 0

    assert order_command(emulator, "cancel", number).exit_code == 0
    result = runner.invoke(cli, ["--config", str(path), "import-orders", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["cancelled"] == 1
    with Store.open(load_config(path).store_path) as store:
        [order] = find_orders(store, f"SQ-{number}")
    assert order["status"] == "CANCELLED"
