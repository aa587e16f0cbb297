"""Property tests (hypothesis) for the two pure planners every job relies on.

* :mod:`sqsync.jobs.order_mapping`: for any order and connection settings, a skip happens
  exactly when a skip condition holds (and names the first one), otherwise the record has
  the prefixed number, only the physical lines, aliased SKUs, the same quantities, and a
  problem for every unknown SKU.
* :mod:`sqsync.jobs.stock_plan`: for any inventory and warehouse levels, batches carry at
  most 50 operations, name a variant at most once, and applying them moves every matched
  tracked variant exactly to its target while leaving everything else alone.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqsync.config import PAYMENT_STATES
from sqsync.jobs.order_mapping import (
    NO_PHYSICAL_LINES,
    PAYMENT_STATE,
    SHIPPING_ZONE,
    UNKNOWN_SKU,
    MappingError,
    MappingSettings,
    OrderRecord,
    Skip,
    SkipReason,
    decide,
)
from sqsync.jobs.stock_plan import MAX_OPERATIONS, available, make_batches, plan_stock
from sqsync.squarespace.models import InventoryItem, Order

PROPERTIES = settings(max_examples=100, deadline=None)

SKUS = ("RED-S", "RED-M", "BLUE-S", "BLUE-M", "MUG")
VARIANTS = tuple(f"var-{n}" for n in range(6))
COUNTRIES = ("GB", "FR", "US", "DE")
LINE_TYPES = ("PHYSICAL_PRODUCT", "PHYSICAL_PRODUCT", "DIGITAL", "SERVICE", "GIFT_CARD")
WHEN = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)

# ------------------------------------------------------------------------ order mapping

lines = st.fixed_dictionaries(
    {
        "variantId": st.sampled_from(VARIANTS),
        "sku": st.sampled_from([*SKUS, *SKUS, *SKUS, None, "", "  "]),
        "quantity": st.sampled_from([1, 1, 2, 3, 7, 20, 0]),
        "lineItemType": st.sampled_from(LINE_TYPES),
        "productName": st.sampled_from(["Classic Tee", "Mug", None]),
    }
)


@st.composite
def orders(draw: st.DrawFn) -> Order:
    items = draw(st.lists(lines, min_size=1, max_size=5))
    country = draw(st.sampled_from((*COUNTRIES, None)))
    data: dict[str, Any] = {
        "id": "order-1",
        "orderNumber": str(draw(st.integers(min_value=1, max_value=99999))),
        "createdOn": WHEN.isoformat(),
        "modifiedOn": WHEN.isoformat(),
        "fulfillmentStatus": draw(st.sampled_from(["PENDING"] * 6 + ["FULFILLED", "CANCELED"])),
        "paymentState": draw(st.sampled_from(["PAID"] * 8 + [*sorted(PAYMENT_STATES), None])),
        "testmode": draw(st.sampled_from([False] * 5 + [True])),
        "shippingAddress": {"countryCode": country} if country else None,
        "lineItems": [{**line, "id": f"line-{n}"} for n, line in enumerate(items)],
    }
    return Order.model_validate(data)


mapping_settings = st.builds(
    MappingSettings,
    order_prefix=st.sampled_from(["", "A-", "SHOP2-"]),
    sku_aliases=st.dictionaries(
        st.sampled_from(SKUS + VARIANTS), st.sampled_from(("WH-1", "WH-2", *SKUS)), max_size=4
    ),
    payment_states=st.just(frozenset({"PAID", "AUTHORIZED", "NOT_CHARGED"}))
    | st.just(frozenset({"PAID"}))
    | st.frozensets(st.sampled_from(sorted(PAYMENT_STATES)), min_size=1),
    import_test_orders=st.booleans(),
    shipping_countries=st.none() | st.frozensets(st.sampled_from(COUNTRIES), min_size=2),
)
known_skus = st.just(frozenset(("WH-1", "WH-2", *SKUS))) | st.frozensets(
    st.sampled_from(("WH-1", "WH-2", *SKUS))
)


def physical(order: Order) -> list[Any]:
    return [line for line in order.line_items if line.line_item_type == "PHYSICAL_PRODUCT"]


def country_of(order: Order) -> str | None:
    address = order.shipping_address
    return address.country_code if address is not None else None


def expected_skip(order: Order, s: MappingSettings) -> SkipReason | None:
    """The skip reasons of the order_mapping docstring, in its order, written out again."""
    if order.fulfillment_status != "PENDING":
        return SkipReason.NOT_PENDING
    if order.testmode and not s.import_test_orders:
        return SkipReason.TESTMODE
    if order.payment_state is not None and order.payment_state not in s.payment_states:
        return SkipReason.PAYMENT_STATE
    if not physical(order):
        return SkipReason.NO_PHYSICAL_LINES
    if s.shipping_countries is not None and country_of(order) not in s.shipping_countries:
        return SkipReason.SHIPPING_ZONE
    return None


def warehouse_sku(line: Any, s: MappingSettings) -> str | None:
    sku = line.sku.strip() if line.sku and line.sku.strip() else None
    if sku is not None:
        return s.sku_aliases.get(sku, sku)
    return s.sku_aliases.get(line.variant_id) if line.variant_id else None


def unmappable(order: Order, s: MappingSettings) -> bool:
    # A line without a SKU is held (no_sku:<variant>), not unmappable.
    return any(line.quantity < 1 for line in physical(order))


@PROPERTIES
@given(orders(), mapping_settings, known_skus)
def test_skip_exactly_when_a_skip_condition_holds(
    order: Order, s: MappingSettings, known: frozenset[str]
) -> None:
    reason = expected_skip(order, s)
    try:
        decision = decide(order, s, known)
    except MappingError:
        assert reason is None and unmappable(order, s)
        return
    if reason is not None:
        assert isinstance(decision, Skip)
        assert decision.reason is reason
    else:
        assert isinstance(decision, OrderRecord)
        assert not unmappable(order, s)


@PROPERTIES
@given(orders(), mapping_settings, known_skus)
def test_a_mapped_order_keeps_its_physical_lines_and_quantities(
    order: Order, s: MappingSettings, known: frozenset[str]
) -> None:
    try:
        decision = decide(order, s, known)
    except MappingError:
        return
    if isinstance(decision, Skip):
        return
    lines_in = physical(order)
    assert decision.order_number == s.order_prefix + order.order_number
    # Non-physical lines dropped; the physical ones kept in order, with their quantities.
    assert [item.line_id for item in decision.items] == [line.id for line in lines_in]
    assert [item.quantity for item in decision.items] == [line.quantity for line in lines_in]
    assert sum(item.quantity for item in decision.items) == sum(ln.quantity for ln in lines_in)
    # Aliases applied: the warehouse SKU is the alias of the Squarespace SKU (or variant).
    assert [item.sku for item in decision.items] == [warehouse_sku(ln, s) for ln in lines_in]
    unknown = {item.sku for item in decision.items if item.sku is not None} - known
    assert {p for p in decision.problems if p.startswith(UNKNOWN_SKU)} == {
        UNKNOWN_SKU + sku for sku in unknown
    }
    skuless = [item for item in decision.items if item.sku is None]
    assert {p for p in decision.problems if p.startswith("no_sku:")} == {
        f"no_sku:{item.variant_id or f'line-{item.line_id}'}" for item in skuless
    }
    # An order that passed every skip check has no other derived problem.
    assert not [p for p in decision.problems if p.startswith((PAYMENT_STATE, SHIPPING_ZONE))]
    assert NO_PHYSICAL_LINES not in decision.problems
    assert decision.status == ("HOLDING" if unknown or skuless else "NEW")


# ------------------------------------------------------------------------ stock batching

inventory_items = st.builds(
    InventoryItem,
    variant_id=st.sampled_from([f"v{n:03d}" for n in range(150)]),
    sku=st.one_of(st.sampled_from([f"S{n}" for n in range(40)]), st.sampled_from([None, ""])),
    is_unlimited=st.sampled_from([False, False, False, True]),
    quantity=st.integers(min_value=0, max_value=500),
)
levels = st.dictionaries(
    st.sampled_from([f"S{n}" for n in range(40)] + ["WH-A"]),
    st.tuples(st.integers(0, 600), st.integers(0, 600)),
)
aliases = st.dictionaries(st.sampled_from([f"S{n}" for n in range(40)]), st.just("WH-A"))


@PROPERTIES
@given(
    st.lists(inventory_items, max_size=220),
    levels,
    aliases,
    st.integers(0, 20),
    st.integers(1, MAX_OPERATIONS),
)
def test_batches_bring_every_matched_variant_to_its_target(
    items: list[InventoryItem],
    stock: dict[str, tuple[int, int]],
    alias: dict[str, str],
    buffer: int,
    size: int,
) -> None:
    plan = plan_stock(items, stock, aliases=alias, buffer=buffer)
    batches = make_batches(plan.changes, size)
    latest = {item.variant_id: item for item in items}  # a later reading wins
    quantities = {vid: item.quantity for vid, item in latest.items()}
    for batch in batches:
        assert 0 < batch.size <= min(size, MAX_OPERATIONS)
        assert len(set(batch.variant_ids)) == len(batch.variant_ids)
        assert all(qty > 0 for _, qty in batch.increments + batch.decrements)
        for vid, qty in batch.increments:
            quantities[vid] += qty
        for vid, qty in batch.decrements:
            quantities[vid] -= qty
    for vid, item in latest.items():
        sku = alias.get(item.sku, item.sku) if item.sku else None
        if item.is_unlimited or sku not in stock:
            assert quantities[vid] == item.quantity  # never touched
        else:
            on_hand, allocated = stock[sku]
            assert quantities[vid] == available(on_hand, allocated, buffer)
    # Each variant planned (and so sent) at most once across the whole run.
    sent = Counter(vid for batch in batches for vid in batch.variant_ids)
    assert all(count == 1 for count in sent.values())
    assert sum(sent.values()) == len(plan.changes)


@PROPERTIES
@given(st.lists(inventory_items, max_size=220), levels, st.integers(0, 20))
def test_the_plan_accounts_for_every_variant_once(
    items: list[InventoryItem], stock: dict[str, tuple[int, int]], buffer: int
) -> None:
    plan = plan_stock(items, stock, buffer=buffer)
    distinct = {item.variant_id for item in items}
    accounted = len(plan.changes) + plan.unchanged + plan.unlimited + len(plan.unmatched)
    assert accounted == len(distinct)
    assert all(change.delta == change.target - change.current != 0 for change in plan.changes)
    assert all(change.target >= 0 for change in plan.changes)


@pytest.mark.parametrize("size", [0, MAX_OPERATIONS + 1])
def test_a_batch_size_outside_the_api_limit_is_refused(size: int) -> None:
    with pytest.raises(ValueError):
        make_batches([], size)
