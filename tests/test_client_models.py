"""Models parse what the API sends tolerantly: money, datetimes, nulls, unknown fields."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from sqsync.squarespace import (
    ErrorEnvelope,
    FulfilmentShipment,
    InventoryItem,
    LineItem,
    LineItemType,
    Order,
    StockOperation,
)
from sqsync.squarespace.models import format_timestamp, is_http_url
from sqsync.squarespace.testing import inventory_json, line_item_json, order_json


def test_money_is_an_exact_decimal() -> None:
    order = Order.model_validate(order_json(grandTotal={"value": "0.10", "currency": "USD"}))
    assert order.grand_total is not None
    assert order.grand_total.value == Decimal("0.10")
    assert order.grand_total.currency == "USD"
    assert str(order.grand_total.value) == "0.10"  # precision kept, not a float


def test_order_number_is_a_string_even_when_sent_as_a_number() -> None:
    assert Order.model_validate(order_json(orderNumber="1042")).order_number == "1042"
    assert Order.model_validate(order_json(orderNumber=1042)).order_number == "1042"


def test_datetimes_are_aware_utc() -> None:
    order = Order.model_validate(
        order_json(
            createdOn="2024-03-12T09:15:02.417Z",
            modifiedOn="2024-03-12T10:15:04+01:00",
            fulfilledOn="2024-03-13T16:02:11",
        )
    )
    assert order.created_on == datetime(2024, 3, 12, 9, 15, 2, 417_000, tzinfo=UTC)
    assert order.modified_on == datetime(2024, 3, 12, 9, 15, 4, tzinfo=UTC)
    assert order.fulfilled_on == datetime(2024, 3, 13, 16, 2, 11, tzinfo=UTC)
    for value in (order.created_on, order.modified_on, order.fulfilled_on):
        assert value is not None and value.tzinfo is UTC


@pytest.mark.parametrize("empty", [None, []])
def test_null_and_empty_arrays_both_become_empty_lists(empty: list | None) -> None:
    names = ["lineItems", "shippingLines", "fulfillments"]
    order = Order.model_validate(order_json(**dict.fromkeys(names, empty)))
    assert order.line_items == order.shipping_lines == order.fulfillments == []
    line = LineItem.model_validate(line_item_json(variantOptions=empty))
    assert line.variant_options == []


@pytest.mark.parametrize(
    "broken",
    [
        {"discountLines": "none"},
        {"internalNotes": [{"content": 5}]},
        {"refundedTotal": {"value": "n/a"}},
        {"shippingLines": [{"method": "Tracked 48", "amount": {"value": "x"}}]},
        {"customerId": ["c1"]},
        {"lineItems": [line_item_json(weight="heavy", customizations="JD", imageUrl=7)]},
    ],
)
def test_a_broken_field_sqsync_never_reads_does_not_cost_the_order(broken: dict) -> None:
    order = Order.model_validate(order_json(**broken))
    assert order.order_number == "1001"


def test_unknown_fields_are_ignored() -> None:
    order = Order.model_validate(order_json(brandNewField={"x": 1}, anotherOne=[1, 2]))
    assert not hasattr(order, "brandNewField")
    assert "brandNewField" not in order.model_dump()


def test_fields_the_api_may_send_as_null_are_optional() -> None:
    order = Order.model_validate(
        order_json(
            channel=None,
            customerEmail=None,
            billingAddress=None,
            shippingAddress=None,
            paymentState=None,
            subtotal=None,
            grandTotal=None,
            fulfilledOn=None,
            lineItems=[
                line_item_json(variantId=None, sku=None, productId=None, unitPricePaid=None,
                               lineItemType="DIGITAL", weight=None)
            ],
        )
    )  # fmt: skip
    assert order.shipping_address is None and order.payment_state is None
    assert order.line_items[0].sku is None


def test_the_full_reference_order_parses() -> None:
    order = Order.model_validate(
        order_json(
            discountLines=[{"description": "10% off", "name": "Spring", "promoCode": "SPRING10",
                            "amount": {"value": "3.70", "currency": "GBP"}}],
            fulfillments=[{"shipDate": "2024-03-13T16:00:00.000Z", "carrierName": "Royal Mail",
                           "service": "Tracked 48", "trackingNumber": "AB1", "trackingUrl": None}],
            formSubmission=[{"label": "Gift message", "value": ""}],
            internalNotes=[{"content": "fragile"}],
            lineItems=[line_item_json(variantOptions=[{"optionName": "Colour", "value": "Green"}],
                                      customizations=[{"label": "Engraving", "value": "JD"}])],
            shippingOptionName="Royal Mail Tracked 48",
            customerId="c1",
        )
    )  # fmt: skip
    assert order.fulfillments[0].ship_date == datetime(2024, 3, 13, 16, tzinfo=UTC)
    assert order.line_items[0].variant_options[0].option_name == "Colour"
    assert order.shipping_lines[0].method == "Tracked 48"
    assert order.shipping_address is not None
    assert order.shipping_address.country_code == "GB"
    assert order.grand_total is not None and order.grand_total.value == Decimal("13.95")


@pytest.mark.parametrize("kind", ["PHYSICAL_PRODUCT", "SERVICE", "GIFT_CARD", "DIGITAL"])
def test_known_line_item_types_are_enum_members(kind: str) -> None:
    line = LineItem.model_validate(line_item_json(lineItemType=kind))
    assert line.line_item_type is LineItemType(kind)
    assert line.line_item_type == kind


def test_unknown_line_item_types_are_kept_as_strings() -> None:
    line = LineItem.model_validate(line_item_json(lineItemType="CUSTOM"))
    assert line.line_item_type == "CUSTOM"
    assert not isinstance(line.line_item_type, LineItemType)


@pytest.mark.parametrize(
    "broken",
    [
        {"grandTotal": {"value": "12,50", "currency": "GBP"}},
        {"createdOn": "not a date"},
        {"modifiedOn": None},
        {"id": None},
        {"lineItems": [{"id": "l1", "quantity": "two", "lineItemType": "PHYSICAL_PRODUCT"}]},
    ],
)
def test_broken_records_fail_validation(broken: dict) -> None:
    with pytest.raises(ValidationError):
        Order.model_validate(order_json(**broken))


def test_inventory_item() -> None:
    item = InventoryItem.model_validate(inventory_json(3, isUnlimited=True, quantity=50, extra=1))
    assert (item.variant_id, item.sku, item.is_unlimited, item.quantity) == (
        "variant-3",
        "SKU-3",
        True,
        50,
    )
    assert InventoryItem.model_validate(inventory_json(sku=None)).sku is None


def test_error_envelope_tolerates_missing_fields() -> None:
    envelope = ErrorEnvelope.model_validate({"type": "CONFLICT", "contextId": "ABC"})
    assert (envelope.type, envelope.subtype, envelope.context_id) == ("CONFLICT", None, "ABC")


def test_models_build_from_python_names() -> None:
    operation = StockOperation(variant_id="v", quantity=2)
    shipment = FulfilmentShipment(
        ship_date=datetime(2024, 1, 1, tzinfo=UTC),
        carrier_name="c",
        service="s",
        tracking_number="t",
    )
    assert operation.variant_id == "v"
    assert shipment.problems() == []
    assert "trackingUrl" not in shipment.to_api()


def test_format_timestamp_is_utc_milliseconds_with_z() -> None:
    assert (
        format_timestamp(datetime(2024, 3, 1, 12, 0, 0, 999_999, tzinfo=UTC))
        == "2024-03-01T12:00:00.999Z"
    )
    with pytest.raises(ValueError, match="time zone"):
        format_timestamp(datetime(2024, 3, 1))


@given(st.datetimes(timezones=st.just(UTC)))
def test_format_timestamp_round_trips_to_the_millisecond(value: datetime) -> None:
    text = format_timestamp(value)
    assert len(text) == 24 and text.endswith("Z")
    parsed = datetime.fromisoformat(text)
    assert parsed == value.replace(microsecond=value.microsecond // 1000 * 1000)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://www.royalmail.com/track-your-item#/tracking-results/AB1", True),
        ("http://example.com/t?n=1", True),
        ("example.com/t", False),
        ("javascript:alert(1)", False),
        ("https:///nohost", False),
        ("https://exa mple.com", False),
        ("", False),
    ],
)
def test_tracking_url_check(url: str, ok: bool) -> None:
    assert is_http_url(url) is ok
