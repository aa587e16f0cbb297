"""Typed shapes of what the Squarespace Commerce APIs send and receive.

Parsing is tolerant, as the API asks: unknown fields are ignored (fields get added
without a version bump), an array may arrive as ``null`` or ``[]`` (both become ``[]``),
anything the API may send as ``null`` is optional, money ``{"value": "12.50",
"currency": "GBP"}`` becomes a :class:`~decimal.Decimal`, and every datetime is aware UTC.
Python names are snake_case; the camelCase API names are the aliases.

An order holds only the fields sqsync reads (the rest are ignored like unknown ones): a
field no job uses must not cost an order when Squarespace sends it malformed, and each
field validated is time spent on every order of every import.

:class:`FulfilmentShipment` and :class:`StockOperation` are what callers build to send;
the client checks them (:meth:`FulfilmentShipment.problems`) before anything goes out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic.alias_generators import to_camel

T = TypeVar("T")

MAX_SHIPMENT_FIELD = 100
# No real stock count comes near this; a larger one is a broken answer, and planning a
# decrement of 10**40 from it would be worse than leaving the variant alone.
MAX_STOCK = 1_000_000_000


def _empty_list(_: None) -> list[Any]:
    return []


def _as_utc(value: datetime) -> datetime:
    # The API always sends UTC with a Z; a naive value can only mean UTC too.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class LineItemType(StrEnum):
    """The line item types sqsync knows; others are kept as plain strings."""

    PHYSICAL_PRODUCT = "PHYSICAL_PRODUCT"
    SERVICE = "SERVICE"
    GIFT_CARD = "GIFT_CARD"
    DIGITAL = "DIGITAL"


_LINE_ITEM_TYPES: dict[str, str] = {kind.value: kind for kind in LineItemType}


def _known_line_item_type(value: str) -> str:
    return _LINE_ITEM_TYPES.get(value, value)


# Each of these tries the common shape first, in Rust, and calls Python only for the rare
# one (a null list, a numeric order number): a Python validator on every list field was a
# third of the validation time of a page of orders. left_to_right: no strict-then-lax
# second pass over a big list.
if TYPE_CHECKING:  # what the fields hold once validated
    ListOrNull = list[T]
    TolerantStr = str
else:
    ListOrNull = Annotated[
        list[T] | Annotated[None, AfterValidator(_empty_list)],
        Field(union_mode="left_to_right"),
    ]
    TolerantStr = Annotated[
        str | Annotated[int, Field(strict=True), AfterValidator(str)],
        Field(union_mode="left_to_right"),
    ]
UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


class ApiModel(BaseModel):
    """Base for API shapes: camelCase aliases, unknown fields ignored. Each model's
    validator is built when first used, not on import: a quiet ``run`` uses none of them
    (see the client's ``_empty_page``)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,  # works on every pydantic 2.x (validate_by_name is 2.11+)
        extra="ignore",
        defer_build=True,
    )


class Money(ApiModel):
    value: Decimal
    currency: str


class Address(ApiModel):
    first_name: str | None = None
    last_name: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    state: str | None = None
    country_code: str | None = None
    postal_code: str | None = None
    phone: str | None = None


class VariantOption(ApiModel):
    option_name: str | None = None
    value: str | None = None


class LineItem(ApiModel):
    id: str
    variant_id: str | None = None
    sku: str | None = None
    product_name: str | None = None
    quantity: Annotated[int, Field(ge=-MAX_STOCK, le=MAX_STOCK)]
    unit_price_paid: Money | None = None
    variant_options: ListOrNull[VariantOption] = []
    line_item_type: Annotated[str, AfterValidator(_known_line_item_type)]


class ShippingLine(ApiModel):
    method: str | None = None


class Fulfillment(ApiModel):
    """A shipment already recorded on an order."""

    ship_date: UtcDatetime | None = None
    carrier_name: str | None = None
    service: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None


class Order(ApiModel):
    id: str
    order_number: TolerantStr
    created_on: UtcDatetime
    modified_on: UtcDatetime
    customer_email: str | None = None
    billing_address: Address | None = None
    shipping_address: Address | None = None
    fulfillment_status: str
    payment_state: str | None = None
    testmode: bool = False
    line_items: ListOrNull[LineItem] = []
    shipping_lines: ListOrNull[ShippingLine] = []
    fulfillments: ListOrNull[Fulfillment] = []
    subtotal: Money | None = None
    shipping_total: Money | None = None
    discount_total: Money | None = None
    tax_total: Money | None = None
    grand_total: Money | None = None
    fulfilled_on: UtcDatetime | None = None


class InventoryItem(ApiModel):
    variant_id: str
    sku: str | None = None
    descriptor: str | None = None
    is_unlimited: bool = False
    quantity: Annotated[int, Field(ge=-MAX_STOCK, le=MAX_STOCK)] = 0


class Pagination(ApiModel):
    has_next_page: bool = False
    next_page_cursor: str | None = None


class OrdersPayload(ApiModel):
    """A whole ``GET /1.0/commerce/orders`` answer, for validating a page in one pass."""

    result: ListOrNull[Order]
    pagination: Pagination | None = None


class InventoryPayload(ApiModel):
    """A whole inventory answer (a page, or the get-by-ids answer without pagination)."""

    inventory: ListOrNull[InventoryItem]
    pagination: Pagination | None = None


def _or_none(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """A field that fails validation becomes None instead of failing its whole record."""
    try:
        return handler(value)
    except ValidationError:
        return None


Lenient = Annotated[T | None, WrapValidator(_or_none)]


class Website(ApiModel):
    """``GET /1.0/authorization/website``: the site an API key opens.

    Documented only by a transcription, so every field is optional and a malformed one is
    None rather than an error: the answer only names the site, nothing depends on it.
    """

    id: Lenient[TolerantStr] = None
    website_title: Lenient[str] = None
    website_url: Lenient[str] = None
    time_zone: Lenient[str] = None
    language: Lenient[str] = None
    created_on: Lenient[UtcDatetime] = None


class ErrorEnvelope(ApiModel):
    """The body of every Squarespace error answer (all fields tolerated missing)."""

    type: str | None = None
    subtype: str | None = None
    message: str | None = None
    details: Any = None
    context_id: str | None = None


class FulfilmentShipment(ApiModel):
    """One shipment to add to an order; checked by :meth:`problems` before sending."""

    ship_date: datetime
    carrier_name: str
    service: str
    tracking_number: str
    tracking_url: str | None = None

    def problems(self) -> list[str]:
        """What Squarespace would refuse about this shipment (empty when it is fine)."""
        found = []
        if self.ship_date.tzinfo is None:
            found.append("shipDate has no time zone (give an aware datetime)")
        for name in ("carrier_name", "service", "tracking_number"):
            value: str = getattr(self, name)
            if not value.strip():
                found.append(f"{to_camel(name)} is empty")
            elif len(value) > MAX_SHIPMENT_FIELD:
                found.append(f"{to_camel(name)} is longer than {MAX_SHIPMENT_FIELD} characters")
        if self.tracking_url is not None and not is_http_url(self.tracking_url):
            found.append(f"trackingUrl is not a valid http(s) URL: {self.tracking_url[:80]!r}")
        return found

    def to_api(self) -> dict[str, Any]:
        """The JSON the fulfilments endpoint expects (trackingUrl left out when None)."""
        body: dict[str, Any] = {
            "shipDate": format_timestamp(self.ship_date),
            "carrierName": self.carrier_name,
            "service": self.service,
            "trackingNumber": self.tracking_number,
        }
        if self.tracking_url is not None:
            body["trackingUrl"] = self.tracking_url
        return body


class StockOperation(ApiModel):
    """Change one variant's stock by (or, for set-finite, to) ``quantity``."""

    variant_id: str
    quantity: int


@dataclass(frozen=True)
class InvalidRecord:
    """A record in a page that failed validation: its id if readable, the error on one line."""

    id: str | None
    error: str


@dataclass
class OrderPage:
    orders: list[Order] = field(default_factory=list)
    invalid: list[InvalidRecord] = field(default_factory=list)
    has_next_page: bool = False
    next_page_cursor: str | None = None
    # Squarespace's time when it answered (the response's Date header), if it said.
    server_time: datetime | None = None


@dataclass
class InventoryPage:
    items: list[InventoryItem] = field(default_factory=list)
    invalid: list[InvalidRecord] = field(default_factory=list)
    has_next_page: bool = False
    next_page_cursor: str | None = None


def format_timestamp(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC, the form the API documents."""
    if value.tzinfo is None:
        raise ValueError(f"datetime {value.isoformat()} has no time zone; give an aware datetime")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def is_http_url(value: str) -> bool:
    """True for an absolute http(s) URL with a host and no whitespace."""
    if not value or any(ch.isspace() for ch in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
