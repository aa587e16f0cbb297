"""Emulator: injected faults, the before_request hook and latency."""

from __future__ import annotations

import httpx
import pytest

from sqsync.emulator import Emulator

ORDERS = "/1.0/commerce/orders"
INVENTORY = "/1.0/commerce/inventory"
ADJUST = "/1.0/commerce/inventory/adjustments"


def _set(client: httpx.Client, variant_id: str, qty: int, key: str = "k1") -> httpx.Response:
    body = {"setFiniteOperations": [{"variantId": variant_id, "quantity": qty}]}
    return client.post(ADJUST, json=body, headers={"Idempotency-Key": key})


@pytest.mark.parametrize(
    ("kind", "type_"),
    [
        ("500", "SERVER_ERROR"),
        ("502", "SERVER_ERROR"),
        ("503", "SERVICE_UNAVAILABLE"),
        ("504", "SERVER_ERROR"),
        ("429", "TOO_MANY_REQUESTS"),
    ],
)
def test_next_n_matching_requests_fail(
    emulator: Emulator, emulator_http: httpx.Client, kind, type_
):
    emulator.faults.add("GET", ORDERS, kind, count=2)
    statuses = [emulator_http.get(ORDERS) for _ in range(3)]
    assert [r.status_code for r in statuses] == [int(kind), int(kind), 200]
    assert statuses[0].json()["type"] == type_
    assert emulator.stats.faults_injected == 2
    assert emulator.faults.pending == 0


def test_faults_match_method_and_path_prefix(emulator: Emulator, emulator_http: httpx.Client):
    emulator.faults.add("POST", "/1.0/commerce/inventory/", "500")
    assert emulator_http.get(INVENTORY).status_code == 200
    assert emulator_http.get(ORDERS).status_code == 200
    assert emulator.faults.pending == 1
    emulator.faults.add(None, ORDERS, "503")
    assert emulator_http.get(ORDERS + "/x").status_code == 503


def test_fault_before_apply_changes_nothing(emulator: Emulator, emulator_http: httpx.Client):
    vid = emulator.add_variant("A", 5)
    emulator.faults.add("POST", ADJUST, "500")
    assert _set(emulator_http, vid, 9).status_code == 500
    assert emulator.inventory[vid]["quantity"] == 5
    assert emulator.stats.adjustments_applied == 0
    # The key was never used, so the retry applies.
    assert _set(emulator_http, vid, 9).status_code == 204
    assert emulator.inventory[vid]["quantity"] == 9


def test_fault_after_apply_changes_then_fails(emulator: Emulator, emulator_http: httpx.Client):
    vid = emulator.add_variant("A", 5)
    emulator.faults.add("POST", ADJUST, "503", after_apply=True)
    assert _set(emulator_http, vid, 9).status_code == 503
    assert emulator.inventory[vid]["quantity"] == 9
    assert _set(emulator_http, vid, 9).status_code == 204
    assert (emulator.stats.adjustments_applied, emulator.stats.idempotent_replays) == (1, 1)


def test_drop_closes_without_an_answer(emulator: Emulator, emulator_http: httpx.Client):
    emulator.faults.add("GET", ORDERS, "drop")
    with pytest.raises(httpx.RemoteProtocolError):
        emulator_http.get(ORDERS)
    assert emulator_http.get(ORDERS).status_code == 200


def test_drop_after_apply_fulfils_but_client_never_hears(
    emulator: Emulator, emulator_http: httpx.Client
):
    order_id = emulator.add_order(emulator.make_order())
    emulator.faults.add("POST", ORDERS, "drop", after_apply=True)
    body = {"shouldSendNotification": True, "shipments": []}
    with pytest.raises(httpx.RemoteProtocolError):
        emulator_http.post(f"{ORDERS}/{order_id}/fulfillments", json=body)
    assert emulator.orders[order_id]["fulfillmentStatus"] == "FULFILLED"
    assert emulator.stats.fulfilments_applied == 1


def test_bad_fault_kind_is_refused(emulator: Emulator):
    with pytest.raises(ValueError):
        emulator.faults.add("GET", ORDERS, "418")


def _statuses(emulator: Emulator, client: httpx.Client, n: int) -> list[int]:
    result = []
    for _ in range(n):
        try:
            result.append(client.get(INVENTORY).status_code)
        except httpx.TransportError:
            result.append(0)
    return result


def test_random_faults_are_reproducible_for_a_seed(emulator: Emulator, emulator_http: httpx.Client):
    emulator.set_fault_rate(0.5, seed=7)
    first = _statuses(emulator, emulator_http, 30)
    emulator.set_fault_rate(0.5, seed=7)
    assert _statuses(emulator, emulator_http, 30) == first
    assert 0 < first.count(200) < 30
    emulator.set_fault_rate(0.5, seed=7, kinds=("503",))
    assert set(_statuses(emulator, emulator_http, 30)) == {200, 503}
    emulator.faults.clear()
    assert set(_statuses(emulator, emulator_http, 10)) == {200}


def test_before_request_hook_sees_every_request(emulator: Emulator, emulator_http: httpx.Client):
    vid = emulator.add_variant("A", 5)
    seen = []

    def sale(method: str, path: str) -> None:
        seen.append((method, path))
        if method == "POST":
            emulator.sell(vid, 2)  # a customer buys just before the adjustment lands

    emulator.before_request = sale
    emulator_http.get(f"{INVENTORY}/{vid}")
    body = {"decrementOperations": [{"variantId": vid, "quantity": 4}]}
    response = emulator_http.post(ADJUST, json=body, headers={"Idempotency-Key": "k"})
    assert response.json()["subtype"] == "INSUFFICIENT_STOCK"
    assert seen == [("GET", f"{INVENTORY}/{vid}"), ("POST", ADJUST)]


def test_latency_sleeps_per_request(make_emulator):
    emulator = make_emulator(latency=0.25)
    slept: list[float] = []
    emulator.sleep = slept.append
    headers = {"Authorization": f"Bearer {emulator.api_key}", "User-Agent": "t"}
    httpx.get(emulator.url + ORDERS, headers=headers)
    httpx.get(emulator.url + INVENTORY, headers=headers)
    assert slept == [0.25, 0.25]


def test_hook_failure_is_a_500_envelope(emulator: Emulator, emulator_http: httpx.Client):
    def broken(method: str, path: str) -> None:
        raise RuntimeError("boom")

    emulator.before_request = broken
    response = emulator_http.get(ORDERS)
    assert response.status_code == 500
    assert response.json()["type"] == "SERVER_ERROR"
