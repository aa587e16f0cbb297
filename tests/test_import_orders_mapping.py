"""sqsync.jobs.order_mapping: each skip reason and each mapping rule, on plain values."""

from __future__ import annotations

from typing import Any

import pytest

from sqsync.jobs.order_mapping import (
    FULFILLED_IN_SQUARESPACE,
    MappingError,
    MappingSettings,
    OrderRecord,
    Skip,
    SkipReason,
    decide,
    map_order,
    merge_problems,
    only_unknown_skus,
)
from sqsync.squarespace import Order


def line(sku: str | None = "RED-S", kind: str = "PHYSICAL_PRODUCT", **fields: Any) -> dict:
    return {
        "id": fields.pop("id", f"line-{sku}"),
        "variantId": fields.pop("variantId", f"variant-{sku}"),
        "sku": sku,
        "productName": "Classic Tee",
        "quantity": 2,
        "unitPricePaid": {"value": "9.25", "currency": "GBP"},
        "variantOptions": [
            {"optionName": "Colour", "value": "Red"},
            {"optionName": "Size", "value": "S"},
        ],
        "lineItemType": kind,
        **fields,
    }


def order(*lines: dict, **fields: Any) -> Order:
    address = {"firstName": "Ada", "lastName": "Lovelace", "countryCode": "GB", "city": "London"}
    data = {
        "id": "sq-1",
        "orderNumber": "1001",
        "createdOn": "2026-03-01T10:00:00.000Z",
        "modifiedOn": "2026-03-01T10:05:00.000Z",
        "customerEmail": "ada@example.com",
        "billingAddress": address,
        "shippingAddress": address,
        "fulfillmentStatus": "PENDING",
        "paymentState": "PAID",
        "testmode": False,
        "lineItems": list(lines) or [line()],
        "shippingLines": [
            {"method": "Royal Mail Tracked 48", "amount": {"value": "3.95", "currency": "GBP"}}
        ],
        "subtotal": {"value": "18.50", "currency": "GBP"},
        "grandTotal": {"value": "22.45", "currency": "GBP"},
        **fields,
    }
    return Order.model_validate(data)


SETTINGS = MappingSettings()
KNOWN = {"RED-S", "BLUE-M"}


def skip_of(decision: Skip | OrderRecord) -> SkipReason | None:
    return decision.reason if isinstance(decision, Skip) else None


@pytest.mark.parametrize(
    ("fields", "settings", "reason"),
    [
        ({"testmode": True}, SETTINGS, SkipReason.TESTMODE),
        (
            {"paymentState": "AUTHORIZED"},
            MappingSettings(payment_states=frozenset({"PAID"})),
            SkipReason.PAYMENT_STATE,
        ),
        ({"paymentState": "PENDING"}, SETTINGS, SkipReason.PAYMENT_STATE),
        ({"paymentState": "FAILED"}, SETTINGS, SkipReason.PAYMENT_STATE),
        (
            {"lineItems": [line(None, "DIGITAL", variantId=None)]},
            SETTINGS,
            SkipReason.NO_PHYSICAL_LINES,
        ),
        (
            {"lineItems": [line("GC-25", "GIFT_CARD"), line("WRAP", "SERVICE")]},
            SETTINGS,
            SkipReason.NO_PHYSICAL_LINES,
        ),
        ({}, MappingSettings(shipping_countries=frozenset({"FR", "DE"})), SkipReason.SHIPPING_ZONE),
        (
            {"shippingAddress": None},
            MappingSettings(shipping_countries=frozenset({"GB"})),
            SkipReason.SHIPPING_ZONE,
        ),
        ({"fulfillmentStatus": "FULFILLED"}, SETTINGS, SkipReason.NOT_PENDING),
        ({"fulfillmentStatus": "CANCELED"}, SETTINGS, SkipReason.NOT_PENDING),
    ],
    ids=[
        "testmode",
        "authorized-not-accepted",
        "payment-pending",
        "payment-failed",
        "digital-only",
        "gift-card-and-service",
        "outside-zone",
        "no-shipping-address-with-zone",
        "fulfilled",
        "canceled",
    ],
)
def test_each_skip_reason(fields, settings, reason):
    assert skip_of(decide(order(**fields), settings, KNOWN)) is reason


@pytest.mark.parametrize(
    ("fields", "settings"),
    [
        ({"testmode": True}, MappingSettings(import_test_orders=True)),
        ({"paymentState": None}, MappingSettings(payment_states=frozenset({"PAID"}))),
        ({"paymentState": "NOT_CHARGED"}, SETTINGS),
        ({}, MappingSettings(shipping_countries=frozenset({"GB", "IM"}))),
        (
            {"shippingAddress": {"countryCode": "gb"}},
            MappingSettings(shipping_countries=frozenset({"GB"})),
        ),
    ],
    ids=[
        "test-orders-imported",
        "null-payment-accepted",
        "not-charged-default",
        "inside-zone",
        "lowercase-country",
    ],
)
def test_accepted_orders_are_imported(fields, settings):
    assert isinstance(decide(order(**fields), settings, KNOWN), OrderRecord)


def test_a_new_order_maps_to_a_new_warehouse_order():
    record = decide(order(), MappingSettings(order_prefix="SQ-"), KNOWN)
    assert isinstance(record, OrderRecord)
    assert record.order_number == "SQ-1001"
    assert record.status == "NEW"
    assert record.problems == ()
    assert record.total == "22.45"
    assert record.currency == "GBP"
    assert record.shipping_method == "Royal Mail Tracked 48"
    assert record.shipping_address.country_code == "GB"
    assert record.customer_email == "ada@example.com"
    [item] = record.items
    assert (item.sku, item.channel_sku, item.quantity, item.unit_price) == (
        "RED-S",
        "RED-S",
        2,
        "9.25",
    )
    assert item.name == "Classic Tee (Red, S)"
    assert item.variant_id == "variant-RED-S"


def test_skus_are_mapped_through_aliases_and_checked_as_warehouse_skus():
    settings = MappingSettings(sku_aliases={"SQ-RED-S": "RED-S", "SQ-GREEN": "GREEN"})
    record = map_order(order(line("SQ-RED-S"), line("SQ-GREEN")), settings, KNOWN)
    assert [(i.sku, i.channel_sku) for i in record.items] == [
        ("RED-S", "SQ-RED-S"),
        ("GREEN", "SQ-GREEN"),
    ]
    assert record.problems == ("unknown_sku:GREEN",)
    assert record.status == "HOLDING"


def test_non_physical_lines_are_dropped_and_quantities_kept():
    lines = [
        line("RED-S", quantity=3),
        line(None, "DIGITAL", variantId=None),
        line("BLUE-M", quantity=1),
    ]
    record = map_order(order(*lines), SETTINGS, KNOWN)
    assert [(i.sku, i.quantity) for i in record.items] == [("RED-S", 3), ("BLUE-M", 1)]


def test_each_unknown_sku_is_one_problem_even_on_two_lines():
    lines = [line("NOPE", id="a"), line("NOPE", id="b"), line("ALSO-NOPE")]
    record = map_order(order(*lines), SETTINGS, KNOWN)
    assert record.problems == ("unknown_sku:NOPE", "unknown_sku:ALSO-NOPE")


def test_a_line_without_sku_maps_by_its_variant_alias_or_is_held_naming_it():
    no_sku = line(None, variantId="v-123")
    held = map_order(order(no_sku), SETTINGS, KNOWN)
    assert held.status == "HOLDING"
    assert held.problems == ("no_sku:v-123",)
    assert [(i.sku, i.variant_id) for i in held.items] == [(None, "v-123")]
    record = map_order(order(no_sku), MappingSettings(sku_aliases={"v-123": "RED-S"}), KNOWN)
    assert [(i.sku, i.channel_sku) for i in record.items] == [("RED-S", None)]


def test_a_zero_quantity_line_cannot_be_mapped():
    with pytest.raises(MappingError, match="quantity 0"):
        map_order(order(line(quantity=0)), SETTINGS, KNOWN)


def test_money_stays_decimal_text():
    record = map_order(order(grandTotal={"value": "1E+2", "currency": "JPY"}), SETTINGS, KNOWN)
    assert (record.total, record.currency) == ("100", "JPY")


def test_skip_conditions_become_problems_when_an_imported_order_is_remapped():
    settings = MappingSettings(shipping_countries=frozenset({"GB"}))
    refunded = order(paymentState="REFUNDED", shippingAddress={"countryCode": "FR"})
    assert map_order(refunded, settings, KNOWN).problems == (
        "payment_state:REFUNDED",
        "shipping_zone:FR",
    )
    digital = order(line(None, "DIGITAL", variantId=None))
    assert map_order(digital, SETTINGS, KNOWN).problems == ("no_physical_lines",)


def test_merge_keeps_problems_people_must_clear_and_recomputes_the_rest():
    current = ["unknown_sku:OLD", FULFILLED_IN_SQUARESPACE, "payment_state:REFUNDED"]
    assert merge_problems(current, ["unknown_sku:NEW"]) == (
        FULFILLED_IN_SQUARESPACE,
        "unknown_sku:NEW",
    )
    assert merge_problems(current, []) == (FULFILLED_IN_SQUARESPACE,)


def test_only_unknown_skus():
    assert only_unknown_skus(["unknown_sku:A", "unknown_sku:B"])
    assert not only_unknown_skus(["unknown_sku:A", FULFILLED_IN_SQUARESPACE])
    assert not only_unknown_skus([])
