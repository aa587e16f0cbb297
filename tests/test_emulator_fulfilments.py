"""Emulator: POST /1.0/commerce/orders/{id}/fulfillments validation and effects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sqsync.emulator import Emulator

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
SHIPMENT = {
    "shipDate": "2024-03-02T10:00:00.000Z",
    "carrierName": "Royal Mail",
    "service": "Tracked 48",
    "trackingNumber": "AB123456789GB",
    "trackingUrl": "https://www.royalmail.com/track-your-item#/tracking-results/AB123456789GB",
}


@pytest.fixture
def order_id(emulator: Emulator) -> str:
    emulator.state.now = lambda: T0
    order_id = emulator.add_order(emulator.make_order())
    emulator.state.now = lambda: T0 + timedelta(days=1)
    return order_id


def _fulfil(client: httpx.Client, order_id: str, shipments, notify=True) -> httpx.Response:
    body = {"shouldSendNotification": notify, "shipments": shipments}
    return client.post(f"/1.0/commerce/orders/{order_id}/fulfillments", json=body)


def test_fulfilment_applies(emulator: Emulator, emulator_http: httpx.Client, order_id: str):
    response = _fulfil(emulator_http, order_id, [SHIPMENT])
    assert response.status_code == 204
    assert response.content == b""
    order = emulator.orders[order_id]
    assert order["fulfillmentStatus"] == "FULFILLED"
    assert order["fulfillments"] == [SHIPMENT]
    assert order["fulfilledOn"] == "2024-03-02T12:00:00.000Z"
    assert order["modifiedOn"] == "2024-03-02T12:00:00.000Z"
    assert emulator.stats.fulfilments_applied == 1
    assert emulator.stats.emails_sent == 1


def test_second_fulfilment_appends_and_keeps_fulfilled_on(
    emulator: Emulator, emulator_http: httpx.Client, order_id: str
):
    _fulfil(emulator_http, order_id, [SHIPMENT])
    emulator.state.now = lambda: T0 + timedelta(days=2)
    second = {**SHIPMENT, "trackingNumber": "CD1", "trackingUrl": None}
    assert _fulfil(emulator_http, order_id, [second], notify=False).status_code == 204
    order = emulator.orders[order_id]
    assert [s["trackingNumber"] for s in order["fulfillments"]] == ["AB123456789GB", "CD1"]
    assert order["fulfilledOn"] == "2024-03-02T12:00:00.000Z"
    assert order["modifiedOn"] == "2024-03-03T12:00:00.000Z"
    assert emulator.stats.emails_sent == 1


def test_modified_on_strictly_increases_even_with_a_stopped_clock(
    emulator: Emulator, emulator_http: httpx.Client, order_id: str
):
    before = emulator.orders[order_id]["modifiedOn"]
    emulator.state.now = lambda: T0  # the clock did not move since the order was added
    _fulfil(emulator_http, order_id, [SHIPMENT])
    assert emulator.orders[order_id]["modifiedOn"] > before


def test_no_shipments_marks_fulfilled_without_email(
    emulator: Emulator, emulator_http: httpx.Client, order_id: str
):
    assert _fulfil(emulator_http, order_id, []).status_code == 204
    assert emulator.orders[order_id]["fulfillmentStatus"] == "FULFILLED"
    assert emulator.stats.emails_sent == 0


def test_tracking_url_is_optional(emulator: Emulator, emulator_http: httpx.Client, order_id: str):
    shipment = {k: v for k, v in SHIPMENT.items() if k != "trackingUrl"}
    assert _fulfil(emulator_http, order_id, [shipment]).status_code == 204
    assert emulator.orders[order_id]["fulfillments"][0]["trackingUrl"] is None


@pytest.mark.parametrize(
    ("change", "word"),
    [
        ({"carrierName": "x" * 101}, "carrierName"),
        ({"service": "x" * 101}, "service"),
        ({"trackingNumber": "x" * 101}, "trackingNumber"),
        ({"carrierName": None}, "carrierName"),
        ({"service": ""}, "service"),
        ({"trackingNumber": 12345}, "trackingNumber"),
        ({"shipDate": None}, "shipDate"),
        ({"shipDate": "2024-03-02"}, "shipDate"),
        ({"trackingUrl": "not a url"}, "trackingUrl"),
        ({"trackingUrl": "ftp://example.com/x"}, "trackingUrl"),
        ({"trackingUrl": "https://"}, "trackingUrl"),
    ],
)
def test_invalid_shipment_is_400_and_changes_nothing(
    emulator: Emulator, emulator_http: httpx.Client, order_id: str, change, word
):
    before = emulator.orders[order_id]
    response = _fulfil(emulator_http, order_id, [SHIPMENT, {**SHIPMENT, **change}])
    assert response.status_code == 400
    assert response.json()["type"] == "INVALID_REQUEST_ERROR"
    assert word in response.json()["message"]
    assert emulator.orders[order_id] == before


def test_100_character_fields_are_allowed(emulator_http: httpx.Client, order_id: str):
    shipment = {
        **SHIPMENT,
        "carrierName": "c" * 100,
        "service": "s" * 100,
        "trackingNumber": "t" * 100,
    }
    assert _fulfil(emulator_http, order_id, [shipment]).status_code == 204


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"shouldSendNotification": "yes", "shipments": []},
        {"shipments": {}},
        {"shipments": ["x"]},
    ],
)
def test_malformed_body_is_400(emulator_http: httpx.Client, order_id: str, body):
    response = emulator_http.post(f"/1.0/commerce/orders/{order_id}/fulfillments", json=body)
    assert response.status_code == 400


def test_body_must_be_json(emulator_http: httpx.Client, order_id: str):
    url = f"/1.0/commerce/orders/{order_id}/fulfillments"
    not_json = emulator_http.post(url, content=b"{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    wrong_type = emulator_http.post(url, content=b"{}", headers={"Content-Type": "text/plain"})
    assert wrong_type.json()["subtype"] == "INVALID_CONTENT_TYPE"


def test_unknown_order_is_404(emulator: Emulator, emulator_http: httpx.Client):
    assert _fulfil(emulator_http, "nope", [SHIPMENT]).status_code == 404
    assert emulator.stats.fulfilments_applied == 0


def test_canceled_order_is_409(emulator: Emulator, emulator_http: httpx.Client, order_id: str):
    emulator.update_order(order_id, fulfillmentStatus="CANCELED")
    response = _fulfil(emulator_http, order_id, [SHIPMENT])
    assert response.status_code == 409
    assert response.json()["type"] == "CONFLICT"
    assert emulator.orders[order_id]["fulfillments"] == []
