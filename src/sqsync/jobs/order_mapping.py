"""What one Squarespace order becomes in the warehouse: a skip (and why) or an order record.

Pure functions of (order, connection settings, the SKUs the warehouse knows): no I/O, no
clock, no store, so every rule here is testable with plain values (and hypothesis).

    settings = MappingSettings.from_connection(connection)
    decision = decide(order, settings, known_skus)   # Skip | OrderRecord

Rules for an order not yet imported (:func:`decide`), checked in this order:

* not PENDING in Squarespace -> skip ``not_pending`` (nothing left to ship);
* ``testmode`` -> skip ``testmode`` unless the connection imports test orders;
* ``paymentState`` not in the connection's ``payment_states`` -> skip ``payment_state``
  (a null paymentState, from orders older than the field, is accepted);
* no PHYSICAL_PRODUCT line -> skip ``no_physical_lines``;
* shipping country outside the connection's shipping zone -> skip ``shipping_zone``
  (no zone: every country).

Otherwise the order maps to an :class:`OrderRecord`: order number = order_prefix +
orderNumber, physical lines only (digital, service and gift-card lines are dropped), each
SKU mapped through ``sku_aliases``. A warehouse SKU the client does not know adds the
problem ``unknown_sku:<SKU>``, and an order with problems is HOLDING instead of NEW.

An order already imported is re-mapped with :func:`map_order` when it changes; there the
skip conditions become problems instead (``payment_state:<STATE>``,
``shipping_zone:<CC>``, ``no_physical_lines``), so a PENDING order refunded after import is
held rather than shipped, and is released when the condition clears.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqsync.jobs.skus import channel_sku, warehouse_sku
from sqsync.squarespace.models import Address, LineItem, LineItemType, Money, Order

if TYPE_CHECKING:
    from sqsync.config import Connection

PENDING = "PENDING"
FULFILLED = "FULFILLED"
CANCELED = "CANCELED"

UNKNOWN_SKU = "unknown_sku:"
PAYMENT_STATE = "payment_state:"
SHIPPING_ZONE = "shipping_zone:"
NO_PHYSICAL_LINES = "no_physical_lines"
FULFILLED_IN_SQUARESPACE = "fulfilled_in_squarespace"
CANCELLED_IN_SQUARESPACE = "cancelled_in_squarespace"
# Problems that describe the order's current Squarespace data; they are recomputed on
# every update. Any other problem (fulfilled_in_squarespace, ...) stays until a person acts.
_DERIVED_PREFIXES = (UNKNOWN_SKU, PAYMENT_STATE, SHIPPING_ZONE, NO_PHYSICAL_LINES)


class SkipReason(StrEnum):
    """Why an order that is not yet imported is left out (the JSON count keys)."""

    TESTMODE = "testmode"
    PAYMENT_STATE = "payment_state"
    NO_PHYSICAL_LINES = "no_physical_lines"
    SHIPPING_ZONE = "shipping_zone"
    NOT_PENDING = "not_pending"


class MappingError(ValueError):
    """The order cannot become a warehouse order (the message says why, on one line)."""


@dataclass(frozen=True)
class MappingSettings:
    """The parts of a connection that decide how its orders map."""

    order_prefix: str = ""
    sku_aliases: Mapping[str, str] = field(default_factory=dict)
    payment_states: frozenset[str] = frozenset({"PAID", "AUTHORIZED", "NOT_CHARGED"})
    import_test_orders: bool = False
    shipping_countries: frozenset[str] | None = None

    @classmethod
    def from_connection(cls, connection: Connection) -> MappingSettings:
        return cls(
            order_prefix=connection.order_prefix,
            sku_aliases=dict(connection.sku_aliases),
            payment_states=frozenset(connection.payment_states),
            import_test_orders=connection.import_test_orders,
            shipping_countries=connection.shipping_countries,
        )


@dataclass(frozen=True)
class Skip:
    reason: SkipReason
    detail: str


@dataclass(frozen=True)
class ItemRecord:
    """One physical line: ``sku`` is the warehouse SKU, ``channel_sku`` Squarespace's."""

    line_id: str
    sku: str
    channel_sku: str | None
    variant_id: str | None
    name: str | None
    quantity: int
    unit_price: str | None


@dataclass(frozen=True)
class SquarespaceState:
    """Where the order stands in Squarespace, noted on every stored order that changed."""

    fulfillment_status: str
    payment_state: str | None
    modified_on: datetime

    @classmethod
    def of(cls, order: Order) -> SquarespaceState:
        return cls(order.fulfillment_status, order.payment_state, order.modified_on)


@dataclass(frozen=True)
class OrderRecord:
    """A warehouse order built from a Squarespace order; money is decimal text."""

    squarespace_id: str
    order_number: str
    problems: tuple[str, ...]
    items: tuple[ItemRecord, ...]
    customer_email: str | None
    shipping_address: Address
    billing_address: Address
    currency: str | None
    subtotal: str | None
    shipping_total: str | None
    discount_total: str | None
    tax_total: str | None
    total: str | None
    shipping_method: str | None
    squarespace: SquarespaceState
    created_on: datetime

    @property
    def status(self) -> str:
        return "HOLDING" if self.problems else "NEW"


def decide(
    order: Order, settings: MappingSettings, known_skus: Collection[str]
) -> Skip | OrderRecord:
    """The decision for an order not yet imported. Raises :class:`MappingError`."""
    skip = skip_reason(order, settings)
    if skip is not None:
        return skip
    return map_order(order, settings, known_skus)


def skip_reason(order: Order, settings: MappingSettings) -> Skip | None:
    """Why a not-yet-imported order is left out, or None if it should be imported."""
    if order.fulfillment_status != PENDING:
        return Skip(SkipReason.NOT_PENDING, order.fulfillment_status)
    if order.testmode and not settings.import_test_orders:
        return Skip(SkipReason.TESTMODE, "placed in test mode")
    if not payment_accepted(order, settings):
        return Skip(SkipReason.PAYMENT_STATE, str(order.payment_state))
    if not any(is_physical(line) for line in order.line_items):
        return Skip(SkipReason.NO_PHYSICAL_LINES, "nothing to ship")
    country = shipping_country(order)
    if not ships_to(country, settings):
        return Skip(SkipReason.SHIPPING_ZONE, country or "no shipping country")
    return None


def map_order(order: Order, settings: MappingSettings, known_skus: Collection[str]) -> OrderRecord:
    """The warehouse record of ``order``, its problems from the current data.

    Raises :class:`MappingError` when a physical line cannot be shipped as given (no SKU
    and no alias for its variant, a quantity below 1) or the order has no number.
    """
    if not order.order_number.strip():
        raise MappingError("the order has no orderNumber")
    items = tuple(map_line(line, settings) for line in order.line_items if is_physical(line))
    problems: list[str] = []
    if not items:
        problems.append(NO_PHYSICAL_LINES)
    for sku in dict.fromkeys(item.sku for item in items):
        if sku not in known_skus:
            problems.append(UNKNOWN_SKU + sku)
    if not payment_accepted(order, settings):
        problems.append(PAYMENT_STATE + str(order.payment_state))
    country = shipping_country(order)
    if items and not ships_to(country, settings):
        problems.append(SHIPPING_ZONE + (country or "none"))
    currency = next(
        (m.currency for m in (order.grand_total, order.subtotal) if m is not None), None
    )
    return OrderRecord(
        squarespace_id=order.id,
        order_number=order_number(order, settings),
        problems=tuple(problems),
        items=items,
        customer_email=order.customer_email,
        shipping_address=order.shipping_address or Address(),
        billing_address=order.billing_address or Address(),
        currency=currency,
        subtotal=money_text(order.subtotal),
        shipping_total=money_text(order.shipping_total),
        discount_total=money_text(order.discount_total),
        tax_total=money_text(order.tax_total),
        total=money_text(order.grand_total),
        shipping_method=order.shipping_lines[0].method if order.shipping_lines else None,
        squarespace=SquarespaceState.of(order),
        created_on=order.created_on,
    )


def map_line(line: LineItem, settings: MappingSettings) -> ItemRecord:
    """A physical line as a warehouse item (SKU aliased; a SKU-less line by its variant)."""
    sku = warehouse_sku(line.sku, line.variant_id, settings.sku_aliases)
    if sku is None:
        raise MappingError(
            f"line {line.id} ({line.product_name or 'unnamed'}) has no SKU; give the variant "
            f"{line.variant_id or '(none)'} a warehouse SKU in sku_aliases"
        )
    if line.quantity < 1:
        raise MappingError(f"line {line.id} ({sku}) has quantity {line.quantity}")
    return ItemRecord(
        line_id=line.id,
        sku=sku,
        channel_sku=channel_sku(line.sku),
        variant_id=line.variant_id,
        name=line_name(line),
        quantity=line.quantity,
        unit_price=money_text(line.unit_price_paid),
    )


def merge_problems(current: Collection[str], derived: Collection[str]) -> tuple[str, ...]:
    """An updated order's problems: the kept ones (set by a person or a state change) plus
    those derived afresh from the new Squarespace data."""
    kept = [p for p in current if not p.startswith(_DERIVED_PREFIXES)]
    return tuple(dict.fromkeys([*kept, *derived]))


def only_unknown_skus(problems: Collection[str]) -> bool:
    """True when an order is held only because the warehouse lacks some of its SKUs."""
    return bool(problems) and all(p.startswith(UNKNOWN_SKU) for p in problems)


def order_number(order: Order, settings: MappingSettings) -> str:
    return settings.order_prefix + order.order_number.strip()


def is_physical(line: LineItem) -> bool:
    return line.line_item_type == LineItemType.PHYSICAL_PRODUCT


def payment_accepted(order: Order, settings: MappingSettings) -> bool:
    return order.payment_state is None or order.payment_state in settings.payment_states


def shipping_country(order: Order) -> str | None:
    address = order.shipping_address
    code = address.country_code if address is not None else None
    return code.strip().upper() if code and code.strip() else None


def ships_to(country: str | None, settings: MappingSettings) -> bool:
    zone = settings.shipping_countries
    return zone is None or (country is not None and country in zone)


def line_name(line: LineItem) -> str | None:
    """``Classic Tee (Red, S)``: the product name and its chosen options."""
    values = [o.value for o in line.variant_options if o.value]
    if not values:
        return line.product_name
    return f"{line.product_name or 'Item'} ({', '.join(values)})"


def money_text(money: Money | None) -> str | None:
    """A Money value as plain decimal text (never exponent form, never a float)."""
    if money is None:
        return None
    return format(money.value, "f")
