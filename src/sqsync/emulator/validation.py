"""The documented checks on query strings, paths and bodies, before anything touches the shop.

Each function turns raw request data into a typed value or raises :class:`ApiError` 400
with a message saying which parameter or field is wrong. Checks that need the shop's data
(unknown variant, not enough stock) live in :mod:`sqsync.emulator.state`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from sqsync.emulator.wire import decode_cursor, invalid, iso_to_ms, ms_to_iso

PAGE_SIZE = 50
MAX_IDS = 50
MAX_OPERATIONS = 50
MAX_SHIPMENTS = 100
MAX_TEXT = 100
# The real maximum stock level is undocumented (STOCK_EXCEEDS_MAX exists); this is a guess.
MAX_STOCK = 999_999_999

FULFILLMENT_STATUSES = ("PENDING", "FULFILLED", "CANCELED")
PAYMENT_STATES = (
    "NOT_CHARGED",
    "AUTHORIZED",
    "PAID",
    "REFUNDED",
    "PENDING",
    "FAILED",
    "REFUND_PENDING",
    "REFUND_FAILED",
    "PARTIALLY_PAID",
)
DEFAULT_PAYMENT_STATES: tuple[str, ...] = ("NOT_CHARGED", "AUTHORIZED", "PAID", "REFUNDED")
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

Position = tuple[int, str]


@dataclass(frozen=True)
class OrderQuery:
    """The filters of one orders walk; a cursor carries them from page to page."""

    after_ms: int | None = None
    before_ms: int | None = None
    fulfillment_status: str | None = None
    payment_states: tuple[str, ...] = DEFAULT_PAYMENT_STATES

    def matches(self, order: dict[str, Any]) -> bool:
        if self.fulfillment_status and order.get("fulfillmentStatus") != self.fulfillment_status:
            return False
        state = order.get("paymentState")
        # Orders placed before paymentState existed have none and are always listed.
        return state is None or state in self.payment_states

    def cursor_data(self, position: Position) -> dict[str, Any]:
        return {
            "a": self.after_ms,
            "c": self.before_ms,
            "f": self.fulfillment_status,
            "p": list(self.payment_states),
            "m": position[0],
            "i": position[1],
            "h": PAGE_SIZE,
        }


@dataclass(frozen=True)
class Adjustment:
    """One validated inventory adjustment request."""

    increments: tuple[tuple[str, int], ...] = ()
    decrements: tuple[tuple[str, int], ...] = ()
    set_finite: tuple[tuple[str, int], ...] = ()
    set_unlimited: tuple[str, ...] = ()

    def variant_ids(self) -> list[str]:
        ids = [vid for ops in (self.increments, self.decrements, self.set_finite) for vid, _ in ops]
        return ids + list(self.set_unlimited)


def _single(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise invalid(f"Parameter {name} may be given only once.")
    return values[0]


def parse_order_query(params: dict[str, list[str]]) -> tuple[OrderQuery, Position | None]:
    """The filters and resume position of a ``GET /1.0/commerce/orders``."""
    cursor = _single(params, "cursor")
    if cursor:
        others = sorted(name for name in params if name != "cursor")
        if others:
            raise invalid(f"cursor cannot be used with other parameters: {', '.join(others)}.")
        return _order_query_from_cursor(cursor)
    after_text = _single(params, "modifiedAfter")
    before_text = _single(params, "modifiedBefore")
    if (after_text is None) != (before_text is None):
        raise invalid("modifiedAfter and modifiedBefore must be given together.")
    after_ms = before_ms = None
    if after_text is not None:
        after_ms = _timestamp("modifiedAfter", after_text)
        before_ms = _timestamp("modifiedBefore", before_text)
        if before_ms <= after_ms:
            raise invalid("modifiedBefore must be later than modifiedAfter.")
    status = _single(params, "fulfillmentStatus")
    if status is not None and status not in FULFILLMENT_STATUSES:
        raise invalid(f"fulfillmentStatus must be one of {', '.join(FULFILLMENT_STATUSES)}.")
    states_text = _single(params, "paymentStates")
    states = DEFAULT_PAYMENT_STATES
    if states_text is not None:
        states = tuple(part.strip() for part in states_text.split(","))
        bad = [state for state in states if state not in PAYMENT_STATES]
        if bad:
            raise invalid(f"paymentStates has unknown values: {', '.join(bad)}.")
    return OrderQuery(after_ms, before_ms, status, states), None


def _timestamp(name: str, text: str | None) -> int:
    ms = iso_to_ms(text)
    if ms is None:
        raise invalid(f"{name} must be an ISO-8601 UTC date-time, e.g. 2024-03-12T09:15:02.417Z.")
    return ms


def _order_query_from_cursor(cursor: str) -> tuple[OrderQuery, Position]:
    data = decode_cursor(cursor)
    after, before, status = data.get("a"), data.get("c"), data.get("f")
    states, modified, last_id = data.get("p"), data.get("m"), data.get("i")
    well_formed: bool = (
        all(value is None or type(value) is int for value in (after, before))
        and (status is None or status in FULFILLMENT_STATUSES)
        and isinstance(states, list)
        and all(state in PAYMENT_STATES for state in states)
        and type(modified) is int
        and isinstance(last_id, str)
    )
    # The isinstance checks repeat well_formed's, for the type checker.
    if not well_formed or not isinstance(states, list) or not isinstance(modified, int):
        raise invalid("The cursor is not valid.")
    return OrderQuery(after, before, status, tuple(states)), (modified, str(last_id))


def parse_inventory_cursor(params: dict[str, list[str]]) -> str | None:
    """The last variantId of the previous inventory page, or None for the first page."""
    cursor = _single(params, "cursor")
    if not cursor:
        return None
    last_id = decode_cursor(cursor).get("v")
    if not isinstance(last_id, str):
        raise invalid("The cursor is not valid.")
    return last_id


def parse_variant_ids(segment: str) -> list[str]:
    """The comma-separated ids of ``GET /1.0/commerce/inventory/{ids}``, without repeats."""
    ids = [unquote(part).strip() for part in segment.split(",")]
    if not all(ids):
        raise invalid("Variant ids must not be empty.")
    if len(ids) > MAX_IDS:
        raise invalid(f"At most {MAX_IDS} variant ids may be requested at once, got {len(ids)}.")
    return list(dict.fromkeys(ids))


def _text(shipment: dict[str, Any], name: str, where: str) -> str:
    value = shipment.get(name)
    if value is None or value == "":
        raise invalid(f"{where}.{name} is required.", "MISSING_ARGUMENT")
    if not isinstance(value, str):
        raise invalid(f"{where}.{name} must be a string.")
    if len(value) > MAX_TEXT:
        raise invalid(f"{where}.{name} must be at most {MAX_TEXT} characters.")
    return value


def is_http_url(value: str) -> bool:
    # Deliberately not the client's own check: the emulator is the independent side the
    # client is tested against, so it must not share the client's mistakes.
    if any(char.isspace() for char in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _objects(body: dict[str, Any], name: str, what: str) -> list[tuple[str, dict[str, Any]]]:
    """The objects of array field ``name`` (null or missing: none), each with its location."""
    items = body.get(name)
    if items is None:
        items = []
    if not isinstance(items, list):
        raise invalid(f"{name} must be an array.")
    for number, item in enumerate(items):
        if not isinstance(item, dict):
            raise invalid(f"{name}[{number}] must be {what}.")
    return [(f"{name}[{number}]", item) for number, item in enumerate(items)]


def parse_fulfilment(body: Any) -> tuple[bool, list[dict[str, Any]]]:
    """(shouldSendNotification, normalised shipments) of a fulfilment request."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    notify = body.get("shouldSendNotification", False)
    if not isinstance(notify, bool):
        raise invalid("shouldSendNotification must be true or false.")
    shipments = _objects(body, "shipments", "an object")
    if len(shipments) > MAX_SHIPMENTS:
        raise invalid(f"At most {MAX_SHIPMENTS} shipments may be sent at once.")
    parsed = []
    for where, shipment in shipments:
        if shipment.get("shipDate") is None:
            raise invalid(f"{where}.shipDate is required.", "MISSING_ARGUMENT")
        ship_ms = _timestamp(f"{where}.shipDate", shipment["shipDate"])
        url = shipment.get("trackingUrl")
        if url is not None and not (isinstance(url, str) and is_http_url(url)):
            raise invalid(f"{where}.trackingUrl must be a valid http(s) URL.")
        parsed.append(
            {
                "shipDate": ms_to_iso(ship_ms),
                "carrierName": _text(shipment, "carrierName", where),
                "service": _text(shipment, "service", where),
                "trackingNumber": _text(shipment, "trackingNumber", where),
                "trackingUrl": url,
            }
        )
    return notify, parsed


def check_idempotency_key(value: str | None) -> str:
    if value is None:
        raise invalid("The Idempotency-Key header is required.", "MISSING_ARGUMENT")
    if not _IDEMPOTENCY_KEY.match(value):
        raise invalid("The Idempotency-Key header must be 1-64 characters of A-Z a-z 0-9 _ -.")
    return value


def _operations(body: dict[str, Any], name: str, minimum: int) -> tuple[tuple[str, int], ...]:
    operations = []
    for where, item in _objects(body, name, "an object with variantId and quantity"):
        variant_id, quantity = item.get("variantId"), item.get("quantity")
        if not isinstance(variant_id, str) or not variant_id:
            raise invalid(f"{where}.variantId must be a non-empty string.")
        if type(quantity) is not int:
            raise invalid(f"{where}.quantity must be an integer.")
        if not minimum <= quantity <= MAX_STOCK:
            raise invalid(f"{where}.quantity must be between {minimum} and {MAX_STOCK}.")
        operations.append((variant_id, quantity))
    return tuple(operations)


def parse_adjustment(body: Any) -> Adjustment:
    """A structurally valid adjustment: <= 50 operations, each variant at most once."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    unlimited = body.get("setUnlimitedOperations")
    if unlimited is None:
        unlimited = []
    if not isinstance(unlimited, list) or not all(
        isinstance(vid, str) and vid for vid in unlimited
    ):
        raise invalid("setUnlimitedOperations must be an array of variant id strings.")
    adjustment = Adjustment(
        increments=_operations(body, "incrementOperations", 1),
        decrements=_operations(body, "decrementOperations", 1),
        set_finite=_operations(body, "setFiniteOperations", 0),
        set_unlimited=tuple(unlimited),
    )
    ids = adjustment.variant_ids()
    if not ids:
        raise invalid("At least one operation is required.", "MISSING_ARGUMENT")
    if len(ids) > MAX_OPERATIONS:
        raise invalid(f"At most {MAX_OPERATIONS} operations are allowed, got {len(ids)}.")
    seen: set[str] = set()
    for vid in ids:
        if vid in seen:
            raise invalid(f"Variant {vid} appears in more than one operation.")
        seen.add(vid)
    return adjustment
