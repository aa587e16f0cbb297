"""Test doubles for code that uses the client: a fake clock, a scripted API, JSON builders.

``FakeClock`` gives a :class:`~sqsync.squarespace.Client` a ``sleep`` that records the
requested delays and moves ``monotonic`` forward instead of waiting. ``fake_api`` wires
a client to an ``httpx.MockTransport`` that records every request. The builders produce
API-shaped dicts (camelCase) with sensible defaults, overridable per field.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from sqsync.squarespace.client import Client

Handler = Callable[[httpx.Request], httpx.Response]


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


def json_response(status: int = 200, body: Any = None, **headers: str) -> httpx.Response:
    """A response with a JSON body (none for ``body=None``)."""
    content = b"" if body is None else json.dumps(body).encode()
    kind = {"Content-Type": "application/json"} if body is not None else {}
    return httpx.Response(status, content=content, headers={**kind, **headers})


def scripted(*replies: httpx.Response | Exception) -> Handler:
    """A handler answering each request with the next reply; an exception is raised."""
    queue = list(replies)

    def handle(request: httpx.Request) -> httpx.Response:
        if not queue:
            raise AssertionError(f"unexpected extra request {request.method} {request.url}")
        reply = queue.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    return handle


def paged(records: list[dict[str, Any]], key: str, *, size: int = 50) -> Handler:
    """A handler serving ``records`` as API pages; the cursor is the next offset."""

    def handle(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params.get("cursor", "0"))
        end = start + size
        more = end < len(records)
        pagination = {
            "hasNextPage": more,
            "nextPageCursor": str(end) if more else None,
            "nextPageUrl": None,
        }
        return json_response(200, {key: records[start:end], "pagination": pagination})

    return handle


@dataclass
class FakeApi:
    """A client whose requests go to ``handler``; ``requests`` keeps each one sent."""

    handler: Handler
    clock: FakeClock = field(default_factory=FakeClock)
    requests: list[httpx.Request] = field(default_factory=list)
    api_key: str = "sk-test-SECRET-0123456789"

    def _record(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.handler(request)

    def client(self, **options: Any) -> Client:
        options.setdefault("sleep", self.clock.sleep)
        options.setdefault("monotonic", self.clock.monotonic)
        options.setdefault("base_url", "https://api.example.test")
        return Client(self.api_key, transport=httpx.MockTransport(self._record), **options)

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]

    def params(self) -> list[dict[str, str]]:
        return [dict(r.url.params) for r in self.requests]


def orders(count: int, start: int = 1) -> list[dict[str, Any]]:
    return [order_json(number) for number in range(start, start + count)]
