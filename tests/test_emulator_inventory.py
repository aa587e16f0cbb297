"""Emulator: inventory pages, inventory by ids, and stock adjustments."""

from __future__ import annotations

import threading

import httpx
import pytest

from sqsync.emulator import Emulator, EmulatorState

INVENTORY = "/1.0/commerce/inventory"
ADJUST = "/1.0/commerce/inventory/adjustments"


@pytest.fixture
def shop(emulator: Emulator) -> dict[str, str]:
    """Named variants: two tracked with stock, one unlimited."""
    return {
        "tee": emulator.add_variant("TEE-RED-M", 10, variant_id="v-tee"),
        "mug": emulator.add_variant("MUG-WHITE", 3, variant_id="v-mug"),
        "pdf": emulator.add_variant("SVC-1", 50, unlimited=True, variant_id="v-svc"),
    }


def _adjust(client: httpx.Client, body: dict, key: str | None = "key-1") -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(ADJUST, json=body, headers=headers)


def _error(response: httpx.Response, status: int, subtype: str | None = None) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    if subtype is not None:
        assert body["subtype"] == subtype
    return body["message"]


def _stock(emulator: Emulator) -> dict[str, tuple[int, bool]]:
    return {vid: (i["quantity"], i["isUnlimited"]) for vid, i in emulator.inventory.items()}


# ------------------------------------------------------------------ reading


def test_inventory_pages_of_50_sorted_by_variant_id(make_emulator):
    emulator = make_emulator(variants=120)
    headers = {"Authorization": f"Bearer {emulator.api_key}", "User-Agent": "t"}
    items, pages, params = [], 0, {}
    with httpx.Client(base_url=emulator.url, headers=headers) as client:
        while True:
            body = client.get(INVENTORY, params=params).json()
            pages += 1
            assert len(body["inventory"]) <= 50
            items += body["inventory"]
            if not body["pagination"]["hasNextPage"]:
                assert body["pagination"]["nextPageUrl"] is None
                break
            assert body["pagination"]["nextPageUrl"].startswith(emulator.url + INVENTORY)
            params = {"cursor": body["pagination"]["nextPageCursor"]}
    assert pages == 3
    assert [i["variantId"] for i in items] == sorted(emulator.inventory)
    assert set(items[0]) == {"variantId", "sku", "descriptor", "isUnlimited", "quantity"}


def test_inventory_bad_cursor_is_400(emulator_http: httpx.Client):
    _error(emulator_http.get(INVENTORY, params={"cursor": "%%%"}), 400)


def test_inventory_by_ids(emulator_http: httpx.Client, shop):
    response = emulator_http.get(f"{INVENTORY}/{shop['tee']},{shop['pdf']}")
    assert response.status_code == 200
    assert set(response.json()) == {"inventory"}
    assert {i["variantId"]: i["quantity"] for i in response.json()["inventory"]} == {
        "v-tee": 10,
        "v-svc": 50,
    }


def test_inventory_by_ids_any_unknown_is_404(emulator_http: httpx.Client, shop):
    message = _error(emulator_http.get(f"{INVENTORY}/{shop['tee']},nope"), 404)
    assert "nope" in message


def test_inventory_by_ids_at_most_50(emulator: Emulator, emulator_http: httpx.Client):
    ids = [emulator.add_variant(f"S{n}", 1) for n in range(51)]
    assert emulator_http.get(f"{INVENTORY}/{','.join(ids[:50])}").status_code == 200
    assert "50" in _error(emulator_http.get(f"{INVENTORY}/{','.join(ids)}"), 400)


# ------------------------------------------------------------------ adjusting


def test_adjustment_applies_every_kind(emulator: Emulator, emulator_http: httpx.Client, shop):
    extra = emulator.add_variant("TOTE", 0, unlimited=True, variant_id="v-tote")
    body = {
        "incrementOperations": [{"variantId": shop["tee"], "quantity": 5}],
        "decrementOperations": [{"variantId": shop["mug"], "quantity": 3}],
        "setFiniteOperations": [{"variantId": shop["pdf"], "quantity": 7}],
        "setUnlimitedOperations": [extra],
    }
    response = _adjust(emulator_http, body)
    assert response.status_code == 204
    assert response.content == b""
    stock = _stock(emulator)
    assert {vid: stock[vid] for vid in ("v-tee", "v-mug", "v-svc", "v-tote")} == {
        "v-tee": (15, False),
        "v-mug": (0, False),
        "v-svc": (7, False),
        "v-tote": (0, True),
    }
    assert emulator.stats.adjustments_applied == 1


def test_replayed_key_answers_204_without_applying_again(
    emulator: Emulator, emulator_http: httpx.Client, shop
):
    body = {"incrementOperations": [{"variantId": shop["tee"], "quantity": 5}]}
    assert _adjust(emulator_http, body).status_code == 204
    assert _adjust(emulator_http, body).status_code == 204
    assert emulator.inventory["v-tee"]["quantity"] == 15
    assert (emulator.stats.adjustments_applied, emulator.stats.idempotent_replays) == (1, 1)


def test_reused_key_with_another_body_is_400(emulator: Emulator, emulator_http: httpx.Client, shop):
    assert (
        _adjust(
            emulator_http, {"setFiniteOperations": [{"variantId": "v-tee", "quantity": 1}]}
        ).status_code
        == 204
    )
    other = {"setFiniteOperations": [{"variantId": "v-tee", "quantity": 2}]}
    assert "Idempotency-Key" in _error(_adjust(emulator_http, other), 400)
    assert emulator.inventory["v-tee"]["quantity"] == 1


def test_failed_attempt_does_not_use_up_the_key(
    emulator: Emulator, emulator_http: httpx.Client, shop
):
    body = {"decrementOperations": [{"variantId": shop["mug"], "quantity": 5}]}
    _error(_adjust(emulator_http, body), 409, "INSUFFICIENT_STOCK")
    emulator.set_stock(shop["mug"], 8)
    assert _adjust(emulator_http, body).status_code == 204
    assert emulator.inventory["v-mug"]["quantity"] == 3
    assert emulator.stats.idempotent_replays == 0


def test_same_key_in_flight_is_409(emulator: Emulator, emulator_http: httpx.Client, shop):
    entered, release = threading.Event(), threading.Event()

    def hold(key: str) -> None:
        entered.set()
        assert release.wait(5)

    emulator.state.during_adjustment = hold
    body = {"incrementOperations": [{"variantId": shop["tee"], "quantity": 1}]}
    results: list[int] = []
    first = threading.Thread(
        target=lambda: results.append(_adjust(emulator_http, body).status_code)
    )
    first.start()
    assert entered.wait(5)
    emulator.state.during_adjustment = None
    _error(_adjust(emulator_http, body), 409, "CONCURRENT_MODIFICATION")
    release.set()
    first.join(5)
    assert results == [204]
    assert emulator.inventory["v-tee"]["quantity"] == 11


@pytest.mark.parametrize("key", [None, "", "x" * 65, "has space", "dot.ted"])
def test_idempotency_key_required_and_well_formed(emulator_http: httpx.Client, shop, key):
    body = {"incrementOperations": [{"variantId": shop["tee"], "quantity": 1}]}
    assert "Idempotency-Key" in _error(_adjust(emulator_http, body, key=key), 400)


def test_idempotency_key_of_64_allowed_chars_is_accepted(emulator_http: httpx.Client, shop):
    body = {"incrementOperations": [{"variantId": shop["tee"], "quantity": 1}]}
    assert _adjust(emulator_http, body, key="aZ09_-" * 10 + "abcd").status_code == 204


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"incrementOperations": []},
        {"incrementOperations": {}},
        {"incrementOperations": [{"variantId": "v-tee"}]},
        {"incrementOperations": [{"variantId": "v-tee", "quantity": 0}]},
        {"decrementOperations": [{"variantId": "v-tee", "quantity": -1}]},
        {"setFiniteOperations": [{"variantId": "v-tee", "quantity": -1}]},
        {"setFiniteOperations": [{"variantId": "v-tee", "quantity": 1.5}]},
        {"setFiniteOperations": [{"variantId": "v-tee", "quantity": True}]},
        {"setFiniteOperations": [{"variantId": 5, "quantity": 1}]},
        {"setUnlimitedOperations": [{"variantId": "v-tee"}]},
        {"setUnlimitedOperations": "v-tee"},
        {"incrementOperations": [{"variantId": "v-tee", "quantity": 10**10}]},
    ],
)
def test_malformed_adjustment_is_400(emulator: Emulator, emulator_http: httpx.Client, shop, body):
    before = _stock(emulator)
    _error(_adjust(emulator_http, body), 400)
    assert _stock(emulator) == before


def test_set_finite_zero_is_allowed(emulator: Emulator, emulator_http: httpx.Client, shop):
    body = {"setFiniteOperations": [{"variantId": shop["tee"], "quantity": 0}]}
    assert _adjust(emulator_http, body).status_code == 204
    assert emulator.inventory["v-tee"]["quantity"] == 0


def test_more_than_50_operations_is_400(emulator: Emulator, emulator_http: httpx.Client):
    ids = [emulator.add_variant(f"S{n}", 1) for n in range(51)]
    ops = [{"variantId": vid, "quantity": 2} for vid in ids]
    assert _adjust(emulator_http, {"setFiniteOperations": ops[:50]}, key="a").status_code == 204
    body = {"setFiniteOperations": ops[:40], "setUnlimitedOperations": ids[40:]}
    assert "50" in _error(_adjust(emulator_http, body, key="b"), 400)


@pytest.mark.parametrize(
    "body",
    [
        {"incrementOperations": [{"variantId": "v-tee", "quantity": 1}] * 2},
        {
            "incrementOperations": [{"variantId": "v-tee", "quantity": 1}],
            "setFiniteOperations": [{"variantId": "v-tee", "quantity": 1}],
        },
        {
            "setFiniteOperations": [{"variantId": "v-tee", "quantity": 1}],
            "setUnlimitedOperations": ["v-tee"],
        },
    ],
)
def test_variant_twice_is_400(emulator: Emulator, emulator_http: httpx.Client, shop, body):
    assert "more than one" in _error(_adjust(emulator_http, body), 400)
    assert emulator.inventory["v-tee"]["quantity"] == 10


def test_unknown_variant_is_400_and_nothing_applies(
    emulator: Emulator, emulator_http: httpx.Client, shop
):
    body = {
        "incrementOperations": [{"variantId": shop["tee"], "quantity": 1}],
        "setUnlimitedOperations": ["nope"],
    }
    assert "nope" in _error(_adjust(emulator_http, body), 400)
    assert emulator.inventory["v-tee"]["quantity"] == 10


@pytest.mark.parametrize("kind", ["incrementOperations", "decrementOperations"])
def test_increment_or_decrement_of_unlimited_is_409(
    emulator: Emulator, emulator_http: httpx.Client, shop, kind
):
    body = {
        "setFiniteOperations": [{"variantId": shop["tee"], "quantity": 1}],
        kind: [{"variantId": shop["pdf"], "quantity": 1}],
    }
    _error(_adjust(emulator_http, body), 409, "STOCK_NOT_TRACKED")
    assert emulator.inventory["v-tee"]["quantity"] == 10  # all or nothing


def test_decrement_below_zero_is_409_and_nothing_applies(
    emulator: Emulator, emulator_http: httpx.Client, shop
):
    body = {
        "incrementOperations": [{"variantId": shop["tee"], "quantity": 1}],
        "decrementOperations": [{"variantId": shop["mug"], "quantity": 4}],
    }
    _error(_adjust(emulator_http, body), 409, "INSUFFICIENT_STOCK")
    assert _stock(emulator)["v-tee"] == (10, False)
    assert _stock(emulator)["v-mug"] == (3, False)
    assert emulator.stats.adjustments_applied == 0


def test_sell_and_set_stock_helpers(emulator: Emulator, shop):
    emulator.sell(shop["tee"], 4)
    emulator.sell(shop["pdf"], 4)  # unlimited: a purchase changes nothing
    assert _stock(emulator)["v-tee"] == (6, False)
    assert _stock(emulator)["v-svc"] == (50, True)
    with pytest.raises(ValueError):
        emulator.sell(shop["mug"], 4)
    emulator.set_stock(shop["mug"], 9, unlimited=True)
    assert _stock(emulator)["v-mug"] == (9, True)


def test_fixture_state_is_small_and_rate_limit_off(emulator: Emulator):
    assert emulator.rate_limit_per_minute == 0
    assert emulator.orders == {}
    assert 0 < len(emulator.inventory) <= 10
    assert isinstance(emulator.state, EmulatorState)
