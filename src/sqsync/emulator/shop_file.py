"""Checks on a saved shop (``sqsync emulator --state FILE``) before the emulator serves it.

A shop the emulator cannot serve must be refused when it is loaded, naming the record and
the field, not answered with a 500 on the first request that meets it (a quantity of
``"7"`` used to load, then failed every adjustment). So each order and inventory item is
checked for the shape the emulator's operations and Squarespace's documented resource
rely on: types, enums, ISO-8601 UTC times, decimal money strings, ids unique. Fields the
emulator never reads and Squarespace documents loosely are left to the file's author.

:func:`check_shop` raises ``ValueError`` with a one-line message such as
``inventory item 3 (variantId "v1"): quantity must be a whole number from 0 to
999999999, not "7"``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from sqsync.emulator.validation import FULFILLMENT_STATUSES, MAX_STOCK, PAYMENT_STATES
from sqsync.emulator.wire import iso_to_ms

TOP_LEVEL = ("orders", "inventory", "keys")
_MONEY_FIELDS = (
    "subtotal",
    "shippingTotal",
    "discountTotal",
    "taxTotal",
    "refundedTotal",
    "grandTotal",
)
_ADDRESS_FIELDS = (
    "firstName",
    "lastName",
    "address1",
    "address2",
    "city",
    "state",
    "countryCode",
    "postalCode",
    "phone",
)
_SHIPMENT_TEXT = ("carrierName", "service", "trackingNumber", "trackingUrl")
_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")


class _Bad(ValueError):
    pass


def _shown(value: Any) -> str:
    return json.dumps(value)[:60] if _jsonable(value) else repr(value)[:60]


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _fail(field: str, wanted: str, value: Any) -> _Bad:
    return _Bad(f"{field} must be {wanted}, not {_shown(value)}")


def _text(record: dict[str, Any], field: str, *, optional: bool = True) -> None:
    value = record.get(field)
    if value is None and optional:
        return
    if not isinstance(value, str) or (not optional and not value):
        raise _fail(field, "a string" if optional else "a non-empty string", value)


def _time(record: dict[str, Any], field: str, *, optional: bool = True) -> None:
    value = record.get(field)
    if value is None and optional:
        return
    if not isinstance(value, str) or iso_to_ms(value) is None:
        raise _fail(field, "an ISO-8601 UTC time like 2024-03-12T09:15:02.417Z", value)


def _whole(value: Any, low: int, high: int) -> bool:
    # bool is an int to Python, never to JSON's readers.
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _money(value: Any, field: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise _fail(field, 'an object like {"value": "12.50", "currency": "GBP"}', value)
    amount, currency = value.get("value"), value.get("currency")
    if not isinstance(amount, str) or not _DECIMAL.match(amount):
        raise _fail(f"{field}.value", 'a decimal string like "12.50"', amount)
    if not isinstance(currency, str) or not currency:
        raise _fail(f"{field}.currency", 'a currency code like "GBP"', currency)


def _list_of_objects(record: dict[str, Any], field: str) -> list[dict[str, Any]]:
    value = record.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(field, "a list", value)
    for number, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise _fail(f"{field}[{number}]", "an object", entry)
    return value


def _check_order(order: dict[str, Any]) -> None:
    _text(order, "id", optional=False)
    number = order.get("orderNumber")
    if not isinstance(number, str) or not number:
        raise _fail("orderNumber", 'a non-empty string like "1001"', number)
    _time(order, "createdOn", optional=False)
    _time(order, "modifiedOn", optional=False)
    _time(order, "fulfilledOn")
    status = order.get("fulfillmentStatus")
    if status not in FULFILLMENT_STATUSES:
        raise _fail("fulfillmentStatus", " or ".join(FULFILLMENT_STATUSES), status)
    payment = order.get("paymentState")
    if payment is not None and payment not in PAYMENT_STATES:
        raise _fail("paymentState", f"null or one of {', '.join(PAYMENT_STATES)}", payment)
    if "testmode" in order and not isinstance(order["testmode"], bool):
        raise _fail("testmode", "true or false", order["testmode"])
    _text(order, "customerEmail")
    for field in ("billingAddress", "shippingAddress"):
        address = order.get(field)
        if address is None:
            continue
        if not isinstance(address, dict):
            raise _fail(field, "an object or null", address)
        for part in _ADDRESS_FIELDS:
            if address.get(part) is not None and not isinstance(address[part], str):
                raise _fail(f"{field}.{part}", "a string or null", address[part])
    for field in _MONEY_FIELDS:
        _money(order.get(field), field)
    for number, line in enumerate(_list_of_objects(order, "lineItems")):
        _within(f"lineItems[{number}]", _check_line, line)
    for number, line in enumerate(_list_of_objects(order, "shippingLines")):
        if line.get("method") is not None and not isinstance(line["method"], str):
            raise _fail(f"shippingLines[{number}].method", "a string or null", line["method"])
    for number, shipment in enumerate(_list_of_objects(order, "fulfillments")):
        _within(f"fulfillments[{number}]", _check_shipment, shipment)


def _check_line(line: dict[str, Any]) -> None:
    _text(line, "id", optional=False)
    _text(line, "lineItemType", optional=False)
    _text(line, "sku")
    _text(line, "variantId")
    _text(line, "productName")
    if not _whole(line.get("quantity"), 1, MAX_STOCK):
        raise _fail("quantity", f"a whole number from 1 to {MAX_STOCK}", line.get("quantity"))
    _money(line.get("unitPricePaid"), "unitPricePaid")


def _check_shipment(shipment: dict[str, Any]) -> None:
    _time(shipment, "shipDate")
    for field in _SHIPMENT_TEXT:
        _text(shipment, field)


def _check_item(item: dict[str, Any]) -> None:
    _text(item, "variantId", optional=False)
    _text(item, "sku")
    _text(item, "descriptor")
    if not isinstance(item.get("isUnlimited"), bool):
        raise _fail("isUnlimited", "true or false", item.get("isUnlimited"))
    if not _whole(item.get("quantity"), 0, MAX_STOCK):
        raise _fail("quantity", f"a whole number from 0 to {MAX_STOCK}", item.get("quantity"))


def _within(where: str, check: Callable[[dict[str, Any]], None], record: dict[str, Any]) -> None:
    try:
        check(record)
    except _Bad as error:
        raise _Bad(f"{where}.{error}") from None


def _records(data: dict[str, Any], field: str) -> list[Any]:
    value = data.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(field, "a list", value)
    return value


def _each(
    records: list[Any], what: str, id_field: str, check: Callable[[dict[str, Any]], None]
) -> None:
    seen: set[str] = set()
    for number, record in enumerate(records):
        if not isinstance(record, dict):
            raise _fail(f"{what} {number}", "an object", record)
        record_id = record.get(id_field)
        label = f"{what} {number}"
        if isinstance(record_id, str):
            label += f" ({id_field} {json.dumps(record_id)})"
        try:
            check(record)
        except _Bad as error:
            raise _Bad(f"{label}: {error}") from None
        assert isinstance(record_id, str)
        if record_id in seen:
            raise _Bad(f"{label}: another {what} has this {id_field}")
        seen.add(record_id)


def check_shop(data: Any) -> None:
    """Raise ``ValueError`` (one line) unless ``data`` is a shop the emulator can serve."""
    if not isinstance(data, dict):
        raise _Bad("the top level must be an object")
    unknown = sorted(set(data) - set(TOP_LEVEL))
    if unknown:
        raise _Bad(
            f"unknown top-level key {json.dumps(unknown[0])} (expected {', '.join(TOP_LEVEL)})"
        )
    orders = _records(data, "orders")
    _each(orders, "order", "id", _check_order)
    numbers: dict[str, int] = {}
    for number, order in enumerate(orders):
        earlier = numbers.setdefault(order["orderNumber"], number)
        if earlier != number:
            raise _Bad(
                f"order {number} (id {json.dumps(order['id'])}): orderNumber "
                f"{json.dumps(order['orderNumber'])} is also order {earlier}'s"
            )
    _each(_records(data, "inventory"), "inventory item", "variantId", _check_item)
    keys = data.get("keys")
    if keys is not None and not isinstance(keys, dict):
        raise _fail("keys", "an object of key: permissions", keys)
    for number, info in enumerate((keys or {}).values()):
        # Named by position: a key is a credential, and an error message never shows one.
        if not isinstance(info, dict):
            raise _fail(f"key {number}", 'an object like {"orders": "rw", "inventory": "rw"}', info)
