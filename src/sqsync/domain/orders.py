"""A warehouse order as plain values: its records, statuses and problem codes.

import-orders builds these records from Squarespace's orders (:mod:`sqsync.jobs.order_mapping`)
and the store writes them (:mod:`sqsync.store.order_writes`); neither needs the other, or
Squarespace's API models, to agree on what an order is.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

# Warehouse statuses.
NEW = "NEW"
HOLDING = "HOLDING"
DESPATCHED = "DESPATCHED"
CANCELLED = "CANCELLED"
OPEN_STATUSES = (NEW, HOLDING)

# Squarespace's fulfillmentStatus values.
PENDING = "PENDING"
FULFILLED = "FULFILLED"
CANCELED = "CANCELED"

# Problem codes: why an order is HOLDING.
UNKNOWN_SKU = "unknown_sku:"
NO_SKU = "no_sku:"  # a physical line with no SKU and no alias for its variant: no_sku:<variantId>
PAYMENT_STATE = "payment_state:"
SHIPPING_ZONE = "shipping_zone:"
NO_PHYSICAL_LINES = "no_physical_lines"
FULFILLED_IN_SQUARESPACE = "fulfilled_in_squarespace"
CANCELLED_IN_SQUARESPACE = "cancelled_in_squarespace"
# Problems that describe the order's current Squarespace data; they are recomputed on
# every update. Any other problem (fulfilled_in_squarespace, ...) stays until a person acts.
DERIVED_PREFIXES = (UNKNOWN_SKU, NO_SKU, PAYMENT_STATE, SHIPPING_ZONE, NO_PHYSICAL_LINES)

# Problems of an open order that the warehouse will not ship: it stays visible (HOLDING)
# for a person to close, but its units are free, or the shop is under-advertised for good.
WILL_NOT_SHIP = (
    FULFILLED_IN_SQUARESPACE,
    PAYMENT_STATE + "REFUNDED",
    PAYMENT_STATE + "REFUND_PENDING",
)

ADDRESS_FIELDS = (
    "first_name",
    "last_name",
    "address1",
    "address2",
    "city",
    "state",
    "postal_code",
    "country_code",
    "phone",
)


@dataclass(frozen=True)
class AddressRecord:
    """A postal address as stored (every field optional, as Squarespace sends them)."""

    first_name: str | None = None
    last_name: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country_code: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class ItemRecord:
    """One physical line: ``sku`` is the warehouse SKU, ``channel_sku`` Squarespace's."""

    line_id: str
    sku: str | None  # None: no SKU and no alias yet (the order is HOLDING no_sku:<variant>)
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


@dataclass(frozen=True)
class OrderRecord:
    """A warehouse order built from a Squarespace order; money is decimal text."""

    squarespace_id: str
    order_number: str
    problems: tuple[str, ...]
    items: tuple[ItemRecord, ...]
    customer_email: str | None
    shipping_address: AddressRecord
    billing_address: AddressRecord
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
        return HOLDING if self.problems else NEW


def merge_problems(current: Collection[str], derived: Collection[str]) -> tuple[str, ...]:
    """An updated order's problems: the kept ones (set by a person or a state change) plus
    those derived afresh from the new Squarespace data."""
    kept = [p for p in current if not p.startswith(DERIVED_PREFIXES)]
    return tuple(dict.fromkeys([*kept, *derived]))


def only_unknown_skus(problems: Collection[str]) -> bool:
    """True when an order is held only because the warehouse lacks some of its SKUs."""
    return bool(problems) and all(p.startswith(UNKNOWN_SKU) for p in problems)


def no_sku_problem(variant_id: str | None, line_id: str | None) -> str:
    return NO_SKU + (variant_id or f"line-{line_id or '?'}")
