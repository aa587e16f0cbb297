"""Test doubles for code that uses the client: a fake clock and API JSON builders.

``FakeClock`` gives a :class:`~sqsync.squarespace.Client` a ``sleep`` that records the
requested delays and moves ``monotonic`` forward instead of waiting. The builders
produce API-shaped dicts (camelCase) with sensible defaults, overridable per field.
"""

from __future__ import annotations

from typing import Any


class FakeClock:
    """``monotonic()`` and ``sleep()`` for tests: sleeping only moves the clock."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def money(value: str, currency: str = "GBP") -> dict[str, str]:
    return {"value": value, "currency": currency}


def line_item_json(number: int = 1, **fields: Any) -> dict[str, Any]:
    """A physical line item, API-shaped."""
    item: dict[str, Any] = {
        "id": f"line{number:06d}",
        "variantId": f"variant-{number}",
        "sku": f"SKU-{number}",
        "productId": f"product-{number}",
        "productName": f"Product {number}",
        "quantity": 1,
        "unitPricePaid": money("10.00"),
        "variantOptions": [],
        "customizations": None,
        "imageUrl": None,
        "lineItemType": "PHYSICAL_PRODUCT",
        "weight": 0.5,
        "width": 0,
        "length": 0,
        "height": 0,
    }
    item.update(fields)
    return item


def order_json(number: int = 1, **fields: Any) -> dict[str, Any]:
    """A PENDING, PAID order with one line, API-shaped; ``fields`` override (camelCase)."""
    stamp = f"2024-03-12T09:{number // 60 % 60:02d}:{number % 60:02d}.000Z"
    address = {
        "firstName": "Jane",
        "lastName": "Doe",
        "address1": "1 High Street",
        "address2": None,
        "city": "Leeds",
        "state": None,
        "countryCode": "GB",
        "postalCode": "LS1 1AA",
        "phone": None,
    }
    order: dict[str, Any] = {
        "id": f"order{number:08d}",
        "orderNumber": str(1000 + number),
        "createdOn": stamp,
        "modifiedOn": stamp,
        "channel": "web",
        "testmode": False,
        "customerEmail": "jane@example.com",
        "billingAddress": dict(address),
        "shippingAddress": dict(address),
        "fulfillmentStatus": "PENDING",
        "paymentState": "PAID",
        "lineItems": [line_item_json(number)],
        "internalNotes": [],
        "shippingLines": [{"method": "Tracked 48", "amount": money("3.95")}],
        "discountLines": [],
        "formSubmission": None,
        "fulfillments": [],
        "subtotal": money("10.00"),
        "shippingTotal": money("3.95"),
        "discountTotal": money("0.00"),
        "taxTotal": money("0.00"),
        "refundedTotal": money("0.00"),
        "grandTotal": money("13.95"),
        "fulfilledOn": None,
        "priceTaxInterpretation": "INCLUSIVE",
    }
    order.update(fields)
    return order


def inventory_json(number: int = 1, **fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "variantId": f"variant-{number}",
        "sku": f"SKU-{number}",
        "descriptor": f"Product {number}",
        "isUnlimited": False,
        "quantity": 10,
    }
    item.update(fields)
    return item


def error_json(
    type_: str, subtype: str | None = None, message: str = "", context_id: str = "CTX123"
) -> dict[str, Any]:
    """The API's error envelope."""
    return {
        "type": type_,
        "subtype": subtype,
        "message": message,
        "details": None,
        "contextId": context_id,
    }
