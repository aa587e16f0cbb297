"""The pure stock planner: targets, what is left alone, and batches Squarespace accepts."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqsync.jobs.stock_plan import MAX_OPERATIONS, Change, available, make_batches, plan_stock
from sqsync.squarespace import InventoryItem


def item(variant_id: str, sku: str | None, quantity: int, unlimited: bool = False) -> InventoryItem:
    return InventoryItem(variant_id=variant_id, sku=sku, is_unlimited=unlimited, quantity=quantity)


@pytest.mark.parametrize(
    ("on_hand", "allocated", "buffer", "expected"),
    [(10, 0, 0, 10), (10, 3, 0, 7), (10, 3, 2, 5), (10, 9, 2, 0), (0, 4, 0, 0), (5, 5, 0, 0)],
)
def test_available_is_on_hand_less_allocated_less_buffer_floored_at_zero(
    on_hand, allocated, buffer, expected
):
    assert available(on_hand, allocated, buffer) == expected


def test_plan_sorts_every_variant_into_one_outcome():
    levels = {"RED": (10, 2), "BLUE": (3, 0), "GREEN": (0, 0)}
    plan = plan_stock(
        [
            item("v1", "RED", 1),  # -> 7 with buffer 1
            item("v2", "sq-blue", 2),  # alias -> BLUE -> 2: unchanged
            item("v3", "RED", 0, unlimited=True),
            item("v4", None, 5),
            item("v5", "  ", 5),  # blank counts as no SKU
            item("v6", "PINK", 5),
            item("v7", "RED", 9),  # duplicate of v1
        ],
        levels,
        aliases={"sq-blue": "BLUE"},
        buffer=1,
    )
    assert plan.changes == [Change("v1", "RED", 1, 7), Change("v7", "RED", 9, 7)]
    assert plan.counts() == {
        "adjusted": 2,
        "unchanged": 1,
        "unlimited": 1,
        "unmatched": 3,
        "duplicate_sku": 1,
        "uncounted": 0,
    }
    assert [u.row() for u in plan.unmatched] == [
        {"variant_id": "v4", "sku": None},
        {"variant_id": "v5", "sku": None},
        {"variant_id": "v6", "sku": "PINK"},
    ]
    assert plan.duplicates == {"RED": ["v1", "v7"]}


def test_sku_less_variants_and_padded_skus_map_as_import_orders_maps_them():
    # import-orders allocates a SKU-less line through a variant-id alias and strips SKUs;
    # the planner must land on the same warehouse SKU, or sold stock is advertised again.
    levels = {"WH-1": (5, 2), "WH-2": (4, 0)}
    plan = plan_stock(
        [item("var-1", None, 9), item("v2", " WH-2 ", 1)], levels, aliases={"var-1": "WH-1"}
    )
    assert plan.changes == [Change("var-1", "WH-1", 9, 3), Change("v2", "WH-2", 1, 4)]
    assert plan.unmatched == []


def test_planner_and_order_mapping_share_one_sku_rule():
    from sqsync.jobs.order_mapping import MappingSettings, map_line
    from sqsync.squarespace import LineItem

    aliases = {"var-1": "WH-1", "SQ-RED": "RED"}
    for sku, variant in [(None, "var-1"), (" SQ-RED ", "v9"), ("BLUE", "v8")]:
        line = LineItem.model_validate(
            {"id": "l", "sku": sku, "variantId": variant, "quantity": 1,
             "lineItemType": "PHYSICAL_PRODUCT"}
        )  # fmt: skip
        settings = MappingSettings(sku_aliases=aliases)
        mapped = map_line(line, settings).sku
        planned = plan_stock([item(variant, sku, 0)], {mapped: (1, 0)}, aliases=aliases)
        assert [c.sku for c in planned.changes] == [mapped]


def test_a_variant_read_twice_is_planned_once_from_its_latest_reading():
    plan = plan_stock([item("v1", "RED", 1), item("v1", "RED", 4)], {"RED": (4, 0)})
    assert plan.changes == [] and plan.unchanged == 1


def test_batches_split_increments_and_decrements():
    (batch,) = make_batches([Change("a", "A", 1, 5), Change("b", "B", 5, 2)])
    assert batch.increments == (("a", 4),) and batch.decrements == (("b", 3),)


def test_a_negative_buffer_is_refused():
    with pytest.raises(ValueError, match="buffer"):
        plan_stock([], {}, buffer=-1)


skus = st.sampled_from(["A", "B", "C", "D", "E", "F", None])
items = st.lists(
    st.builds(
        item,
        variant_id=st.integers(0, 400).map(lambda n: f"v{n}"),
        sku=skus,
        quantity=st.integers(0, 1000),
        unlimited=st.booleans(),
    ),
    max_size=300,
)
levels = st.dictionaries(
    st.sampled_from(["A", "B", "C", "D"]),
    st.tuples(st.integers(0, 1000), st.integers(0, 1000)),
)


@settings(max_examples=150, deadline=None)
@given(items=items, levels=levels, buffer=st.integers(0, 20))
def test_batches_are_valid_requests_that_bring_every_variant_to_its_target(items, levels, buffer):
    plan = plan_stock(items, levels, aliases={"E": "A"}, buffer=buffer)
    batches = plan.batches()

    net: Counter[str] = Counter()
    for batch in batches:
        assert 1 <= batch.size <= MAX_OPERATIONS
        assert len(set(batch.variant_ids)) == batch.size  # each variant once per request
        for vid, qty in batch.increments:
            assert qty > 0
            net[vid] += qty
        for vid, qty in batch.decrements:
            assert qty > 0
            net[vid] -= qty
    latest = {i.variant_id: i for i in items}
    for vid, current in latest.items():
        sku = {"E": "A"}.get(current.sku or "", current.sku)
        if current.is_unlimited or sku not in levels:
            assert net[vid] == 0  # never touched
            continue
        target = max(0, levels[sku][0] - levels[sku][1] - buffer)
        assert current.quantity + net[vid] == target
    # the minimum number of requests
    assert len(batches) == -(-len(plan.changes) // MAX_OPERATIONS)
    counts = plan.counts()
    tracked = sum(1 for i in latest.values() if not i.is_unlimited)
    assert counts["adjusted"] + counts["unchanged"] + counts["unmatched"] == tracked
    assert counts["unlimited"] == len(latest) - tracked
