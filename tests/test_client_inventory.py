"""Inventory: pages, get by ids in chunks of 50, and adjustments checked before sending."""

from __future__ import annotations

import pytest

from sqsync.squarespace import StockOperation
from sqsync.squarespace.testing import FakeApi, inventory_json, json_response, paged, scripted


def op(variant_id: str, quantity: int = 1) -> StockOperation:
    return StockOperation(variant_id=variant_id, quantity=quantity)


def test_inventory_pages_send_only_the_cursor() -> None:
    items = [inventory_json(n) for n in range(120)]
    api = FakeApi(paged(items, "inventory"))
    with api.client() as client:
        pages = list(client.iter_inventory_pages())
    assert [len(p.items) for p in pages] == [50, 50, 20]
    assert api.params() == [{}, {"cursor": "50"}, {"cursor": "100"}]
    assert {r.url.path for r in api.requests} == {"/1.0/commerce/inventory"}


def test_iter_inventory_skips_invalid_items_into_page_invalid() -> None:
    items = [inventory_json(1), inventory_json(2, quantity="many"), inventory_json(3)]
    api = FakeApi(paged(items, "inventory"))
    with api.client() as client:
        (only,) = list(client.iter_inventory_pages())
    assert [i.variant_id for i in only.items] == ["variant-1", "variant-3"]
    assert only.invalid[0].id == "variant-2"
    assert "quantity" in only.invalid[0].error


def test_get_inventory_chunks_ids_by_50_and_quotes_them() -> None:
    ids = [f"v{n}" for n in range(120)] + ["odd/id,1"]

    def handler(request):
        wanted = request.url.raw_path.decode().rsplit("/", 1)[1].split(",")
        return json_response(200, {"inventory": [inventory_json(variantId=v) for v in wanted]})

    api = FakeApi(handler)
    with api.client() as client:
        items = client.get_inventory(ids)
    assert len(api.requests) == 3
    raw = [r.url.raw_path.decode().removeprefix("/1.0/commerce/inventory/") for r in api.requests]
    assert [len(p.split(",")) for p in raw] == [50, 50, 21]
    assert raw[2].endswith(",odd%2Fid%2C1")
    assert len(items) == 121


def test_get_inventory_with_no_ids_sends_nothing() -> None:
    api = FakeApi(scripted())
    with api.client() as client:
        assert client.get_inventory([]) == []
    assert api.requests == []


def test_adjust_sends_key_and_omits_empty_arrays() -> None:
    api = FakeApi(scripted(json_response(204)))
    with api.client() as client:
        client.adjust_inventory(
            idempotency_key="sync-acme_0001",
            decrements=[op("a", 2)],
            set_finite=[op("b", 0), op("c", 40)],
            set_unlimited=["d"],
        )
    (request,) = api.requests
    assert request.method == "POST"
    assert request.url.path == "/1.0/commerce/inventory/adjustments"
    assert request.headers["Idempotency-Key"] == "sync-acme_0001"
    assert api.bodies() == [
        {
            "decrementOperations": [{"variantId": "a", "quantity": 2}],
            "setFiniteOperations": [
                {"variantId": "b", "quantity": 0},
                {"variantId": "c", "quantity": 40},
            ],
            "setUnlimitedOperations": ["d"],
        }
    ]


def test_adjust_allows_exactly_50_operations() -> None:
    api = FakeApi(scripted(json_response(204)))
    with api.client() as client:
        client.adjust_inventory(
            idempotency_key="k",
            increments=[op(f"i{n}") for n in range(25)],
            set_unlimited=[f"u{n}" for n in range(25)],
        )
    assert len(api.requests) == 1


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"increments": [op(f"v{n}") for n in range(51)]}, "51 stock operations"),
        (
            {
                "increments": [op(f"i{n}") for n in range(30)],
                "set_unlimited": [f"u{n}" for n in range(21)],
            },
            "51",
        ),
        ({"increments": [op("a")], "set_finite": [op("a", 3)]}, "more than one operation: a"),
        ({"decrements": [op("a"), op("a")]}, "more than one operation: a"),
        ({"set_finite": [op("a")], "set_unlimited": ["a"]}, "more than one operation: a"),
        ({"increments": [op("a", 0)]}, "at least 1"),
        ({"decrements": [op("a", -1)]}, "at least 1"),
        ({"set_finite": [op("a", -1)]}, "at least 0"),
        ({}, "no stock operations"),
        ({"set_unlimited": [""]}, "non-empty"),
    ],
)
def test_adjust_refuses_what_squarespace_would_before_sending(arguments: dict, match: str) -> None:
    api = FakeApi(scripted())
    with api.client() as client, pytest.raises(ValueError, match=match):
        client.adjust_inventory(idempotency_key="k", **arguments)
    assert api.requests == []


@pytest.mark.parametrize("key", ["", "x" * 65, "has space", "dot.ted", "ünï"])
def test_adjust_refuses_a_bad_idempotency_key(key: str) -> None:
    api = FakeApi(scripted())
    with api.client() as client, pytest.raises(ValueError, match="idempotency_key"):
        client.adjust_inventory(idempotency_key=key, increments=[op("a")])
    assert api.requests == []


def test_adjust_accepts_a_64_character_key() -> None:
    api = FakeApi(scripted(json_response(204)))
    with api.client() as client:
        client.adjust_inventory(idempotency_key="A-_9" * 16, increments=[op("a")])
    assert api.requests[0].headers["Idempotency-Key"] == "A-_9" * 16


def test_one_string_instead_of_a_list_is_refused() -> None:
    api = FakeApi(scripted())
    with api.client() as client:
        with pytest.raises(TypeError):
            client.adjust_inventory(idempotency_key="k", set_unlimited="abc")
        with pytest.raises(TypeError):
            client.get_inventory("abc")
    assert api.requests == []
