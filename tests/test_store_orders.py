"""Orders in the store: uniqueness rules, the JSON shape, streaming listings."""

from __future__ import annotations

import pytest

from factories import IntegrityError, insert_order, insert_shipment
from sqsync.store import Store
from sqsync.store.orders import find_orders, flat_order, iter_order_dicts, order_dict


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "sqsync.db") as opened:
        yield opened


def test_same_squarespace_order_twice_in_one_connection_is_refused(store):
    insert_order(store, squarespace_id="abc", order_number="SQ-1")
    with pytest.raises(
        IntegrityError,
        match=r"orders\.connection, orders\.squarespace_id|\(connection, squarespace_id\)",
    ):
        insert_order(store, squarespace_id="abc", order_number="SQ-2")


def test_same_squarespace_id_in_another_connection_is_allowed(store):
    insert_order(store, connection="acme", squarespace_id="abc", order_number="SQ-1")
    insert_order(store, connection="beta", squarespace_id="abc", order_number="B-1")


def test_order_number_unique_per_client(store):
    insert_order(store, order_number="SQ-1")
    with pytest.raises(
        IntegrityError, match=r"orders\.client_id, orders\.order_number|\(client_id, order_number\)"
    ):
        insert_order(store, connection="other", order_number="SQ-1")
    insert_order(store, client="BETA", order_number="SQ-1")  # another client may reuse it


def test_status_and_quantity_constraints(store):
    with pytest.raises(IntegrityError, match=r"CHECK|check constraint"):
        insert_order(store, status="SHIPPED")
    with pytest.raises(IntegrityError, match=r"CHECK|check constraint"):
        insert_order(store, items=[("RED-S", 0)])


def test_deleting_an_order_deletes_its_items(store):
    order_id = insert_order(store, items=[("RED-S", 1), ("BLUE-M", 2)])
    store.conn.execute("DELETE FROM orders WHERE id = ?", (order_id,))
    assert store.conn.execute("SELECT count(*) FROM order_items").fetchone()[0] == 0


def test_order_dict_shape(store):
    order_id = insert_order(
        store,
        order_number="SQ-1001",
        squarespace_id="sq-1",
        status="HOLDING",
        problems=["unknown_sku:NOPE"],
        items=[{"sku": "RED-S", "quantity": 2, "unit_price": "9.25", "name": "Red tee S"}],
        first_name="Ada",
        total="18.50",
        shipping_method="Tracked",
        billing_city="Leeds",
    )
    insert_shipment(
        store,
        order_id,
        tracking_number="RM1",
        push_state="pushed",
        shipped_at="2026-01-01T00:00:00.000Z",
    )
    insert_shipment(store, order_id, tracking_number="RM2")
    order = order_dict(store, order_id)
    assert order is not None
    required = {
        "order_number", "squarespace_id", "connection", "client", "warehouse", "channel",
        "status", "problems", "customer_email", "shipping_address", "currency", "total",
        "items", "shipments",
    }  # fmt: skip
    assert required <= order.keys()
    assert order["order_number"] == "SQ-1001" and order["squarespace_id"] == "sq-1"
    assert (order["connection"], order["client"], order["warehouse"], order["channel"]) == (
        "acme", "ACME", "MAIN", "Squarespace",
    )  # fmt: skip
    assert order["status"] == "HOLDING"
    assert order["problems"] == ["unknown_sku:NOPE"]
    assert set(order["shipping_address"]) == {
        "first_name", "last_name", "address1", "address2", "city", "state", "postal_code",
        "country_code", "phone",
    }  # fmt: skip
    assert order["shipping_address"]["first_name"] == "Ada"
    assert order["billing_address"]["city"] == "Leeds"
    assert order["total"] == "18.50" and isinstance(order["total"], str)
    assert order["items"] == [
        {"sku": "RED-S", "name": "Red tee S", "quantity": 2, "unit_price": "9.25",
         "channel_sku": None, "variant_id": None},
    ]  # fmt: skip
    first, second = order["shipments"]
    assert {k: first[k] for k in ("carrier", "service", "tracking_number", "tracking_url")} == {
        "carrier": "Royal Mail", "service": "Tracked 48", "tracking_number": "RM1",
        "tracking_url": None,
    }  # fmt: skip
    assert first["shipped_at"] == "2026-01-01T00:00:00.000Z"
    assert (first["pushed"], second["pushed"]) == (True, False)


def test_order_dict_missing(store):
    assert order_dict(store, 999) is None


def test_find_orders_by_number_and_client(store):
    insert_order(store, order_number="SQ-1", client="ACME")
    insert_order(store, order_number="SQ-1", client="BETA")
    assert [o["client"] for o in find_orders(store, "SQ-1")] == ["ACME", "BETA"]
    assert [o["client"] for o in find_orders(store, "SQ-1", client="BETA")] == ["BETA"]
    assert find_orders(store, "SQ-404") == []


def test_listing_filters_and_groups_items_with_their_order(store):
    a = insert_order(store, order_number="A", items=[("X", 1), ("Y", 2)])
    insert_order(store, order_number="B", status="CANCELLED", items=[("Z", 3)])
    c = insert_order(store, order_number="C", connection="beta", items=[("W", 4)])
    insert_shipment(store, c, tracking_number="T-C")
    everything = list(iter_order_dicts(store))
    assert [o["order_number"] for o in everything] == ["A", "B", "C"]
    assert [[i["sku"] for i in o["items"]] for o in everything] == [["X", "Y"], ["Z"], ["W"]]
    assert [len(o["shipments"]) for o in everything] == [0, 0, 1]
    assert [o["order_number"] for o in iter_order_dicts(store, status="NEW")] == ["A", "C"]
    beta = list(iter_order_dicts(store, status="NEW", connection="beta"))
    assert [o["order_number"] for o in beta] == ["C"]
    assert beta[0]["shipments"][0]["tracking_number"] == "T-C"
    assert order_dict(store, a) == everything[0]


def test_listing_streams(store):
    for number in range(3):
        insert_order(store, order_number=f"N{number}")
    rows = iter_order_dicts(store)
    assert next(rows)["order_number"] == "N0"  # a generator: rows arrive before the end
    # While the listing is open it reads one snapshot; closing it ends the read transaction.
    assert store.conn.in_transaction
    rows.close()
    assert not store.conn.in_transaction


def test_flat_order(store):
    insert_order(
        store, items=[("X", 1), ("Y", 2)], first_name="Ada", last_name="L", problems=["a", "b"]
    )
    (order,) = iter_order_dicts(store)
    flat = flat_order(order)
    assert flat["customer"] == "Ada L"
    assert flat["items"] == "X x1, Y x2"
    assert flat["problems"] == "a b"
    assert flat["country_code"] == "GB"
    assert not any(isinstance(v, dict | list) for v in flat.values())
