"""Emulator state: the seeded generator, JSON load/save and the test helpers."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from sqsync.emulator import Emulator, EmulatorState
from sqsync.emulator.wire import iso_to_ms
from sqsync.errors import InputError

NOW = datetime(2024, 6, 1, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def shop() -> EmulatorState:
    return EmulatorState.generate(orders=2000, variants=120, seed=3, now=NOW)


def _value(money: dict) -> Decimal:
    return Decimal(money["value"])


def test_same_seed_same_shop():
    first = EmulatorState.generate(orders=50, variants=20, seed=9, now=NOW)
    second = EmulatorState.generate(orders=50, variants=20, seed=9, now=NOW)
    other = EmulatorState.generate(orders=50, variants=20, seed=10, now=NOW)
    assert first.orders == second.orders
    assert first.inventory == second.inventory
    assert first.keys == second.keys
    assert first.orders != other.orders


def test_variants_look_real(shop: EmulatorState):
    items = list(shop.inventory.values())
    assert len(items) == 120
    skus = [i["sku"] for i in items]
    assert "TEE-RED-M" in skus
    assert all(0 <= i["quantity"] <= 200 for i in items)
    assert 1 <= sum(i["isUnlimited"] for i in items) <= 20
    assert None in skus
    shared = [sku for sku, n in Counter(skus).items() if sku and n == 2]
    assert len(shared) == 1
    assert all(i["descriptor"] and "[" in i["descriptor"] for i in items)


def test_orders_look_real(shop: EmulatorState):
    orders = sorted(shop.orders.values(), key=lambda o: int(o["orderNumber"]))
    assert [o["orderNumber"] for o in orders[:3]] == ["1001", "1002", "1003"]
    created = [o["createdOn"] for o in orders]
    assert created == sorted(created)
    start = NOW - timedelta(days=30)
    assert iso_to_ms(created[0]) >= iso_to_ms(start.isoformat().replace("+00:00", "Z"))
    assert all(o["modifiedOn"] <= "2024-06-01T09:30:00.000Z" for o in orders)
    assert all(o["modifiedOn"] >= o["createdOn"] for o in orders)
    statuses = Counter(o["fulfillmentStatus"] for o in orders)
    assert statuses["PENDING"] > statuses["FULFILLED"] > statuses["CANCELED"] > 0
    payments = Counter(o["paymentState"] for o in orders)
    assert payments.most_common(1)[0][0] == "PAID"
    assert {"AUTHORIZED", "NOT_CHARGED", "PENDING", "FAILED", "REFUNDED", None} <= set(payments)
    assert 0 < sum(o["testmode"] for o in orders) < 0.1 * len(orders)
    countries = Counter(o["billingAddress"]["countryCode"] for o in orders)
    assert countries.most_common(1)[0][0] == "GB"
    assert set(countries) == {"GB", "US", "DE", "FR", "IE", "IM", "JE"}


def test_line_items_cover_every_kind(shop: EmulatorState):
    inventory = shop.inventory
    lines = [li for o in shop.orders.values() for li in o["lineItems"]]
    kinds = Counter(li["lineItemType"] for li in lines)
    assert kinds.most_common(1)[0][0] == "PHYSICAL_PRODUCT"
    assert {"DIGITAL", "SERVICE", "GIFT_CARD"} <= set(kinds)
    for line in lines:
        if line["lineItemType"] == "PHYSICAL_PRODUCT":
            assert inventory[line["variantId"]]["sku"] == line["sku"]
        if line["lineItemType"] == "DIGITAL":
            assert line["sku"] is None and line["variantId"] is None
    only_virtual = [
        o
        for o in shop.orders.values()
        if all(li["lineItemType"] != "PHYSICAL_PRODUCT" for li in o["lineItems"])
    ]
    assert only_virtual


def test_money_strings_and_totals_are_consistent(shop: EmulatorState):
    for order in shop.orders.values():
        for name in ("subtotal", "shippingTotal", "discountTotal", "taxTotal", "grandTotal"):
            assert len(order[name]["value"].split(".")[1]) == 2
        subtotal = sum(_value(li["unitPricePaid"]) * li["quantity"] for li in order["lineItems"])
        assert _value(order["subtotal"]) == subtotal
        shipping = sum(_value(s["amount"]) for s in order["shippingLines"])
        discount = sum(_value(d["amount"]) for d in order["discountLines"])
        assert _value(order["shippingTotal"]) == shipping
        assert _value(order["grandTotal"]) == subtotal + shipping - discount
        if order["fulfillmentStatus"] == "FULFILLED":
            assert order["fulfilledOn"] and order["fulfillments"]


def test_generated_key_has_every_permission(shop: EmulatorState):
    (info,) = shop.keys.values()
    assert info.full


def test_save_then_load_round_trips(tmp_path, shop: EmulatorState):
    path = tmp_path / "shop.json"
    shop.save(path)
    data = json.loads(path.read_text())
    assert set(data) == {"orders", "inventory", "keys"}
    loaded = EmulatorState.load(path)
    assert loaded.orders == shop.orders
    assert loaded.inventory == shop.inventory
    assert loaded.keys == shop.keys


def test_loaded_shop_is_served(tmp_path):
    path = tmp_path / "mine.json"
    order = EmulatorState().make_order(sku="MY-SKU")
    order.update(id="o1", orderNumber="7", modifiedOn="2024-01-01T00:00:00.000Z")
    item = {
        "variantId": "v1",
        "sku": "MY-SKU",
        "descriptor": "Mine",
        "isUnlimited": False,
        "quantity": 4,
    }
    path.write_text(
        json.dumps(
            {
                "orders": [order],
                "inventory": [item],
                "keys": {"my-key": {"orders": "r", "inventory": None}},
            }
        )
    )
    with Emulator(EmulatorState.load(path), rate_limit_per_minute=0) as emulator:
        headers = {"Authorization": "Bearer my-key", "User-Agent": "t"}
        listed = httpx.get(emulator.url + "/1.0/commerce/orders", headers=headers).json()["result"]
        assert [o["id"] for o in listed] == ["o1"]
        assert (
            httpx.get(emulator.url + "/1.0/commerce/inventory", headers=headers).status_code == 403
        )
        assert emulator.api_key != "my-key"  # a read-only key cannot be the full key
        new_id = emulator.add_order(emulator.make_order())
        assert emulator.orders[new_id]["orderNumber"] == "8"  # numbering goes on from the file


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{", "not valid JSON"),
        ("[]", "not usable"),
        ('{"orders": [{"id": 1}]}', "order 0"),
        ('{"keys": {"k": {"orders": "write"}}}', "not usable"),
    ],
)
def test_bad_state_file_is_an_input_error(tmp_path, content, words):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InputError, match=words) as caught:
        EmulatorState.load(path)
    assert str(path) in str(caught.value)


def _shop_file(tmp_path, **changes):
    """A valid saved shop (one order, one variant), with ``changes`` applied by path
    (``"inventory.0.quantity": "7"``; a value of ``...`` deletes the field)."""
    order = EmulatorState().make_order(sku="MY-SKU")
    order.update(id="o1", orderNumber="7", modifiedOn="2024-01-01T00:00:00.000Z")
    item = {"variantId": "v1", "sku": "MY-SKU", "descriptor": "Mine", "isUnlimited": False,
            "quantity": 4}  # fmt: skip
    data = {"orders": [order], "inventory": [item], "keys": {"k": {"orders": "rw"}}}
    for where, value in changes.items():
        *parents, last = where.split(".")
        target = data
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        key = int(last) if isinstance(target, list) else last
        if value is ...:
            del target[key]
        else:
            target[key] = value
    path = tmp_path / "shop.json"
    path.write_text(json.dumps(data))
    return path


def test_the_valid_shop_file_of_these_tests_loads(tmp_path):
    assert EmulatorState.load(_shop_file(tmp_path)).counts() == {"orders": 1, "variants": 1}


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        # Each loaded once, then answered 500 on the first request that met it.
        ({"inventory.0.quantity": "7"}, 'inventory item 0 (variantId "v1"): quantity must be'
         ' a whole number from 0 to 999999999, not "7"'),
        ({"inventory.0.quantity": -1}, "quantity must be a whole number"),
        ({"inventory.0.quantity": True}, "quantity must be a whole number"),
        ({"inventory.0.isUnlimited": ...}, "isUnlimited must be true or false, not null"),
        ({"inventory.0.sku": 12}, "sku must be a string"),
        ({"inventory.0": "v1"}, "inventory item 0 must be an object"),
        ({"inventory": {"v1": {}}}, "inventory must be a list"),
        ({"orders.0.fulfillmentStatus": "CANCELLED"}, 'fulfillmentStatus must be PENDING or'
         ' FULFILLED or CANCELED, not "CANCELLED"'),
        ({"orders.0.paymentState": "paid"}, "paymentState must be null or one of"),
        ({"orders.0.createdOn": "yesterday"}, "createdOn must be an ISO-8601 UTC time"),
        ({"orders.0.orderNumber": 7}, "orderNumber must be a non-empty string"),
        ({"orders.0.testmode": "no"}, "testmode must be true or false"),
        ({"orders.0.lineItems": {}}, "lineItems must be a list"),
        ({"orders.0.lineItems.0.quantity": "1"}, 'order 0 (id "o1"): lineItems[0].quantity must'
         ' be a whole number from 1 to 999999999, not "1"'),
        ({"orders.0.lineItems.0.id": ...}, "lineItems[0].id must be a non-empty string"),
        ({"orders.0.lineItems.0.unitPricePaid": {"value": 10, "currency": "GBP"}},
         "lineItems[0].unitPricePaid.value must be a decimal string"),
        ({"orders.0.grandTotal": "10.00"}, "grandTotal must be an object"),
        ({"orders.0.shippingAddress": "Leeds"}, "shippingAddress must be an object or null"),
        ({"orders.0.shippingAddress.countryCode": 44}, "shippingAddress.countryCode must be"),
        ({"orders.0.fulfillments": [{"shipDate": "soon"}]}, "fulfillments[0].shipDate must be"),
        ({"orders.0.shippingLines": [{"method": 1}]}, "shippingLines[0].method must be"),
        ({"inventry": []}, 'unknown top-level key "inventry"'),
        ({"keys.k": "rw"}, "key 0 must be an object"),
        ({"keys.k": {"orders": "rw", "expired": "no"}}, "expired must be true or false"),
    ],
)  # fmt: skip
def test_a_shop_the_emulator_could_not_serve_is_refused_at_load(tmp_path, changes, words):
    path = _shop_file(tmp_path, **changes)
    with pytest.raises(InputError) as caught:
        EmulatorState.load(path)
    message = str(caught.value)
    assert message.startswith(f"emulator state {path} is not usable: "), message
    assert words in message
    assert "\n" not in message


def test_ids_and_order_numbers_must_be_unique(tmp_path):
    path = _shop_file(tmp_path)
    data = json.loads(path.read_text())
    data["inventory"].append(dict(data["inventory"][0]))
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"inventory item 1 .*another inventory item has this"):
        EmulatorState.load(path)
    data = json.loads(_shop_file(tmp_path).read_text())
    data["orders"].append({**data["orders"][0], "id": "o2"})
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r'order 1 \(id "o2"\): orderNumber "7" is also order 0'):
        EmulatorState.load(path)


def test_a_key_is_never_named_in_a_refusal(tmp_path):
    path = _shop_file(tmp_path, **{"keys.sk-secret-key": "rw"})
    with pytest.raises(InputError) as caught:
        EmulatorState.load(path)
    assert "sk-secret-key" not in str(caught.value)


def test_a_saved_shop_after_every_operation_loads_again(tmp_path, emulator_http, emulator):
    # What the emulator itself writes must pass its own checks.
    order_id = emulator.add_order(emulator.make_order())
    shipment = {"shipDate": "2024-01-02T00:00:00Z", "carrierName": "RM", "service": "T48",
                "trackingNumber": "RM1"}  # fmt: skip
    body = {"shouldSendNotification": False, "shipments": [shipment]}
    answer = emulator_http.post(f"/1.0/commerce/orders/{order_id}/fulfillments", json=body)
    assert answer.status_code == 204
    emulator.state.place_order(quantity=2, shipping_method="Express")
    emulator.state.refund_order(order_id)
    emulator.state.save(tmp_path / "after.json")
    assert EmulatorState.load(tmp_path / "after.json").counts()["orders"] == 2


def test_missing_state_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        EmulatorState.load(tmp_path / "missing.json")


def test_make_order_defaults(emulator: Emulator):
    first = emulator.inventory[sorted(emulator.inventory)[0]]
    order = emulator.make_order()
    assert order["fulfillmentStatus"] == "PENDING"
    assert order["paymentState"] == "PAID"
    assert order["shippingAddress"]["countryCode"] == "GB"
    (line,) = order["lineItems"]
    assert (line["sku"], line["variantId"]) == (first["sku"], first["variantId"])
    custom = emulator.make_order(sku="X-1", variant_id="v-x", quantity=3, testmode=True)
    assert custom["testmode"] is True
    assert (custom["lineItems"][0]["sku"], custom["lineItems"][0]["quantity"]) == ("X-1", 3)
    assert custom["subtotal"]["value"] == "30.00"


def test_add_order_assigns_id_number_and_now(emulator: Emulator):
    emulator.state.now = lambda: NOW
    first = emulator.add_order(emulator.make_order())
    second = emulator.add_order(emulator.make_order())
    orders = emulator.orders
    assert first != second
    assert (orders[first]["orderNumber"], orders[second]["orderNumber"]) == ("1001", "1002")
    assert orders[first]["modifiedOn"] == "2024-06-01T09:30:00.000Z"


def test_update_order_bumps_modified_on(emulator: Emulator):
    emulator.state.now = lambda: NOW
    order_id = emulator.add_order(emulator.make_order())
    emulator.update_order(order_id, fulfillmentStatus="CANCELED")
    order = emulator.orders[order_id]
    assert order["fulfillmentStatus"] == "CANCELED"
    assert order["modifiedOn"] == "2024-06-01T09:30:00.001Z"
    emulator.update_order(order_id, modifiedOn="2024-07-01T00:00:00.000Z")
    assert emulator.orders[order_id]["modifiedOn"] == "2024-07-01T00:00:00.000Z"


def test_snapshots_are_copies(emulator: Emulator):
    order_id = emulator.add_order(emulator.make_order())
    emulator.orders[order_id]["fulfillmentStatus"] = "FULFILLED"
    vid = next(iter(emulator.inventory))
    emulator.inventory[vid]["quantity"] = -5
    assert emulator.orders[order_id]["fulfillmentStatus"] == "PENDING"
    assert emulator.inventory[vid]["quantity"] >= 0
