"""Emulator: listing orders (filters, windows, cursors, paging) and fetching one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sqsync.emulator import Emulator
from sqsync.emulator.wire import decode_cursor, encode_cursor

ORDERS = "/1.0/commerce/orders"
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _add(emulator: Emulator, at: datetime, **fields) -> str:
    emulator.state.now = lambda: at
    return emulator.add_order(emulator.make_order(**fields))


def _walk(client: httpx.Client, params: dict) -> tuple[list[dict], int]:
    """Every order of a walk, following nextPageCursor; and how many pages it took."""
    orders: list[dict] = []
    pages = 0
    while True:
        body = client.get(ORDERS, params=params).json()
        pages += 1
        orders += body["result"]
        if not body["pagination"]["hasNextPage"]:
            assert body["pagination"]["nextPageCursor"] is None
            assert body["pagination"]["nextPageUrl"] is None
            return orders, pages
        params = {"cursor": body["pagination"]["nextPageCursor"]}


def _error(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "INVALID_REQUEST_ERROR"
    return body["message"]


def test_empty_shop_lists_nothing(emulator_http: httpx.Client):
    response = emulator_http.get(ORDERS)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "result": [],
        "pagination": {"hasNextPage": False, "nextPageCursor": None, "nextPageUrl": None},
    }


def test_pages_of_50_sorted_by_modified_then_id(emulator: Emulator, emulator_http: httpx.Client):
    for n in range(120):
        # Pairs share a modifiedOn so the id tie-break matters.
        _add(emulator, T0 + timedelta(seconds=n // 2))
    first = emulator_http.get(ORDERS).json()
    assert len(first["result"]) == 50
    assert first["pagination"]["hasNextPage"] is True
    orders, pages = _walk(emulator_http, {})
    assert pages == 3
    keys = [(o["modifiedOn"], o["id"]) for o in orders]
    assert keys == sorted(keys)
    assert len({o["id"] for o in orders}) == 120


def test_next_page_url_is_absolute_and_works(emulator: Emulator, emulator_http: httpx.Client):
    for n in range(51):
        _add(emulator, T0 + timedelta(seconds=n))
    pagination = emulator_http.get(ORDERS).json()["pagination"]
    url = pagination["nextPageUrl"]
    assert url == f"{emulator.url}{ORDERS}?cursor={pagination['nextPageCursor']}"
    assert len(emulator_http.get(url).json()["result"]) == 1


def test_exactly_50_orders_is_one_page(emulator: Emulator, emulator_http: httpx.Client):
    for n in range(50):
        _add(emulator, T0 + timedelta(seconds=n))
    assert _walk(emulator_http, {})[1] == 1


def test_cursor_is_unpadded_base64url_json_with_the_filters(
    emulator: Emulator, emulator_http: httpx.Client
):
    for n in range(60):
        _add(emulator, T0 + timedelta(seconds=n))
    cursor = emulator_http.get(ORDERS, params={"fulfillmentStatus": "PENDING"}).json()[
        "pagination"
    ]["nextPageCursor"]
    assert "=" not in cursor and "+" not in cursor and "/" not in cursor
    assert decode_cursor(cursor)["f"] == "PENDING"


def test_window_includes_after_and_excludes_before(emulator: Emulator, emulator_http: httpx.Client):
    ids = [_add(emulator, T0 + timedelta(minutes=n)) for n in range(5)]
    params = {
        "modifiedAfter": _iso(T0 + timedelta(minutes=1)),
        "modifiedBefore": _iso(T0 + timedelta(minutes=3)),
    }
    orders, _ = _walk(emulator_http, params)
    assert [o["id"] for o in orders] == ids[1:3]


def test_window_filters_survive_paging(emulator: Emulator, emulator_http: httpx.Client):
    for n in range(130):
        _add(emulator, T0 + timedelta(seconds=n))
    params = {"modifiedAfter": _iso(T0), "modifiedBefore": _iso(T0 + timedelta(seconds=100))}
    orders, pages = _walk(emulator_http, params)
    assert (len(orders), pages) == (100, 2)


@pytest.mark.parametrize(
    "params",
    [
        {"modifiedAfter": "2024-03-01T00:00:00Z"},
        {"modifiedBefore": "2024-03-01T00:00:00Z"},
    ],
)
def test_window_needs_both_bounds(emulator_http: httpx.Client, params):
    assert "together" in _error(emulator_http.get(ORDERS, params=params))


@pytest.mark.parametrize(
    ("after", "before"),
    [("2024-03-02T00:00:00Z", "2024-03-01T00:00:00Z"), ("2024-03-01T00:00:00Z",) * 2],
)
def test_window_must_be_increasing(emulator_http: httpx.Client, after, before):
    params = {"modifiedAfter": after, "modifiedBefore": before}
    assert "later" in _error(emulator_http.get(ORDERS, params=params))


@pytest.mark.parametrize(
    "value",
    [
        "2024-03-01",
        "2024-03-01T00:00:00",
        "2024-03-01T00:00:00+01:00",
        "yesterday",
        "2024-13-01T00:00:00Z",
    ],
)
def test_window_dates_must_be_iso_utc(emulator_http: httpx.Client, value):
    params = {"modifiedAfter": value, "modifiedBefore": "2030-01-01T00:00:00Z"}
    assert "ISO-8601" in _error(emulator_http.get(ORDERS, params=params))


def test_window_accepts_utc_offset_and_fractions(emulator: Emulator, emulator_http: httpx.Client):
    order_id = _add(emulator, T0)
    params = {
        "modifiedAfter": "2024-03-01T11:59:59.999999+00:00",
        "modifiedBefore": "2024-03-02T00:00:00Z",
    }
    assert [o["id"] for o in emulator_http.get(ORDERS, params=params).json()["result"]] == [
        order_id
    ]


@pytest.mark.parametrize(
    "other",
    [
        {"modifiedAfter": "2024-03-01T00:00:00Z", "modifiedBefore": "2024-03-02T00:00:00Z"},
        {"fulfillmentStatus": "PENDING"},
        {"paymentStates": "PAID"},
        {"anything": "x"},
    ],
)
def test_cursor_must_be_alone(emulator: Emulator, emulator_http: httpx.Client, other):
    for n in range(51):
        _add(emulator, T0 + timedelta(seconds=n))
    cursor = emulator_http.get(ORDERS).json()["pagination"]["nextPageCursor"]
    assert "cursor" in _error(emulator_http.get(ORDERS, params={"cursor": cursor, **other}))


def test_empty_cursor_means_first_page(emulator: Emulator, emulator_http: httpx.Client):
    _add(emulator, T0)
    response = emulator_http.get(ORDERS, params={"cursor": "", "fulfillmentStatus": "PENDING"})
    assert len(response.json()["result"]) == 1


@pytest.mark.parametrize(
    "cursor",
    ["not base64 !", "bm90IGpzb24", encode_cursor({"m": "x", "i": 1}), encode_cursor({"v": "a"})],
)
def test_bad_cursor_is_400(emulator_http: httpx.Client, cursor):
    assert "cursor" in _error(emulator_http.get(ORDERS, params={"cursor": cursor}))


def test_fulfillment_status_filter(emulator: Emulator, emulator_http: httpx.Client):
    pending = _add(emulator, T0)
    shipped = _add(emulator, T0 + timedelta(seconds=1), fulfillmentStatus="FULFILLED")
    _add(emulator, T0 + timedelta(seconds=2), fulfillmentStatus="CANCELED")
    for status, expected in (("PENDING", [pending]), ("FULFILLED", [shipped])):
        result = emulator_http.get(ORDERS, params={"fulfillmentStatus": status}).json()["result"]
        assert [o["id"] for o in result] == expected
    assert len(emulator_http.get(ORDERS).json()["result"]) == 3


@pytest.mark.parametrize("status", ["CANCELLED", "pending", "SHIPPED"])
def test_unknown_fulfillment_status_is_400(emulator_http: httpx.Client, status):
    assert "fulfillmentStatus" in _error(
        emulator_http.get(ORDERS, params={"fulfillmentStatus": status})
    )


def test_payment_states_default_and_null(emulator: Emulator, emulator_http: httpx.Client):
    states = ["PAID", "AUTHORIZED", "NOT_CHARGED", "REFUNDED", "PENDING", "FAILED", None]
    ids = {
        state: _add(emulator, T0 + timedelta(seconds=n), paymentState=state)
        for n, state in enumerate(states)
    }
    default = {o["id"] for o in emulator_http.get(ORDERS).json()["result"]}
    assert default == {ids[s] for s in ("PAID", "AUTHORIZED", "NOT_CHARGED", "REFUNDED", None)}
    chosen = emulator_http.get(ORDERS, params={"paymentStates": "FAILED,PENDING"}).json()["result"]
    assert {o["id"] for o in chosen} == {ids["FAILED"], ids["PENDING"], ids[None]}


@pytest.mark.parametrize("value", ["PAID,BOGUS", "", "paid"])
def test_invalid_payment_states_is_400(emulator_http: httpx.Client, value):
    assert "paymentStates" in _error(emulator_http.get(ORDERS, params={"paymentStates": value}))


def test_walk_is_dynamic_a_modified_order_moves_to_the_end(
    emulator: Emulator, emulator_http: httpx.Client
):
    ids = [_add(emulator, T0 + timedelta(seconds=n)) for n in range(60)]
    first = emulator_http.get(ORDERS).json()
    # Between pages: an already-listed order and a not-yet-listed one both change.
    for n, order_id in enumerate((ids[0], ids[55])):
        emulator.state.now = lambda n=n: T0 + timedelta(hours=1, seconds=n)
        emulator.update_order(order_id, internalNotes=[{"content": "called"}])
    rest, _ = _walk(emulator_http, {"cursor": first["pagination"]["nextPageCursor"]})
    assert [o["id"] for o in rest] == ids[50:55] + ids[56:60] + [ids[0], ids[55]]


def test_get_one_order(emulator: Emulator, emulator_http: httpx.Client):
    order_id = _add(emulator, T0)
    response = emulator_http.get(f"{ORDERS}/{order_id}")
    assert response.status_code == 200
    assert response.json() == emulator.orders[order_id]


def test_get_unknown_order_is_404(emulator_http: httpx.Client):
    assert "not found" in _error(emulator_http.get(f"{ORDERS}/nope"), 404)


def test_listing_1000_generated_orders_takes_20_pages(make_emulator):
    emulator = make_emulator(orders=1000, variants=40)
    headers = {"Authorization": f"Bearer {emulator.api_key}", "User-Agent": "t"}
    with httpx.Client(base_url=emulator.url, headers=headers) as client:
        orders, pages = _walk(
            client, {"paymentStates": "NOT_CHARGED,AUTHORIZED,PAID,REFUNDED,PENDING,FAILED"}
        )
    assert (len(orders), pages) == (1000, 20)
    assert emulator.stats.count("GET", ORDERS) == 20
