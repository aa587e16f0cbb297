"""A warehouse order as plain values: its records, statuses and problem codes.

import-orders builds these records from Squarespace's orders (:mod:`sqsync.jobs.order_mapping`)
and the store writes them (:mod:`sqsync.store.order_writes`); neither needs the other, or
Squarespace's API models, to agree on what an order is.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

# Warehouse statuses.
NEW = "NEW"
HOLDING = "HOLDING"
DESPATCHED = "DESPATCHED"
CANCELLED = "CANCELLED"
OPEN_STATUSES = (NEW, HOLDING)
# Every status an order can have (the orders table's CHECK constraint lists the same).
# `orders close` ends a HOLDING order the warehouse will not ship as CANCELLED, not as a
# status of its own: CANCELLED already allocates nothing, is never pushed and is never
# despatched, and a new status would mean rebuilding the orders table (SQLite cannot alter
# a CHECK), which order_items and shipments reference.
STATUSES = (NEW, HOLDING, DESPATCHED, CANCELLED)

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
# The connection has a courier_map without a default and it does not name the order's
# shipping method: unmapped_shipping:<method> ("none" when the order has none).
UNMAPPED_SHIPPING = "unmapped_shipping:"
# `sqsync orders hold`: a person holds the order; only `sqsync orders release` frees it.
MANUAL_HOLD = "manual_hold"
# Its despatch was voided while the order stands: a person says whether to ship it again
# (`orders release`) or not (`orders close`); never back to NEW by itself, where a WMS
# reading the change feed would pick and ship it a second time.
DESPATCH_VOIDED = "despatch_voided"
# Problems that describe the order's current Squarespace data (and the config); they are
# recomputed on every update and re-evaluation. Any other problem (fulfilled_in_squarespace,
# manual_hold, ...) stays until a person acts.
DERIVED_PREFIXES = (
    UNKNOWN_SKU,
    NO_SKU,
    PAYMENT_STATE,
    SHIPPING_ZONE,
    NO_PHYSICAL_LINES,
    UNMAPPED_SHIPPING,
)

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
class Courier:
    """The carrier and service a shipping method maps to (``courier_map``)."""

    carrier: str
    service: str


# The records an import builds per order are named tuples, not frozen dataclasses: as
# immutable, and a third of the cost to make (a frozen dataclass sets each field through
# object.__setattr__), which an import of 10,000 orders pays about 60,000 times.


class AddressRecord(NamedTuple):
    """A postal address as stored (every field optional, as Squarespace sends them), its
    fields in :data:`ADDRESS_FIELDS` order."""

    first_name: str | None = None
    last_name: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country_code: str | None = None
    phone: str | None = None


class ItemRecord(NamedTuple):
    """One physical line: ``sku`` is the warehouse SKU, ``channel_sku`` Squarespace's."""

    line_id: str
    sku: str | None  # None: no SKU and no alias yet (the order is HOLDING no_sku:<variant>)
    channel_sku: str | None
    variant_id: str | None
    name: str | None
    quantity: int
    unit_price: str | None


class SquarespaceState(NamedTuple):
    """Where the order stands in Squarespace, noted on every stored order that changed."""

    fulfillment_status: str
    payment_state: str | None
    modified_on: datetime


class OrderRecord(NamedTuple):
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
    courier: Courier | None = None  # from courier_map; None without a map (or unmapped)

    @property
    def status(self) -> str:
        return HOLDING if self.problems else NEW


def merge_problems(current: Collection[str], derived: Collection[str]) -> tuple[str, ...]:
    """An updated order's problems: the kept ones (set by a person or a state change) plus
    those derived afresh from the new Squarespace data."""
    kept = [p for p in current if not is_derived(p)]
    return tuple(dict.fromkeys([*kept, *derived]))


def is_derived(problem: str) -> bool:
    """True for a problem the order's data recomputes (it clears when the cause does)."""
    return problem.startswith(DERIVED_PREFIXES)


def only_unknown_skus(problems: Collection[str]) -> bool:
    """True when an order is held only because the warehouse lacks some of its SKUs."""
    return bool(problems) and all(p.startswith(UNKNOWN_SKU) for p in problems)


def no_sku_problem(variant_id: str | None, line_id: str | None) -> str:
    return NO_SKU + (variant_id or f"line-{line_id or '?'}")
