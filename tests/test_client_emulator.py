"""The client against a real emulator over loopback HTTP: the two halves agree.

Sleeps go to a FakeClock (the emulator's rate limit is off unless a test turns it on), so
retries are exercised without waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from sqsync.emulator import Emulator
from sqsync.squarespace import (
    AuthenticationError,
    Client,
    ConflictError,
    FulfilmentShipment,
    LineItemType,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitedError,
    StockOperation,
)
from sqsync.squarespace.testing import FakeClock

MakeEmulator = Callable[..., Emulator]
PAYMENT_STATES = {"NOT_CHARGED", "AUTHORIZED", "PAID", "REFUNDED", "PENDING", "FAILED",
                  "REFUND_PENDING", "REFUND_FAILED", "PARTIALLY_PAID"}  # fmt: skip


def client_for(emu: Emulator, key: str | None = None, **options: object) -> Client:
    clock = FakeClock()
    options.setdefault("sleep", clock.sleep)
    options.setdefault("monotonic", clock.monotonic)
    return Client(key or emu.api_key, base_url=emu.url + "/", **options)


def shipment(number: str = "AB123456789GB") -> FulfilmentShipment:
    return FulfilmentShipment(
        ship_date=datetime(2024, 3, 13, 16, 0, tzinfo=UTC),
        carrier_name="Royal Mail",
        service="Tracked 48",
        tracking_number=number,
        tracking_url=f"https://track.example/{number}",
    )


def test_lists_every_order_across_pages_and_parses_every_kind(make_emulator: MakeEmulator) -> None:
    emu = make_emulator(orders=130, variants=20, seed=3)
    with client_for(emu) as client:
        pages = list(client.iter_order_pages(payment_states=sorted(PAYMENT_STATES)))
        assert client.request_count == len(pages) == 3
    assert [p.invalid for p in pages] == [[], [], []]
    listed = [order for page in pages for order in page.orders]
    assert sorted(o.id for o in listed) == sorted(emu.orders)
    kinds = {line.line_item_type for order in listed for line in order.line_items}
    assert {LineItemType.PHYSICAL_PRODUCT, LineItemType.DIGITAL} <= kinds
    modified = [order.modified_on for order in listed]
    assert modified == sorted(modified)


def test_filters_on_page_one_are_honoured_on_later_pages(make_emulator: MakeEmulator) -> None:
    emu = make_emulator(orders=200, variants=20, seed=5)
    orders = list(emu.orders.values())
    stamps = sorted(order["modifiedOn"] for order in orders)
    after = datetime.fromisoformat(stamps[20])
    before = datetime.fromisoformat(stamps[180])
    with client_for(emu) as client:
        listed = list(
            client.iter_orders(
                fulfillment_status="PENDING", modified_after=after, modified_before=before
            )
        )
    assert listed
    assert all(o.fulfillment_status == "PENDING" for o in listed)
    assert all(after <= o.modified_on < before for o in listed)


def test_fulfil_then_get_shows_the_shipment(make_emulator: MakeEmulator) -> None:
    emu = make_emulator()
    order_id = emu.add_order(emu.make_order())
    with client_for(emu) as client:
        client.fulfil_order(order_id, [shipment()], send_notification=True)
        order = client.get_order(order_id)
    assert order.fulfillment_status == "FULFILLED"
    assert order.fulfilled_on is not None
    (recorded,) = order.fulfillments
    assert recorded.tracking_number == "AB123456789GB"
    assert recorded.ship_date == datetime(2024, 3, 13, 16, 0, tzinfo=UTC)
    assert emu.stats.fulfilments_applied == 1


def test_fulfil_whose_answer_is_lost_raises_outcome_unknown_and_is_not_resent(
    make_emulator: MakeEmulator,
) -> None:
    emu = make_emulator()
    order_id = emu.add_order(emu.make_order())
    emu.faults.add(method="POST", path="/1.0/commerce/orders/", kind="drop", after_apply=True)
    with client_for(emu) as client, pytest.raises(OutcomeUnknownError):
        client.fulfil_order(order_id, [shipment()], send_notification=True)
    with client_for(emu) as client:
        # The caller re-reads: the shipment is there exactly once.
        assert len(client.get_order(order_id).fulfillments) == 1
    assert emu.stats.fulfilments_applied == 1


def test_fulfil_of_an_unknown_order_is_not_found(make_emulator: MakeEmulator) -> None:
    emu = make_emulator()
    with client_for(emu) as client, pytest.raises(NotFoundError):
        client.fulfil_order("nope", [shipment()], send_notification=False)


def test_inventory_pages_and_get_by_ids(make_emulator: MakeEmulator) -> None:
    emu = make_emulator(variants=120, seed=2)
    with client_for(emu) as client:
        items = list(client.iter_inventory())
        assert client.request_count == 3
        assert sorted(i.variant_id for i in items) == sorted(emu.inventory)
        wanted = sorted(emu.inventory)[:75]
        got = client.get_inventory(wanted)
        assert client.request_count == 5
    assert sorted(i.variant_id for i in got) == wanted
    for item in got:
        assert item.quantity == emu.inventory[item.variant_id]["quantity"]


def test_get_inventory_with_an_unknown_id_is_not_found(make_emulator: MakeEmulator) -> None:
    emu = make_emulator()
    with client_for(emu) as client, pytest.raises(NotFoundError, match="404"):
        client.get_inventory([next(iter(emu.inventory)), "no-such-variant"])


def test_adjust_applies_once_and_a_replayed_key_changes_nothing(
    make_emulator: MakeEmulator,
) -> None:
    emu = make_emulator()
    variant = emu.add_variant("ADJ-1", 10)
    with client_for(emu) as client:
        client.adjust_inventory(
            idempotency_key="adj-1", set_finite=[StockOperation(variant_id=variant, quantity=4)]
        )
        emu.sell(variant, 1)
        client.adjust_inventory(
            idempotency_key="adj-1", set_finite=[StockOperation(variant_id=variant, quantity=4)]
        )
    assert emu.inventory[variant]["quantity"] == 3
    assert emu.stats.adjustments_applied == 1
    assert emu.stats.idempotent_replays == 1


def test_adjust_retried_after_a_lost_answer_applies_once(make_emulator: MakeEmulator) -> None:
    emu = make_emulator()
    variant = emu.add_variant("ADJ-2", 10)
    emu.faults.add(
        method="POST", path="/1.0/commerce/inventory/adjustments", kind="503", after_apply=True
    )
    emu.faults.add(
        method="POST", path="/1.0/commerce/inventory/adjustments", kind="drop", after_apply=True
    )
    with client_for(emu) as client:
        client.adjust_inventory(
            idempotency_key="adj-2", increments=[StockOperation(variant_id=variant, quantity=5)]
        )
        assert client.request_count == 3
    assert emu.inventory[variant]["quantity"] == 15
    assert emu.stats.adjustments_applied == 1


def test_insufficient_stock_is_a_conflict_with_its_subtype(make_emulator: MakeEmulator) -> None:
    emu = make_emulator()
    variant = emu.add_variant("LOW", 1)
    with client_for(emu) as client, pytest.raises(ConflictError) as caught:
        client.adjust_inventory(
            idempotency_key="low", decrements=[StockOperation(variant_id=variant, quantity=2)]
        )
    assert caught.value.subtype == "INSUFFICIENT_STOCK"
    assert caught.value.context_id


def test_unknown_key_and_missing_permission(make_emulator: MakeEmulator) -> None:
    emu = make_emulator()
    emu.add_key("orders-only", orders="rw", inventory=None)
    with client_for(emu, "wrong-key") as client, pytest.raises(AuthenticationError) as refused:
        client.get_order("x")
    assert "wrong-key" not in str(refused.value)
    with client_for(emu, "orders-only") as client, pytest.raises(PermissionDeniedError) as denied:
        list(client.iter_inventory())
    assert denied.value.permission == "Inventory"
    assert "orders-only" not in str(denied.value)


@pytest.mark.parametrize("emulator", [{"rate_limit_per_minute": 2}], indirect=True)
def test_429_from_the_server_waits_its_retry_after(emulator: Emulator) -> None:
    clock = FakeClock()
    with client_for(
        emulator, sleep=clock.sleep, monotonic=clock.monotonic, max_attempts=3
    ) as client:
        client.get_inventory([next(iter(emulator.inventory))])
        client.get_inventory([next(iter(emulator.inventory))])
        with pytest.raises(RateLimitedError):
            client.get_inventory([next(iter(emulator.inventory))])
    assert clock.sleeps == [60.0, 60.0]  # the emulator's Retry-After: 60, honoured


def test_money_and_times_round_trip(make_emulator: MakeEmulator) -> None:
    emu = make_emulator()
    order_id = emu.add_order(emu.make_order(price="12.50", quantity=2))
    with client_for(emu) as client:
        order = client.get_order(order_id)
    line = order.line_items[0]
    assert line.unit_price_paid is not None
    assert line.unit_price_paid.value == Decimal("12.50")
    assert line.quantity == 2
    assert abs(order.created_on - datetime.now(UTC)) < timedelta(days=1)
