"""Stock sync proportional to what changed (issue 15): after a clean full sync, a sync
reads by id only the variants whose figure the warehouse would change; any doubt, and
once a day, it reads every page. Every rule of the stock issue still holds."""

from __future__ import annotations

import pytest

from sqsync.emulator import EmulatorState
from sqsync.store import Store
from test_sync_stock_delivery import a_day_later, buy
from test_sync_stock_e2e import ADJUST, BY_IDS, PAGES, Shop

ORDERS = "/1.0/commerce/orders"
SKUS = [f"SKU-{n:03d}" for n in range(120)]  # three pages of 50


@pytest.fixture
def shop(make_emulator, tmp_path, monkeypatch) -> Shop:
    emu = make_emulator(EmulatorState())
    monkeypatch.setenv("ACME_KEY", emu.api_key)
    shop = Shop(emu, tmp_path)
    shop.stocks(dict.fromkeys(SKUS, 5))
    shop.ids = {sku: shop.variant(sku, 1) for sku in SKUS}  # type: ignore[attr-defined]
    first = shop.run_json()  # the first sync reads everything
    assert first["adjusted"] == 120 and "incremental" not in first
    shop.emu.stats.reset()
    return shop


def requests(shop: Shop) -> tuple[int, int, int, int]:
    stats = shop.emu.stats
    return (
        stats.count("GET", PAGES),
        stats.count("GET", BY_IDS),
        stats.count("POST", ADJUST),
        stats.count("GET", ORDERS),
    )


def test_only_the_variants_whose_figure_changed_are_read_and_adjusted(shop):
    shop.stocks({"SKU-007": 9, "SKU-050": 2, "SKU-111": 0})

    report = shop.run_json()

    assert report["incremental"] is True and report["variants_read"] == 3
    assert report["adjusted"] == 3
    assert requests(shop) == (0, 1, 1, 1)  # no page, one read by id, one batch, the orders
    ids = shop.ids  # type: ignore[attr-defined]
    assert (shop.qty(ids["SKU-007"]), shop.qty(ids["SKU-050"]), shop.qty(ids["SKU-111"])) == (
        9,
        2,
        0,
    )
    assert all(shop.qty(ids[s]) == 5 for s in SKUS if s not in ("SKU-007", "SKU-050", "SKU-111"))


def test_nothing_changed_costs_one_orders_request(shop):
    report = shop.run_json()

    assert report["incremental"] is True and report["variants_read"] == 0
    assert requests(shop) == (0, 0, 0, 1)


def test_a_sale_is_read_again_but_never_advertised_twice(shop):
    ids = shop.ids  # type: ignore[attr-defined]
    buy(shop, ids["SKU-001"], "SKU-001", 2)  # Squarespace shows 3; the store will allocate 2

    report = shop.run_json()

    assert shop.qty(ids["SKU-001"]) == 3  # 5 on hand - 2 sold: Squarespace's own figure
    assert report["adjusted"] == 0 and shop.emu.stats.count("POST", ADJUST) == 0


def test_a_day_later_every_page_is_read_and_edits_made_in_squarespace_are_corrected(shop):
    ids = shop.ids  # type: ignore[attr-defined]
    shop.emu.set_stock(ids["SKU-042"], 40)  # the merchant typed a figure in Squarespace
    assert shop.run_json()["incremental"] is True
    assert shop.qty(ids["SKU-042"]) == 40  # not seen by an incremental sync

    a_day_later(shop)
    report = shop.run_json()

    assert "incremental" not in report and shop.emu.stats.count("GET", PAGES) == 3
    assert shop.qty(ids["SKU-042"]) == 5


@pytest.mark.parametrize(
    "doubt", ["rules changed", "sku counted", "clock was fast", "state missing"]
)
def test_any_doubt_makes_a_full_sync(shop, doubt):
    from sqsync.jobs.sync_stock import FULL_AT_KEY
    from sqsync.store.sync_state import delete_state, set_state

    if doubt == "rules changed":
        text = shop.config.read_text().replace(
            "stock_sync = true", "stock_sync = true\nstock_cap = 4"
        )
        shop.config.write_text(text)
    elif doubt == "sku counted":
        new = shop.variant("NEW-SKU", 0)
        shop.stock("NEW-SKU", 6)
    with Store.open(shop.store_path) as store, store.transaction() as conn:
        if doubt == "clock was fast":
            set_state(conn, "acme", FULL_AT_KEY, "2099-01-01T00:00:00.000Z")
        elif doubt == "state missing":
            delete_state(conn, "acme", FULL_AT_KEY)

    report = shop.run_json()

    assert "incremental" not in report and shop.emu.stats.count("GET", PAGES) == 3
    if doubt == "rules changed":
        assert report["adjusted"] == 120  # every figure capped at 4
    if doubt == "sku counted":
        assert shop.qty(new) == 6


def test_a_sync_that_did_not_end_clean_makes_the_next_one_full(shop):
    from sqsync.emulator.wire import ApiError

    shop.stocks({"SKU-003": 8})

    def refuse(method: str, path: str) -> None:
        if method == "POST" and path == ADJUST:
            raise ApiError(400, "refused once")

    shop.emu.before_request = refuse
    shop.run_json(code=1)
    shop.emu.before_request = None
    shop.emu.stats.reset()

    report = shop.run_json()

    assert "incremental" not in report and shop.emu.stats.count("GET", PAGES) == 3
    assert shop.qty(shop.ids["SKU-003"]) == 8  # type: ignore[attr-defined]


def test_a_synced_variant_deleted_in_squarespace_falls_back_to_every_page(shop):
    ids = shop.ids  # type: ignore[attr-defined]
    shop.emu.state.remove_variant(ids["SKU-009"])
    shop.stocks({"SKU-009": 7, "SKU-010": 7})

    report = shop.run_json()

    assert "incremental" not in report and shop.emu.stats.count("GET", PAGES) == 3
    assert shop.qty(ids["SKU-010"]) == 7
