"""Seeded, realistic shop data: a catalogue of variants and a month of orders.

The same seed and ``now`` always give the same shop. The data has the awkward cases a
connector meets in real shops: unlimited variants, variants without a SKU, two variants
sharing a SKU, digital / service / gift-card lines (digital ones without sku and
variantId), orders with no physical line, test-mode orders, null payment states, and
addresses in several countries. Work is linear in the number of orders, so 100,000 orders
take seconds.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import random
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqsync.emulator.wire import datetime_to_ms, ms_to_iso

CURRENCY = "GBP"
DAY_MS = 86_400_000
# (product name, SKU code, price in pence, option name, option values)
_PRODUCTS = [
    (
        "Classic Tee",
        "TEE",
        1800,
        "Colour/Size",
        ["RED", "BLUE", "BLACK", "WHITE"],
        ["S", "M", "L", "XL"],
    ),
    ("Hoodie", "HOOD", 4200, "Colour/Size", ["GREY", "NAVY", "BLACK"], ["S", "M", "L", "XL"]),
    ("Enamel Mug", "MUG", 1200, "Colour", ["WHITE", "GREEN", "BLUE"], []),
    ("Canvas Tote", "TOTE", 1500, "Colour", ["NATURAL", "BLACK"], []),
    ("Wool Beanie", "BEANIE", 2200, "Colour", ["RUST", "OLIVE", "CHARCOAL"], []),
    ("Art Print", "PRINT", 2500, "Size", ["A4", "A3", "A2"], []),
    ("Soy Candle", "CANDLE", 1900, "Scent", ["FIG", "CEDAR", "MINT"], []),
    ("Notebook", "NOTE", 900, "Paper", ["LINED", "PLAIN", "DOT"], []),
]
_NON_PHYSICAL = [
    ("DIGITAL", "Phone Wallpaper Pack", 300),
    ("DIGITAL", "Pattern PDF", 650),
    ("SERVICE", "Gift Wrapping", 350),
    ("SERVICE", "Personal Styling Call", 4000),
    ("GIFT_CARD", "Gift Card", 2500),
]
_STREETS = ["High Street", "Mill Lane", "Rue Verte", "Main St", "Church Road"]
_FIRST = ["Jane", "Tom", "Aisha", "Liam", "Olivia", "Noah", "Chloe", "Ravi", "Mia", "Owen", "Zoe"]
_LAST = ["Doe", "Smith", "Khan", "Murphy", "Jones", "Brown", "Patel", "Evans", "Walsh", "Martin"]
# country: (weight, [(city, state, postal code)], phone prefix)
_COUNTRIES: dict[str, tuple[int, list[tuple[str, str | None, str]], str]] = {
    "GB": (
        70,
        [
            ("Leeds", "West Yorkshire", "LS1 1AA"),
            ("London", None, "SW1A 2AA"),
            ("Bristol", None, "BS1 4DJ"),
            ("Glasgow", None, "G1 1XQ"),
        ],
        "+44",
    ),
    "US": (8, [("Portland", "OR", "97205"), ("Austin", "TX", "78701")], "+1"),
    "DE": (6, [("Berlin", None, "10115"), ("Hamburg", None, "20095")], "+49"),
    "FR": (6, [("Lyon", None, "69001"), ("Paris", None, "75004")], "+33"),
    "IE": (5, [("Dublin", "Co. Dublin", "D02 X285"), ("Cork", "Co. Cork", "T12 RW26")], "+353"),
    "IM": (2, [("Douglas", None, "IM1 1AA")], "+44"),
    "JE": (3, [("St Helier", None, "JE2 3AA")], "+44"),
}
_COUNTRY_CODES = list(_COUNTRIES)
_COUNTRY_WEIGHTS = list(itertools.accumulate(w for w, _, _ in _COUNTRIES.values()))
_STATUSES = ["PENDING", "FULFILLED", "CANCELED"]
_STATUS_WEIGHTS = list(itertools.accumulate([82, 14, 4]))
_PAYMENTS = ["PAID", "AUTHORIZED", "NOT_CHARGED", "PENDING", "FAILED", "REFUNDED", None]
_PAYMENT_WEIGHTS = list(itertools.accumulate([78, 5, 3, 2, 2, 4, 6]))


@functools.cache
def _amount(pence: int) -> str:
    sign = "-" if pence < 0 else ""
    pence = abs(pence)
    return f"{sign}{pence // 100}.{pence % 100:02d}"


def money(pence: int) -> dict[str, str]:
    return {"value": _amount(pence), "currency": CURRENCY}


def _pence(value: str) -> int:
    whole, _, fraction = value.partition(".")
    return int(whole) * 100 + int((fraction + "00")[:2])


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def _uuid(rng: random.Random) -> str:
    h = _hex(rng, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _address(rng: random.Random, country: str) -> dict[str, str | None]:
    _, places, phone = _COUNTRIES[country]
    city, state, postal = rng.choice(places)
    return {
        "firstName": rng.choice(_FIRST),
        "lastName": rng.choice(_LAST),
        "address1": f"{rng.randint(1, 220)} {rng.choice(_STREETS)}",
        "address2": rng.choice([None, None, None, "Flat 2", "Unit 5"]),
        "city": city,
        "state": state,
        "countryCode": country,
        "postalCode": postal,
        "phone": f"{phone} {rng.randint(1000000, 9999999)}",
    }


def _line(
    line_id: str,
    kind: str,
    name: str,
    pence: int,
    quantity: int,
    sku: str | None = None,
    variant_id: str | None = None,
    options: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    physical = kind == "PHYSICAL_PRODUCT"
    return {
        "id": line_id,
        "variantId": variant_id,
        "sku": sku,
        "productId": None if kind == "DIGITAL" else line_id[::-1],
        "productName": name,
        "quantity": quantity,
        "unitPricePaid": money(pence),
        "variantOptions": options if physical else None,
        "customizations": None,
        "imageUrl": None,
        "lineItemType": kind,
        "weight": 0.4 if physical else 0.0,
        "width": 20.0 if physical else 0.0,
        "length": 30.0 if physical else 0.0,
        "height": 3.0 if physical else 0.0,
    }


def build_order(
    *,
    order_id: str,
    number: int | None,
    created_ms: int,
    modified_ms: int,
    line: dict[str, Any] | None = None,
    lines: list[dict[str, Any]] | None = None,
    address: dict[str, Any] | None = None,
    status: str = "PENDING",
    payment: str | None = "PAID",
    testmode: bool = False,
    discount_pence: int = 0,
    fulfilled_ms: int | None = None,
    fulfillments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An order with consistent totals (prices include 20% VAT).

    ``line`` is the simple form used by test helpers: ``{sku, variant_id, quantity, price,
    name}`` for one physical line; ``lines`` are ready-made line items.
    """
    if lines is None:
        simple = line or {}
        lines = [
            _line(
                order_id[:12] + "000000000001",
                "PHYSICAL_PRODUCT",
                simple.get("name", "Test product"),
                _pence(str(simple.get("price", "10.00"))),
                simple.get("quantity", 1),
                simple.get("sku"),
                simple.get("variant_id"),
                [],
            )
        ]
    address = address or {
        "firstName": "Jane",
        "lastName": "Doe",
        "address1": "1 High Street",
        "address2": None,
        "city": "Leeds",
        "state": "West Yorkshire",
        "countryCode": "GB",
        "postalCode": "LS1 1AA",
        "phone": "+44 1130000000",
    }
    subtotal = sum(_pence(li["unitPricePaid"]["value"]) * li["quantity"] for li in lines)
    physical = any(li["lineItemType"] == "PHYSICAL_PRODUCT" for li in lines)
    shipping = 395 if physical and subtotal < 5000 else 0
    grand = subtotal + shipping - discount_pence
    shipping_lines = (
        [{"method": "Royal Mail Tracked 48", "amount": money(shipping)}] if physical else []
    )
    discounts = []
    if discount_pence:
        discounts = [
            {
                "description": "10% off",
                "name": "Welcome",
                "promoCode": "WELCOME10",
                "amount": money(discount_pence),
            }
        ]
    return {
        "id": order_id,
        "orderNumber": None if number is None else str(number),
        "createdOn": ms_to_iso(created_ms),
        "modifiedOn": ms_to_iso(modified_ms),
        "channel": "web",
        "channelName": "Squarespace",
        "externalOrderReference": None,
        "testmode": testmode,
        "customerEmail": f"{address['firstName']}.{address['lastName']}@example.com".lower(),
        "customerId": None,
        "billingAddress": dict(address),
        "shippingAddress": dict(address) if physical else None,
        "fulfillmentStatus": status,
        "paymentState": payment,
        "lineItems": lines,
        "internalNotes": [],
        "shippingLines": shipping_lines,
        "discountLines": discounts,
        "formSubmission": None,
        "fulfillments": fulfillments or [],
        "subtotal": money(subtotal),
        "shippingTotal": money(shipping),
        "discountTotal": money(discount_pence),
        "taxTotal": money(round(grand / 6)),
        "refundedTotal": money(grand if payment == "REFUNDED" else 0),
        "grandTotal": money(grand),
        "fulfilledOn": None if fulfilled_ms is None else ms_to_iso(fulfilled_ms),
        "priceTaxInterpretation": "INCLUSIVE",
        "shippingOptionName": "Royal Mail Tracked 48" if physical else None,
        "shippingOptionServiceType": "OTHER" if physical else None,
    }


def _variants(rng: random.Random, count: int) -> list[dict[str, Any]]:
    combos = []
    for series in itertools.count(1):
        for name, code, pence, option, first, second in _PRODUCTS:
            prefix = code if series == 1 else f"{code}{series}"
            title = name if series == 1 else f"{name} {series}"
            seconds: list[str | None] = list(second) if second else [None]
            for combo in itertools.product(first, seconds):
                values = [v for v in combo if v is not None]
                combos.append((title, "-".join([prefix, *values]), pence, option, values))
                if len(combos) == count:
                    break
            if len(combos) == count:
                break
        if len(combos) >= count:
            break
    items = []
    for title, sku, pence, option, values in combos:
        items.append(
            {
                "variantId": _uuid(rng),
                "sku": sku,
                "descriptor": f"{title} [{', '.join(v.title() for v in values)}]",
                "isUnlimited": rng.random() < 0.05,
                "quantity": rng.randint(0, 200),
                # Private to the generator, removed before the items are returned.
                "_price": pence,
                "_options": [
                    {"optionName": name, "value": v.title()}
                    for name, v in zip(option.split("/"), values, strict=False)
                ],
            }
        )
    if count >= 10:
        items[-1]["sku"] = None  # merchants leave SKUs blank
    if count >= 3:
        items[-2]["sku"] = items[0]["sku"]  # and reuse them
    return items


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Building a big shop makes millions of dicts and no garbage: the cyclic collector
    would only slow it down (by about half)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def generate_shop(orders: int, variants: int, seed: int, now: datetime) -> dict[str, Any]:
    """``{"orders", "inventory", "keys"}`` for :meth:`EmulatorState.generate`."""
    rng = random.Random(seed)
    items = _variants(rng, variants)
    end_ms = datetime_to_ms(now)
    start_ms = end_ms - 30 * DAY_MS
    span = end_ms - start_ms
    physical = [item for item in items if item["sku"] is not None] or items
    result = []
    choices = rng.choices
    for number in range(orders):
        order_id = _hex(rng, 24)
        created = start_ms + int((number + rng.random()) * span / max(orders, 1))
        status = choices(_STATUSES, cum_weights=_STATUS_WEIGHTS)[0]
        payment = choices(_PAYMENTS, cum_weights=_PAYMENT_WEIGHTS)[0]
        country = choices(_COUNTRY_CODES, cum_weights=_COUNTRY_WEIGHTS)[0]
        only_digital = rng.random() < 0.05 or not physical
        lines = []
        for line_number in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
            line_id = f"{order_id[:16]}{line_number:08x}"
            if only_digital or rng.random() < 0.1:
                kind, name, pence = rng.choice(_NON_PHYSICAL)
                gift = kind != "DIGITAL"
                vid, sku = (_uuid(rng), f"{kind[:3]}-{pence}") if gift else (None, None)
                lines.append(_line(line_id, kind, name, pence, 1, sku, vid))
            else:
                item = rng.choice(physical)
                lines.append(
                    _line(
                        line_id,
                        "PHYSICAL_PRODUCT",
                        item["descriptor"].split(" [")[0],
                        item["_price"],
                        rng.choice((1, 1, 1, 2, 3)),
                        item["sku"],
                        item["variantId"],
                        item["_options"],
                    )
                )
        modified = min(created + rng.randint(500, 5000), end_ms)
        fulfilled = fulfillments = None
        if status == "FULFILLED":
            fulfilled = min(created + rng.randint(DAY_MS // 4, 3 * DAY_MS), end_ms)
            modified = fulfilled
            tracking = f"AB{rng.randint(100000000, 999999999)}GB"
            fulfillments = [
                {
                    "shipDate": ms_to_iso(fulfilled),
                    "carrierName": "Royal Mail",
                    "service": "Tracked 48",
                    "trackingNumber": tracking,
                    "trackingUrl": f"https://www.royalmail.com/track-your-item#/tracking-results/{tracking}",
                }
            ]
        elif status == "CANCELED":
            modified = min(created + rng.randint(60_000, DAY_MS), end_ms)
        subtotal = sum(_pence(li["unitPricePaid"]["value"]) * li["quantity"] for li in lines)
        discount = subtotal // 10 if rng.random() < 0.1 else 0
        result.append(
            build_order(
                order_id=order_id,
                number=1001 + number,
                created_ms=created,
                modified_ms=modified,
                lines=lines,
                address=_address(rng, country),
                status=status,
                payment=payment,
                testmode=rng.random() < 0.03,
                discount_pence=discount,
                fulfilled_ms=fulfilled,
                fulfillments=fulfillments,
            )
        )
    for item in items:
        del item["_price"], item["_options"]
    key = f"sqemu_{seed}_{_hex(rng, 16)}"
    return {"orders": result, "inventory": items, "keys": {key: {}}}
