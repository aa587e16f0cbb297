"""Emulator: keys, permissions, headers, routes, the error envelope and the rate limit."""

from __future__ import annotations

import re

import httpx
import pytest

from sqsync.emulator import Emulator

ORDERS = "/1.0/commerce/orders"
INVENTORY = "/1.0/commerce/inventory"
ADJUST = "/1.0/commerce/inventory/adjustments"


def _headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "User-Agent": "sqsync-tests/1"}


def _assert_envelope(response: httpx.Response, status: int, type_: str, subtype=None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"type", "subtype", "message", "details", "contextId"}
    assert body["type"] == type_
    assert body["subtype"] == subtype
    assert body["details"] is None
    assert re.fullmatch(r"[A-Z0-9]{9}", body["contextId"])
    assert body["message"]
    return body


def test_unknown_key_is_401(emulator: Emulator):
    response = httpx.get(emulator.url + ORDERS, headers=_headers("not-a-key"))
    _assert_envelope(response, 401, "AUTHORIZATION_ERROR")


def test_missing_authorization_is_401(emulator: Emulator):
    response = httpx.get(emulator.url + ORDERS, headers={"User-Agent": "x"})
    _assert_envelope(response, 401, "AUTHORIZATION_ERROR")


def test_key_must_be_sent_as_bearer(emulator: Emulator):
    headers = {"Authorization": f"Basic {emulator.api_key}", "User-Agent": "x"}
    _assert_envelope(httpx.get(emulator.url + ORDERS, headers=headers), 401, "AUTHORIZATION_ERROR")


def test_expired_site_is_402(emulator: Emulator):
    emulator.add_key("lapsed", expired=True)
    response = httpx.get(emulator.url + ORDERS, headers=_headers("lapsed"))
    _assert_envelope(response, 402, "WEBSITE_EXPIRED")


def test_missing_user_agent_is_400(emulator: Emulator):
    with httpx.Client(headers={"Authorization": f"Bearer {emulator.api_key}"}) as client:
        del client.headers["User-Agent"]
        response = client.get(emulator.url + ORDERS)
    _assert_envelope(response, 400, "INVALID_REQUEST_ERROR", "MISSING_ARGUMENT")


@pytest.mark.parametrize(
    ("orders", "inventory", "method", "path", "allowed"),
    [
        (None, "rw", "GET", ORDERS, False),
        ("r", None, "GET", ORDERS, True),
        ("r", "rw", "POST", ORDERS + "/abc/fulfillments", False),
        ("rw", None, "GET", INVENTORY, False),
        ("rw", "r", "GET", INVENTORY, True),
        ("rw", "r", "POST", ADJUST, False),
    ],
)
def test_permissions_per_api(emulator: Emulator, orders, inventory, method, path, allowed):
    emulator.add_key("limited", orders=orders, inventory=inventory)
    response = httpx.request(method, emulator.url + path, headers=_headers("limited"), json={})
    if allowed:
        assert response.status_code == 200
    else:
        _assert_envelope(response, 403, "AUTHORIZATION_ERROR", "MISSING_SCOPE")


def test_unsupported_version_is_404(emulator_http: httpx.Client):
    body = _assert_envelope(
        emulator_http.get("/2.0/commerce/orders"), 404, "INVALID_REQUEST_ERROR", "INVALID_ARGUMENT"
    )
    assert "version" in body["message"]


def test_unknown_path_is_404(emulator_http: httpx.Client):
    _assert_envelope(
        emulator_http.get("/1.0/commerce/things"), 404, "INVALID_REQUEST_ERROR", "INVALID_ARGUMENT"
    )


def test_wrong_method_is_405(emulator_http: httpx.Client):
    _assert_envelope(emulator_http.delete(ORDERS), 405, "METHOD_NOT_ALLOWED")


def test_context_ids_differ(emulator_http: httpx.Client):
    ids = {emulator_http.get("/1.0/nowhere").json()["contextId"] for _ in range(3)}
    assert len(ids) == 3


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("emulator", [{"rate_limit_per_minute": 3}], indirect=True)
def test_rate_limit_per_key_sliding_window(emulator: Emulator, emulator_http: httpx.Client):
    clock = emulator.state.clock = FakeClock()
    for _ in range(3):
        assert emulator_http.get(INVENTORY).status_code == 200
        clock.now += 10
    refused = emulator_http.get(INVENTORY)
    _assert_envelope(refused, 429, "TOO_MANY_REQUESTS")
    assert refused.headers["Retry-After"] == "60"
    # Another key has its own window.
    emulator.add_key("second")
    assert httpx.get(emulator.url + INVENTORY, headers=_headers("second")).status_code == 200
    # 60 s after the first request, one slot frees; the refused request did not take one.
    clock.now = 1060.0
    assert emulator_http.get(INVENTORY).status_code == 200
    assert emulator_http.get(INVENTORY).status_code == 429
    assert emulator.stats.rate_limited == 2


def test_rate_limit_zero_means_off(emulator: Emulator, emulator_http: httpx.Client):
    emulator.state.clock = FakeClock()
    assert emulator.rate_limit_per_minute == 0
    assert all(emulator_http.get(INVENTORY).status_code == 200 for _ in range(20))


def test_default_rate_limit_is_300_per_minute(make_emulator):
    emulator = Emulator()
    assert emulator.rate_limit_per_minute == 300
    emulator = make_emulator(rate_limit_per_minute=300)
    emulator.state.clock = FakeClock()
    with httpx.Client(base_url=emulator.url, headers=_headers(emulator.api_key)) as client:
        statuses = [client.get(INVENTORY).status_code for _ in range(301)]
    assert statuses[:300] == [200] * 300
    assert statuses[300] == 429


def test_stats_count_requests_per_route(emulator: Emulator, emulator_http: httpx.Client):
    emulator_http.get(ORDERS)
    emulator_http.get(ORDERS + "/abc")
    emulator_http.get(ORDERS + "/def")
    assert emulator.stats.requests == 3
    assert emulator.stats.count("GET", ORDERS) == 1
    assert emulator.stats.count("GET", ORDERS + "/{id}") == 2
    emulator.stats.reset()
    assert emulator.stats.requests == 0
    assert emulator.stats.count("GET", ORDERS) == 0


def test_stop_ends_kept_alive_connections(make_emulator):
    emulator = make_emulator()
    with httpx.Client(base_url=emulator.url, headers=_headers(emulator.api_key)) as client:
        assert client.get(INVENTORY).status_code == 200
        emulator.stop()
        with pytest.raises(httpx.TransportError):
            client.get(INVENTORY)
