"""Orders: listing filters and cursors, invalid records, get, and fulfilment."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from sqsync.squarespace import (
    FulfilmentShipment,
    InvalidRequestError,
    UnexpectedResponseError,
)
from sqsync.squarespace.testing import (
    FakeApi,
    json_response,
    order_json,
    orders,
    paged,
    scripted,
)

AFTER = datetime(2024, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)
BEFORE = datetime(2024, 3, 2, 13, 0, 0, tzinfo=timezone(timedelta(hours=1)))


def page(records: list[dict], cursor: str | None) -> httpx.Response:
    pagination = {"hasNextPage": cursor is not None, "nextPageCursor": cursor, "nextPageUrl": None}
    return json_response(200, {"result": records, "pagination": pagination})


def shipment(**fields: object) -> FulfilmentShipment:
    values: dict[str, object] = {
        "ship_date": datetime(2024, 3, 13, 16, 0, 0, 123_456, tzinfo=UTC),
        "carrier_name": "Royal Mail",
        "service": "Tracked 48",
        "tracking_number": "AB123456789GB",
        "tracking_url": "https://track.example/AB123456789GB",
    }
    values.update(fields)
    return FulfilmentShipment(**values)


def test_page_one_sends_filters_later_pages_only_the_cursor() -> None:
    api = FakeApi(scripted(page(orders(2), "c1"), page(orders(1, 3), "c2"), page([], None)))
    with api.client() as client:
        pages = list(
            client.iter_order_pages(
                fulfillment_status="PENDING",
                modified_after=AFTER,
                modified_before=BEFORE,
                payment_states=["PAID", "AUTHORIZED"],
            )
        )
    assert [len(p.orders) for p in pages] == [2, 1, 0]
    assert api.params() == [
        {
            "fulfillmentStatus": "PENDING",
            "modifiedAfter": "2024-03-01T12:00:00.250Z",
            "modifiedBefore": "2024-03-02T12:00:00.000Z",
            "paymentStates": "PAID,AUTHORIZED",
        },
        {"cursor": "c1"},
        {"cursor": "c2"},
    ]
    assert all(r.url.path == "/1.0/commerce/orders" for r in api.requests)


def test_no_filters_sends_no_parameters() -> None:
    api = FakeApi(scripted(page([], None)))
    with api.client() as client:
        assert list(client.iter_orders()) == []
    assert api.params() == [{}]


def test_listing_1000_orders_takes_exactly_20_requests() -> None:
    api = FakeApi(paged(orders(1000), "result"))
    with api.client() as client:
        listed = list(client.iter_orders())
        assert client.request_count == 20
    assert len(listed) == 1000
    assert len({order.id for order in listed}) == 1000


def test_has_next_page_without_cursor_stops_with_a_clear_error() -> None:
    broken = json_response(200, {"result": [], "pagination": {"hasNextPage": True}})
    api = FakeApi(scripted(page(orders(1), "c1"), broken))
    with api.client() as client, pytest.raises(UnexpectedResponseError, match="nextPageCursor"):
        list(client.iter_orders())
    assert len(api.requests) == 2


def test_a_repeated_cursor_stops_instead_of_looping() -> None:
    api = FakeApi(scripted(page([], "same"), page([], "same")))
    with api.client() as client, pytest.raises(UnexpectedResponseError, match="already used"):
        list(client.iter_order_pages())
    assert len(api.requests) == 2


@pytest.mark.parametrize(
    ("window", "match"),
    [
        ({"modified_after": AFTER}, "together"),
        ({"modified_before": BEFORE}, "together"),
        ({"modified_after": BEFORE, "modified_before": AFTER}, "later than"),
        ({"modified_after": AFTER, "modified_before": AFTER}, "later than"),
        ({"modified_after": AFTER, "modified_before": AFTER + timedelta(microseconds=10)}, "later"),
        ({"modified_after": datetime(2024, 1, 1), "modified_before": BEFORE}, "time zone"),
    ],
)
def test_bad_windows_are_refused_before_any_request(window: dict, match: str) -> None:
    api = FakeApi(scripted())
    with api.client() as client, pytest.raises(ValueError, match=match):
        client.iter_order_pages(**window)
    assert api.requests == []


def test_an_invalid_record_goes_to_invalid_and_never_stops_the_page() -> None:
    bad_total = order_json(2, grandTotal={"value": "lots", "currency": "GBP"})
    no_id = order_json(3)
    del no_id["id"]
    api = FakeApi(scripted(page([order_json(1), bad_total, no_id, "junk", order_json(4)], None)))
    with api.client() as client:
        (only,) = list(client.iter_order_pages())
    assert [o.id for o in only.orders] == ["order00000001", "order00000004"]
    assert [record.id for record in only.invalid] == ["order00000002", None, None]
    first = only.invalid[0].error
    assert "grandTotal.value" in first
    assert "\n" not in first
    assert "lots" not in first  # the input is not echoed (it may be personal data)


def test_iter_orders_logs_and_skips_invalid_records(caplog: pytest.LogCaptureFixture) -> None:
    api = FakeApi(scripted(page([order_json(1), order_json(2, createdOn="yesterday")], None)))
    with api.client() as client, caplog.at_level("WARNING", logger="sqsync"):
        assert [o.id for o in client.iter_orders()] == ["order00000001"]
    assert "order00000002" in caplog.text


def test_a_null_result_is_an_empty_page() -> None:
    api = FakeApi(scripted(json_response(200, {"result": None, "pagination": None})))
    with api.client() as client:
        (only,) = list(client.iter_order_pages())
    assert only.orders == [] and not only.has_next_page


@pytest.mark.parametrize("body", [[], {"pagination": {}}, {"result": {"a": 1}}])
def test_a_page_without_a_result_list_is_unexpected(body: object) -> None:
    api = FakeApi(scripted(json_response(200, body)))
    with api.client() as client, pytest.raises(UnexpectedResponseError, match="result"):
        list(client.iter_order_pages())


def test_a_non_json_success_is_unexpected() -> None:
    api = FakeApi(scripted(httpx.Response(200, content=b"<html>hi</html>")))
    with api.client() as client, pytest.raises(UnexpectedResponseError, match="not JSON"):
        client.get_order("x")


def test_get_order_parses_the_bare_order() -> None:
    api = FakeApi(scripted(json_response(200, order_json(7))))
    with api.client() as client:
        order = client.get_order("order00000007")
    assert order.order_number == "1007"
    assert api.requests[0].url.path == "/1.0/commerce/orders/order00000007"


def test_get_order_with_an_invalid_body_names_the_field() -> None:
    api = FakeApi(scripted(json_response(200, order_json(7, modifiedOn=None))))
    with api.client() as client, pytest.raises(UnexpectedResponseError, match="modifiedOn"):
        client.get_order("order00000007")


def test_fulfil_posts_notification_flag_and_shipments() -> None:
    api = FakeApi(scripted(json_response(204)))
    with api.client() as client:
        client.fulfil_order("o1", [shipment(), shipment(tracking_url=None)], send_notification=True)
    (request,) = api.requests
    assert request.method == "POST"
    assert request.url.path == "/1.0/commerce/orders/o1/fulfillments"
    sent = {
        "shipDate": "2024-03-13T16:00:00.123Z",
        "carrierName": "Royal Mail",
        "service": "Tracked 48",
        "trackingNumber": "AB123456789GB",
    }
    assert json.loads(request.content) == {
        "shouldSendNotification": True,
        "shipments": [{**sent, "trackingUrl": "https://track.example/AB123456789GB"}, sent],
    }


def test_fulfil_with_no_shipments_marks_fulfilled_without_tracking() -> None:
    api = FakeApi(scripted(json_response(204)))
    with api.client() as client:
        client.fulfil_order("o1", [], send_notification=False)
    assert api.bodies() == [{"shouldSendNotification": False, "shipments": []}]


def test_fulfil_converts_ship_date_to_utc() -> None:
    local = datetime(2024, 3, 13, 17, 0, tzinfo=timezone(timedelta(hours=1)))
    api = FakeApi(scripted(json_response(204)))
    with api.client() as client:
        client.fulfil_order("o1", [shipment(ship_date=local)], send_notification=False)
    assert api.bodies()[0]["shipments"][0]["shipDate"] == "2024-03-13T16:00:00.000Z"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"carrier_name": "x" * 101}, "carrierName is longer than 100"),
        ({"service": "s" * 101}, "service is longer than 100"),
        ({"tracking_number": "9" * 101}, "trackingNumber is longer than 100"),
        ({"tracking_number": "  "}, "trackingNumber is empty"),
        ({"tracking_url": "not a url"}, "trackingUrl is not a valid"),
        ({"tracking_url": "ftp://example.com/x"}, "trackingUrl is not a valid"),
        ({"tracking_url": "https://"}, "trackingUrl is not a valid"),
        ({"ship_date": datetime(2024, 3, 13)}, "shipDate has no time zone"),
    ],
)
def test_fulfil_refuses_invalid_shipments_without_sending(fields: dict, problem: str) -> None:
    api = FakeApi(scripted())
    with api.client() as client, pytest.raises(InvalidRequestError) as caught:
        client.fulfil_order("o1", [shipment(), shipment(**fields)], send_notification=True)
    assert f"shipment 2: {problem}" in str(caught.value)
    assert caught.value.status is None
    assert api.requests == []


def test_fulfil_accepts_exactly_100_character_fields() -> None:
    api = FakeApi(scripted(json_response(204)))
    with api.client() as client:
        client.fulfil_order("o1", [shipment(carrier_name="c" * 100)], send_notification=False)
    assert len(api.requests) == 1


def test_a_valid_page_is_validated_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Records are only validated one by one (built a second time) when the page is bad."""
    from sqsync.squarespace import client as client_module

    slow_path: list[int] = []
    original = client_module._validate_each

    def spy(*args: object) -> object:
        slow_path.append(1)
        return original(*args)

    monkeypatch.setattr(client_module, "_validate_each", spy)
    api = FakeApi(scripted(page(orders(50), "c1"), page([order_json(1, id=None)], None)))
    with api.client() as client:
        first, second = client.iter_order_pages()
    assert len(first.orders) == 50 and len(second.invalid) == 1
    assert slow_path == [1]  # only for the page with the bad record
