"""`[connections.courier_map]`: a Squarespace shipping method becomes a carrier and service
(Mintsoft's courier service mapping); an unmapped method holds the order until the map
covers it. Validation at load, then end to end against the emulator."""

from __future__ import annotations

import csv
import io
import json

import pytest

from factories import write_config
from sqsync.config import load_config
from sqsync.domain.orders import Courier
from sqsync.errors import ConfigError
from sqsync.jobs.import_orders import SETTINGS_KEY
from sqsync.jobs.order_mapping import MappingSettings
from sqsync.store.sync_state import get_state
from test_order_actions import Shop

METHOD = "Royal Mail Tracked 48"  # what the emulator's orders ship by
TRACKED = {"carrier": "Royal Mail", "service": "Tracked 48"}
NEXT_DAY = {"carrier": "DPD", "service": "Next Day"}


@pytest.fixture
def shop(tmp_path, emulator, monkeypatch) -> Shop:
    monkeypatch.setenv("ACME_KEY", emulator.api_key)
    return Shop(tmp_path, emulator)


# -- the config ---------------------------------------------------------------------------


def test_a_map_with_a_default_loads(tmp_path):
    path = write_config(tmp_path, courier_map={"Standard": TRACKED, "default": NEXT_DAY})
    [connection] = load_config(path).connections
    assert connection.couriers() == (
        {"Standard": Courier("Royal Mail", "Tracked 48")},
        Courier("DPD", "Next Day"),
    )


def test_no_map_by_default(tmp_path):
    [connection] = load_config(write_config(tmp_path)).connections
    assert connection.courier_map == {} and connection.couriers() == ({}, None)


@pytest.mark.parametrize(
    ("courier_map", "message"),
    [
        ({}, "courier_map: must map at least one shipping method"),
        ({"Standard": {"carrier": "", "service": "x"}}, "courier_map.Standard.carrier: must be"),
        ({"Standard": {"carrier": " DPD", "service": "x"}}, "no leading or trailing spaces"),
        ({"Standard": {"carrier": "DPD", "service": "x" * 101}}, "at most 100 characters"),
        ({"S" * 101: TRACKED}, "at most 100 characters"),
        ({"Standard ": TRACKED}, "no leading or trailing spaces"),
        ({"Standard": {"carrier": "DPD"}}, "courier_map.Standard.service: required"),
        ({"Standard": {**TRACKED, "price": "3"}}, "courier_map.Standard.price: unknown key"),
        ({"Standard": {"carrier": 5, "service": "x"}}, "courier_map.Standard.carrier: input"),
        ({"Standard": "Royal Mail"}, "courier_map.Standard: input should be a valid dict"),
    ],
)
def test_a_bad_map_is_one_line_naming_the_key(tmp_path, courier_map, message):
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, courier_map=courier_map))
    text = str(caught.value)
    assert 'connection "acme"' in text and message in text and "\n" not in text


def test_a_name_on_two_lines_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"courier_map\.Standard\.carrier: must be one line"):
        load_config(
            write_config(tmp_path, courier_map={"Standard": {"carrier": "A\nB", "service": "x"}})
        )


def test_the_fingerprint_changes_with_the_map_and_not_without_one():
    plain = MappingSettings()
    # Without a map it is what it was before maps existed: no NEW order is re-evaluated.
    assert plain.fingerprint() == '[[],["AUTHORIZED","NOT_CHARGED","PAID"],null]'
    mapped = MappingSettings(couriers={METHOD: Courier("Royal Mail", "Tracked 48")})
    other = MappingSettings(couriers={METHOD: Courier("Royal Mail", "Tracked 24")})
    defaulted = MappingSettings(default_courier=Courier("DPD", "Next Day"))
    fingerprints = {s.fingerprint() for s in (plain, mapped, other, defaulted)}
    assert len(fingerprints) == 4


# -- end to end -----------------------------------------------------------------------------


def test_a_mapped_method_gives_the_order_its_carrier_and_service_in_every_format(shop):
    shop.configure(courier_map={METHOD: TRACKED, "default": NEXT_DAY})
    _, number = shop.imported()

    order = shop.order(number)
    assert (order["status"], order["carrier"], order["service"]) == ("NEW", *TRACKED.values())

    shown = json.loads(shop.cli("orders", "show", number).stdout)
    assert (shown["carrier"], shown["service"]) == ("Royal Mail", "Tracked 48")
    ndjson = json.loads(shop.cli("orders", "list", "--format", "ndjson").stdout)
    assert (ndjson["carrier"], ndjson["service"]) == ("Royal Mail", "Tracked 48")
    [row] = csv.DictReader(io.StringIO(shop.cli("orders", "list", "--format", "csv").stdout))
    assert (row["shipping_method"], row["carrier"], row["service"]) == (
        METHOD,
        "Royal Mail",
        "Tracked 48",
    )
    table = shop.cli("orders", "list").stdout.splitlines()
    header = table[0].split()
    assert {"problems", "shipping_method", "carrier", "service"} <= set(header)
    assert METHOD in table[2] and "Royal Mail" in table[2] and "Tracked 48" in table[2]


def test_an_unmapped_method_takes_the_default(shop):
    shop.configure(courier_map={"Collect in store": TRACKED, "default": NEXT_DAY})
    _, number = shop.imported()
    order = shop.order(number)
    assert (order["status"], order["carrier"], order["service"]) == ("NEW", "DPD", "Next Day")


def test_without_a_default_an_unmapped_order_is_held_until_the_map_covers_it(shop):
    shop.configure(courier_map={"Collect in store": TRACKED})
    shop.know("RED-S")
    sq_id = shop.add()
    first = shop.import_orders(quiet=True)
    number = shop.number(sq_id)

    assert first["held"] == 1
    order = shop.order(number)
    assert (order["status"], order["problems"]) == ("HOLDING", [f"unmapped_shipping:{METHOD}"])
    assert (order["carrier"], order["service"]) == (None, None)
    assert f"is HOLDING: unmapped_shipping:{METHOD}" in shop.stderr

    shop.configure(courier_map={"Collect in store": TRACKED, METHOD: NEXT_DAY})
    second = shop.import_orders()

    assert second["released"] == 1
    order = shop.order(number)
    assert (order["status"], order["problems"]) == ("NEW", [])
    assert (order["carrier"], order["service"]) == ("DPD", "Next Day")


def test_adding_a_map_maps_and_holds_the_stored_new_orders(shop):
    shop.know("RED-S")
    covered = shop.add()
    uncovered = shop.add(shippingLines=[{"method": "Express", "amount": None}])
    shop.import_orders()
    assert {shop.order(shop.number(i))["status"] for i in (covered, uncovered)} == {"NEW"}

    shop.configure(courier_map={METHOD: TRACKED})
    line = shop.import_orders()

    assert line["held"] == 1
    assert shop.order(shop.number(covered))["carrier"] == "Royal Mail"
    held = shop.order(shop.number(uncovered))
    assert (held["status"], held["problems"]) == ("HOLDING", ["unmapped_shipping:Express"])


def test_a_method_changed_in_squarespace_is_mapped_again(shop):
    shop.configure(courier_map={METHOD: TRACKED, "Express": NEXT_DAY})
    sq_id, number = shop.imported()
    shop.emu.update_order(sq_id, shippingLines=[{"method": "Express", "amount": None}])
    shop.import_orders()
    order = shop.order(number)
    assert (order["shipping_method"], order["carrier"], order["service"]) == (
        "Express",
        "DPD",
        "Next Day",
    )


def test_without_a_map_nothing_changes(shop):
    _, number = shop.imported()
    order = shop.order(number)
    assert (order["status"], order["problems"], order["carrier"], order["service"]) == (
        "NEW",
        [],
        None,
        None,
    )
    with shop.store() as store:
        fingerprint = get_state(store, "acme", SETTINGS_KEY)
    assert fingerprint == MappingSettings().fingerprint()


def test_removing_the_map_clears_the_carrier_and_releases(shop):
    shop.configure(courier_map={"Collect in store": TRACKED})
    shop.know("RED-S")
    sq_id = shop.add()
    shop.import_orders()
    shop.configure()
    assert shop.import_orders()["released"] == 1
    assert shop.order(shop.number(sq_id))["status"] == "NEW"
