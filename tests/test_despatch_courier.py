"""despatch add and despatch import take the order's mapped carrier and service when a
row gives none (issue 14, courier mapping), and say in one line when there are none."""

from __future__ import annotations

import pytest

from test_courier_map import METHOD, TRACKED
from test_order_actions import Shop


@pytest.fixture
def shop(tmp_path, emulator, monkeypatch) -> Shop:
    monkeypatch.setenv("ACME_KEY", emulator.api_key)
    return Shop(tmp_path, emulator, courier_map={METHOD: TRACKED})


def couriers(shop: Shop, number: str) -> list[tuple[str, str, str | None]]:
    with shop.store() as store:
        rows = store.conn.execute(
            "SELECT s.carrier, s.service, s.tracking_number FROM shipments s"
            " JOIN orders o ON o.id = s.order_id WHERE o.order_number = ? ORDER BY s.id",
            (number,),
        )
        return [tuple(row) for row in rows]


def test_despatch_add_without_a_carrier_takes_the_mapped_one(shop):
    _, number = shop.imported()

    result = shop.cli("despatch", "add", number, "--tracking-number", "RM1GB")

    assert result.exit_code == 0, result.output
    assert couriers(shop, number) == [("Royal Mail", "Tracked 48", "RM1GB")]


def test_a_row_naming_its_carrier_keeps_it(shop):
    _, number = shop.imported()

    result = shop.cli(
        "despatch", "add", number, "--carrier", "DPD", "--service", "Next Day",
        "--tracking-number", "15501",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert couriers(shop, number) == [("DPD", "Next Day", "15501")]


def test_a_feed_without_carrier_columns_takes_each_orders_mapped_courier(shop, tmp_path):
    _, first = shop.imported()
    _, second = shop.imported()
    feed = tmp_path / "shipped.csv"
    feed.write_text(f"order_number,tracking_number\n{first},RM2GB\n{second},RM3GB\n")

    result = shop.cli("despatch", "import", str(feed))

    assert result.exit_code == 0, result.output
    assert couriers(shop, first) == [("Royal Mail", "Tracked 48", "RM2GB")]
    assert couriers(shop, second) == [("Royal Mail", "Tracked 48", "RM3GB")]


def test_an_order_without_a_mapped_courier_and_a_row_without_one_is_one_line(
    tmp_path, emulator, monkeypatch
):
    monkeypatch.setenv("ACME_KEY", emulator.api_key)
    shop = Shop(tmp_path, emulator)  # no courier map: orders carry no courier
    _, number = shop.imported()

    result = shop.cli("despatch", "add", number, "--tracking-number", "RM4GB")

    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "no carrier and service given" in result.stderr and METHOD in result.stderr
    assert couriers(shop, number) == []


def test_a_held_unmapped_order_in_a_feed_is_refused_for_its_status_not_its_courier(shop, tmp_path):
    _, mapped = shop.imported()
    unmapped_id = shop.add(
        shippingLines=[{"method": "Courier Pigeon", "amount": {"currency": "GBP", "value": "1"}}]
    )
    shop.import_orders()  # HOLDING unmapped_shipping:Courier Pigeon
    unmapped = shop.number(unmapped_id)
    feed = tmp_path / "shipped.csv"
    feed.write_text(f"order_number,tracking_number\n{mapped},RM5GB\n{unmapped},RM6GB\n")

    refused = shop.cli("despatch", "import", str(feed))
    assert refused.exit_code == 1 and f"order {unmapped} is HOLDING" in refused.stderr
    assert couriers(shop, mapped) == []  # all or nothing

    skipped = shop.cli("despatch", "import", str(feed), "--skip-refused")

    assert skipped.exit_code == 0, skipped.output
    assert couriers(shop, mapped) == [("Royal Mail", "Tracked 48", "RM5GB")]
    assert couriers(shop, unmapped) == []
