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
problem ``unknown_sku:<SKU>``, a line with no SKU ``no_sku:<variantId>``, and an order
with problems is HOLDING instead of NEW. With a ``courier_map`` the order's shipping method
(exact name) gives its carrier and service, else the map's ``default``; a map without a
default that does not name the method adds ``unmapped_shipping:<method>``. Without a map
orders have no carrier or service and no such problem.

An order already imported is re-mapped with :func:`map_order` when it changes; there the
skip conditions become problems instead (``payment_state:<STATE>``,
``shipping_zone:<CC>``, ``no_physical_lines``), so a PENDING order refunded after import is
held rather than shipped, and is released when the condition clears.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from operator import attrgetter
from typing import TYPE_CHECKING

from sqsync.domain.orders import (
    ADDRESS_FIELDS,
    CANCELED,
    CANCELLED_IN_SQUARESPACE,
    FULFILLED,
    FULFILLED_IN_SQUARESPACE,
    NO_PHYSICAL_LINES,
    PAYMENT_STATE,
    PENDING,
    SHIPPING_ZONE,
    UNKNOWN_SKU,
    UNMAPPED_SHIPPING,
    AddressRecord,
    Courier,
    ItemRecord,
    OrderRecord,
    SquarespaceState,
    merge_problems,
    no_sku_problem,
    only_unknown_skus,
)
from sqsync.domain.skus import channel_sku, warehouse_sku
from sqsync.squarespace.models import Address, LineItem, LineItemType, Money, Order

# Re-exported: the mapping's callers name its outcomes from here.
__all__ = [
    "CANCELED",
    "CANCELLED_IN_SQUARESPACE",
    "FULFILLED",
    "FULFILLED_IN_SQUARESPACE",
    "Courier",
    "ItemRecord",
    "MappingError",
    "MappingSettings",
    "OrderRecord",
    "Skip",
    "SkipReason",
    "SquarespaceState",
    "decide",
    "map_order",
    "merge_problems",
    "only_unknown_skus",
    "order_number",
    "squarespace_state",
]

if TYPE_CHECKING:
    from sqsync.config import Connection


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
    # courier_map: carrier and service by exact shipping method name, and its default.
    couriers: Mapping[str, Courier] = field(default_factory=dict)
    default_courier: Courier | None = None

    @property
    def maps_couriers(self) -> bool:
        return bool(self.couriers) or self.default_courier is not None

    def fingerprint(self) -> str:
        """A stable text of the settings that decide an order's SKUs, problems and courier."""
        zone = sorted(self.shipping_countries) if self.shipping_countries is not None else None
        parts: list[object] = [sorted(self.sku_aliases.items()), sorted(self.payment_states), zone]
        if self.maps_couriers:
            # Only with a map: a store upgraded without one keeps its fingerprint, so its
            # NEW orders are not all re-evaluated for nothing.
            default = self.default_courier
            parts.append(
                [
                    sorted((m, c.carrier, c.service) for m, c in self.couriers.items()),
                    [default.carrier, default.service] if default is not None else None,
                ]
            )
        return json.dumps(parts, separators=(",", ":"))

    def courier_for(self, method: str | None) -> Courier | None:
        """The carrier and service for a shipping method: its entry, else the default."""
        name = method.strip() if method else None
        found = self.couriers.get(name) if name else None
        return found or self.default_courier

    @classmethod
    def from_connection(cls, connection: Connection) -> MappingSettings:
        couriers, default = connection.couriers()
        return cls(
            order_prefix=connection.order_prefix,
            sku_aliases=dict(connection.sku_aliases),
            payment_states=frozenset(connection.payment_states),
            import_test_orders=connection.import_test_orders,
            shipping_countries=connection.shipping_countries,
            couriers=couriers,
            default_courier=default,
        )


@dataclass(frozen=True)
class Skip:
    reason: SkipReason
    detail: str


def squarespace_state(order: Order) -> SquarespaceState:
    return SquarespaceState(order.fulfillment_status, order.payment_state, order.modified_on)


_address_fields = attrgetter(*ADDRESS_FIELDS)


def address_record(address: Address | None) -> AddressRecord:
    if address is None:
        return AddressRecord()
    return AddressRecord(*_address_fields(address))


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

    Raises :class:`MappingError` when a physical line has a quantity below 1 or the order
    has no number. A line with no SKU (and no alias for its variant) is kept, and the
    order is held with ``no_sku:<variantId>``.
    """
    if not order.order_number.strip():
        raise MappingError("the order has no orderNumber")
    items = tuple(map_line(line, settings) for line in order.line_items if is_physical(line))
    method = order.shipping_lines[0].method if order.shipping_lines else None
    problems = derived_problems(
        items,
        order.payment_state,
        shipping_country(order),
        settings,
        known_skus,
        shipping_method=method,
    )
    currency = next(
        (m.currency for m in (order.grand_total, order.subtotal) if m is not None), None
    )
    return OrderRecord(
        squarespace_id=order.id,
        order_number=order_number(order, settings),
        problems=tuple(problems),
        items=items,
        customer_email=order.customer_email,
        shipping_address=address_record(order.shipping_address),
        billing_address=address_record(order.billing_address),
        currency=currency,
        subtotal=money_text(order.subtotal),
        shipping_total=money_text(order.shipping_total),
        discount_total=money_text(order.discount_total),
        tax_total=money_text(order.tax_total),
        total=money_text(order.grand_total),
        shipping_method=method,
        squarespace=squarespace_state(order),
        created_on=order.created_on,
        courier=settings.courier_for(method),
    )


def derived_problems(
    items: Collection[ItemRecord],
    payment_state: str | None,
    country: str | None,
    settings: MappingSettings,
    known_skus: Collection[str],
    *,
    shipping_method: str | None = None,
) -> list[str]:
    """The problems an open order's own data gives it (recomputed on every change and
    after a config change): lines without a SKU, SKUs the warehouse does not know, a
    payment state or a country the connection does not take, nothing to ship, a shipping
    method the courier_map does not cover."""
    problems: list[str] = []
    if not items:
        problems.append(NO_PHYSICAL_LINES)
    for item in items:
        if item.sku is None:
            problems.append(no_sku_problem(item.variant_id, item.line_id))
    for sku in dict.fromkeys(item.sku for item in items if item.sku is not None):
        if sku not in known_skus:
            problems.append(UNKNOWN_SKU + sku)
    if payment_state is not None and payment_state not in settings.payment_states:
        problems.append(PAYMENT_STATE + payment_state)
    if items and not ships_to(country, settings):
        problems.append(SHIPPING_ZONE + (country or "none"))
    if settings.maps_couriers and settings.courier_for(shipping_method) is None:
        problems.append(UNMAPPED_SHIPPING + ((shipping_method or "").strip() or "none"))
    return list(dict.fromkeys(problems))


def map_line(line: LineItem, settings: MappingSettings) -> ItemRecord:
    """A physical line as a warehouse item (SKU aliased; a SKU-less line by its variant).

    A line with no SKU and no alias for its variant keeps ``sku`` None: its order is held
    with ``no_sku:<variantId>`` until ``sku_aliases`` names it."""
    sku = warehouse_sku(line.sku, line.variant_id, settings.sku_aliases)
    if line.quantity < 1:
        raise MappingError(f"line {line.id} ({sku or 'no SKU'}) has quantity {line.quantity}")
    return ItemRecord(
        line_id=line.id,
        sku=sku,
        channel_sku=channel_sku(line.sku),
        variant_id=line.variant_id,
        name=line_name(line),
        quantity=line.quantity,
        unit_price=money_text(line.unit_price_paid),
    )


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
