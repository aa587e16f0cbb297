"""The emulated shop: orders, inventory, API keys, and the operations the API performs on them.

Everything is in memory and guarded by one lock, so the threaded HTTP server and test code
can change the shop at the same time. Orders are kept in a list sorted by
``(modifiedOn, id)`` so a page is a bisect plus a short scan, never a sort.

Where Squarespace's behaviour is not documented, the emulator chooses, and says so here:

- The ``modifiedAfter``/``modifiedBefore`` window includes ``modifiedAfter`` and excludes
  ``modifiedBefore``; orders are listed by ``modifiedOn`` ascending, ties broken by ``id``.
- Cursors carry the filters and the last ``(modifiedOn, id)`` returned, so walks are
  dynamic like the real ones: an order modified mid-walk moves to the end of the walk.
- A fulfilment of a CANCELED order answers ``409 CONFLICT``; a fulfilment with no
  shipments marks the order FULFILLED without tracking.
- Adjustments apply all operations or none; ``adjustments_applied`` counts requests, not
  operations. An Idempotency-Key reused with a different body answers 400; a key whose
  first attempt failed is not used up; keys are remembered for the life of the state.
- Increments past :data:`~sqsync.emulator.validation.MAX_STOCK` answer ``409 STOCK_EXCEEDS_MAX``.
- The merchant's side (:mod:`.admin`): cancelling a canceled order, refunding a refunded
  one or fulfilling a canceled one answers ``409``; a merchant's fulfilment (not through
  the API) is not counted in ``fulfilments_applied`` and sends no email.
- ``GET /1.0/authorization/website`` names the site a key opens: the state's own site (one
  per state, a new id each time it is made) unless the key was added with ``site=`` naming
  another; a key added with ``website=None`` is refused it (403).
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
import time
import uuid
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqsync.emulator.validation import (
    MAX_STOCK,
    PAGE_SIZE,
    Adjustment,
    OrderQuery,
    Position,
)
from sqsync.emulator.wire import ApiError, datetime_to_ms, invalid, iso_to_ms, ms_to_iso
from sqsync.errors import InputError

PERMISSIONS = ("r", "rw", None)


@dataclass
class KeyInfo:
    """What one API key may do: ``"r"``, ``"rw"`` or None per API, and whether the site lapsed.

    ``site`` is the id of the site the key opens (None: the state's own site); ``website``
    whether it may read that site's basic information (``"r"``) or not (None: 403).
    """

    orders: str | None = "rw"
    inventory: str | None = "rw"
    expired: bool = False
    site: str | None = None
    website: str | None = "r"

    def __post_init__(self) -> None:
        if self.orders not in PERMISSIONS or self.inventory not in PERMISSIONS:
            raise ValueError('permissions must be "r", "rw" or None')
        if self.website not in ("r", None):
            raise ValueError('the website permission must be "r" or None')
        if not isinstance(self.expired, bool):
            raise ValueError("expired must be true or false")
        if self.site is not None and not isinstance(self.site, str):
            raise ValueError("site must be a string or None")

    @property
    def full(self) -> bool:
        return self.orders == "rw" and self.inventory == "rw" and not self.expired


class Stats:
    """Counters of what the emulator was asked and did; thread-safe, ``reset()`` to zero."""

    _COUNTERS = (
        "requests",
        "adjustments_applied",
        "idempotent_replays",
        "fulfilments_applied",
        "emails_sent",
        "faults_injected",
        "rate_limited",
    )

    requests: int
    adjustments_applied: int
    idempotent_replays: int
    fulfilments_applied: int
    emails_sent: int
    faults_injected: int
    rate_limited: int

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            for name in self._COUNTERS:
                setattr(self, name, 0)
            self.per_endpoint: dict[tuple[str, str], int] = {}

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def record_request(self, method: str, route: str) -> None:
        with self._lock:
            self.requests += 1
            key = (method, route)
            self.per_endpoint[key] = self.per_endpoint.get(key, 0) + 1

    def count(self, method: str, route: str) -> int:
        """Requests seen for one route, e.g. ``count("GET", "/1.0/commerce/orders")``."""
        with self._lock:
            return self.per_endpoint.get((method, route), 0)

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            data: dict[str, Any] = {name: getattr(self, name) for name in self._COUNTERS}
            data["per_endpoint"] = {f"{m} {r}": n for (m, r), n in self.per_endpoint.items()}
            return data


@dataclass
class _Claim:
    body: str
    done: bool = False


@dataclass
class _Shop:
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    order_index: list[Position] = field(default_factory=list)
    inventory: dict[str, dict[str, Any]] = field(default_factory=dict)
    variant_index: list[str] = field(default_factory=list)


def _new_id() -> str:
    return secrets.token_hex(12)


class EmulatorState:
    """One emulated Squarespace site.

    ``now`` (wall clock, aware UTC datetimes) stamps orders; ``clock`` (monotonic seconds)
    drives the rate limit. Both are plain attributes so tests can replace them.
    """

    def __init__(
        self,
        orders: Iterable[dict[str, Any]] = (),
        inventory: Iterable[dict[str, Any]] = (),
        keys: dict[str, KeyInfo] | None = None,
        *,
        now: Callable[[], datetime] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.RLock()
        self._shop = _Shop()
        self._claims: dict[str, _Claim] = {}
        self.keys: dict[str, KeyInfo] = dict(keys or {})
        # The site this state is; keys open it unless they name another (KeyInfo.site).
        self.site_id = _new_id()
        self.site_title = "Emulated Squarespace shop"
        self.stats = Stats()
        # Rehearsal of a broken API: order listings that never end (new cursors, nothing new).
        self.endless_paging = False
        self.endless_pages = 0
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self.clock = clock
        # Called with the Idempotency-Key while an adjustment is claimed but not yet applied:
        # lets a test hold a request "in flight" without sleeping.
        self.during_adjustment: Callable[[str], None] | None = None
        # Called with the order id when a fulfilment has arrived but is not yet applied, with
        # no lock held: a test holds the POST "in flight" (a slow Squarespace) and meanwhile
        # runs a rerun, without sleeping.
        self.during_fulfilment: Callable[[str], None] | None = None
        # Variants whose adjustments answer 500: a server failing on one item, for
        # rehearsing a batch that keeps failing while the others go through.
        self.failing_variants: set[str] = set()
        self._bulk_load(list(orders), list(inventory))

    # ----------------------------------------------------------------- construction

    def _bulk_load(self, orders: list[dict[str, Any]], inventory: list[dict[str, Any]]) -> None:
        shop = self._shop
        numbers = [int(o["orderNumber"]) for o in orders if str(o.get("orderNumber")).isdigit()]
        # Numbering goes on from the shop's orders; a new shop starts at 1001 like the generator.
        self._next_number = max(numbers) + 1 if numbers else 1001
        for number, order in enumerate(orders):
            if not isinstance(order.get("id"), str) or iso_to_ms(order.get("modifiedOn")) is None:
                raise ValueError(f"order {number} needs a string id and an ISO-8601 modifiedOn")
            shop.orders[order["id"]] = order
        shop.order_index = sorted(
            (iso_to_ms(o["modifiedOn"]) or 0, oid) for oid, o in shop.orders.items()
        )
        for number, item in enumerate(inventory):
            if not isinstance(item.get("variantId"), str):
                raise ValueError(f"inventory item {number} needs a string variantId")
            shop.inventory[item["variantId"]] = item
        shop.variant_index = sorted(shop.inventory)

    @classmethod
    def generate(
        cls, orders: int, variants: int, seed: int, *, now: datetime | None = None
    ) -> EmulatorState:
        """A realistic shop, the same for the same ``seed`` and ``now`` (default: the time now)."""
        from sqsync.emulator.generate import gc_paused, generate_shop

        with gc_paused():
            data = generate_shop(orders, variants, seed, now or datetime.now(UTC))
            keys = {key: KeyInfo(**info) for key, info in data["keys"].items()}
            return cls(data["orders"], data["inventory"], keys)

    @classmethod
    def load(cls, path: str | Path) -> EmulatorState:
        """A shop from a JSON file ``{"orders": [...], "inventory": [...], "keys": {...}}``."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise InputError(f"cannot read emulator state {path}: {error.strerror}") from None
        except ValueError as error:
            raise InputError(f"emulator state {path} is not valid JSON: {error}") from None
        from sqsync.emulator.shop_file import check_shop

        try:
            # Refused now, naming the record, rather than answered with a 500 later.
            check_shop(data)
            keys = {key: KeyInfo(**info) for key, info in (data.get("keys") or {}).items()}
            return cls(data.get("orders") or [], data.get("inventory") or [], keys)
        except (TypeError, ValueError, AttributeError) as error:
            raise InputError(f"emulator state {path} is not usable: {error}") from None

    def save(self, path: str | Path) -> None:
        with self._lock:
            data = {
                "orders": [self._shop.orders[oid] for _, oid in self._shop.order_index],
                "inventory": [self._shop.inventory[vid] for vid in self._shop.variant_index],
                "keys": {key: asdict(info) for key, info in self.keys.items()},
            }
            text = json.dumps(data, indent=1)
        Path(path).write_text(text + "\n", encoding="utf-8")

    # ----------------------------------------------------------------- keys

    def add_key(
        self,
        key: str,
        orders: str | None = "rw",
        inventory: str | None = "rw",
        expired: bool = False,
        *,
        site: str | None = None,
        website: str | None = "r",
    ) -> str:
        """Add a key; ``site`` names the site it opens (default: this state's own site),
        so two keys added with one ``site`` belong to one site."""
        with self._lock:
            self.keys[key] = KeyInfo(orders, inventory, expired, site, website)
        return key

    def key_info(self, key: str) -> KeyInfo | None:
        with self._lock:
            return self.keys.get(key)

    def website(self, key: str) -> dict[str, Any]:
        """``GET /1.0/authorization/website`` for ``key``: the site it opens."""
        with self._lock:
            info = self.keys.get(key)
            site = info.site if info is not None and info.site else self.site_id
            own = site == self.site_id
            slug = "emulated-shop" if own else "".join(c for c in site.lower() if c.isalnum())
            return {
                "id": site,
                "websiteTitle": self.site_title if own else f"Emulated shop {site}",
                "websiteUrl": f"https://{slug or 'site'}.squarespace.com",
                "timeZone": "Europe/London",
                "language": "en-GB",
                "createdOn": "2024-01-01T00:00:00.000Z",
            }

    def full_key(self) -> str:
        """A key with every permission, made up when the state has none."""
        with self._lock:
            for key, info in self.keys.items():
                if info.full:
                    return key
            return self.add_key("sqemu_" + secrets.token_hex(16))

    # ----------------------------------------------------------------- snapshots for tests

    @property
    def orders(self) -> dict[str, dict[str, Any]]:
        """A deep copy of every order by id (changing it changes nothing in the shop)."""
        with self._lock:
            return copy.deepcopy(self._shop.orders)

    @property
    def inventory(self) -> dict[str, dict[str, Any]]:
        """A copy of every inventory item by variantId."""
        with self._lock:
            return {vid: dict(item) for vid, item in self._shop.inventory.items()}

    def counts(self) -> dict[str, int]:
        """How many orders and variants the shop has (cheap, unlike the snapshots)."""
        with self._lock:
            return {"orders": len(self._shop.orders), "variants": len(self._shop.inventory)}

    # ----------------------------------------------------------------- test helpers

    def _now_ms(self) -> int:
        return datetime_to_ms(self.now())

    def _reindex(self, order: dict[str, Any], modified_ms: int) -> None:
        index, oid = self._shop.order_index, order["id"]
        old = iso_to_ms(order.get("modifiedOn"))
        if oid in self._shop.orders and old is not None:
            at = bisect_left(index, (old, oid))
            if at < len(index) and index[at] == (old, oid):
                del index[at]
        order["modifiedOn"] = ms_to_iso(modified_ms)
        insort(index, (modified_ms, oid))

    def _touch(self, order: dict[str, Any]) -> None:
        """Bump modifiedOn to now, always strictly later than before."""
        old = iso_to_ms(order["modifiedOn"]) or 0
        self._reindex(order, max(self._now_ms(), old + 1))

    def make_order(self, **overrides: Any) -> dict[str, Any]:
        """A valid PENDING, PAID order to GB with one physical line (not added to the shop).

        ``sku``, ``variant_id``, ``quantity`` and ``price`` shape the line (default: the
        first inventory item, 1 at 10.00); other keyword arguments are camelCase fields.
        """
        from sqsync.emulator.generate import build_order

        with self._lock:
            first = (
                self._shop.inventory[self._shop.variant_index[0]] if self._shop.inventory else {}
            )
            line = {
                "sku": overrides.pop("sku", first.get("sku", "SKU-1")),
                "variant_id": overrides.pop("variant_id", first.get("variantId")),
                "quantity": overrides.pop("quantity", 1),
                "price": overrides.pop("price", "10.00"),
                "name": first.get("descriptor", "Test product"),
            }
            now_ms = self._now_ms()
        order = build_order(
            order_id=_new_id(), number=None, created_ms=now_ms, modified_ms=now_ms, line=line
        )
        order.update(overrides)
        return order

    def add_order(self, order: dict[str, Any]) -> str:
        """Add an order (a copy): assigns id and orderNumber when missing, modifiedOn now."""
        order = copy.deepcopy(order)
        with self._lock:
            order.setdefault("id", _new_id())
            if order["id"] in self._shop.orders:
                raise ValueError(f"order {order['id']} already exists")
            if not order.get("orderNumber"):
                order["orderNumber"] = str(self._next_number)
            if str(order["orderNumber"]).isdigit():
                self._next_number = max(self._next_number, int(order["orderNumber"]) + 1)
            now_ms = self._now_ms()
            order.setdefault("createdOn", ms_to_iso(now_ms))
            order.pop("modifiedOn", None)
            self._reindex(order, now_ms)
            self._shop.orders[order["id"]] = order
            return order["id"]

    def update_order(self, order_id: str, **fields: Any) -> None:
        """Change camelCase fields of an order; modifiedOn moves to now (or the given value)."""
        with self._lock:
            order = self._order(order_id)
            modified = fields.pop("modifiedOn", None)
            order.update(copy.deepcopy(fields))
            if modified is None:
                self._touch(order)
            else:
                ms = iso_to_ms(modified)
                if ms is None:
                    raise ValueError(f"modifiedOn {modified!r} is not ISO-8601 UTC")
                self._reindex(order, ms)

    def add_variant(
        self,
        sku: str | None,
        qty: int,
        unlimited: bool = False,
        *,
        descriptor: str | None = None,
        variant_id: str | None = None,
    ) -> str:
        variant_id = variant_id or str(uuid.uuid4())
        with self._lock:
            if variant_id in self._shop.inventory:
                raise ValueError(f"variant {variant_id} already exists")
            self._shop.inventory[variant_id] = {
                "variantId": variant_id,
                "sku": sku,
                "descriptor": descriptor or f"Product {sku or variant_id[:8]}",
                "isUnlimited": unlimited,
                "quantity": qty,
            }
            insort(self._shop.variant_index, variant_id)
        return variant_id

    def set_stock(self, variant_id: str, qty: int, unlimited: bool = False) -> None:
        with self._lock:
            item = self._item(variant_id)
            item["quantity"] = qty
            item["isUnlimited"] = unlimited

    def rename_variant(self, variant_id: str, sku: str | None) -> None:
        """The merchant changes a variant's SKU in Squarespace."""
        with self._lock:
            self._item(variant_id)["sku"] = sku

    def remove_variant(self, variant_id: str) -> None:
        """The merchant deletes a variant: reads and adjustments naming it are refused."""
        with self._lock:
            self._item(variant_id)
            del self._shop.inventory[variant_id]
            self._shop.variant_index.remove(variant_id)

    def sell(self, variant_id: str, qty: int) -> None:
        """A customer buys ``qty``: tracked stock goes down, unlimited stock is untouched."""
        with self._lock:
            item = self._item(variant_id)
            if item["isUnlimited"]:
                return
            if item["quantity"] < qty:
                raise ValueError(f"variant {variant_id} has only {item['quantity']} in stock")
            item["quantity"] -= qty

    # ----------------------------------------------------------------- the merchant's admin

    def place_order(
        self, sku: str | None = None, quantity: int = 1, shipping_method: str | None = None
    ) -> dict[str, Any]:
        """A customer places an order for ``quantity`` of the variant with ``sku`` (default:
        the first variant); a SKU no variant has is ordered without a variantId. Returns it."""
        with self._lock:
            variant = next(
                (self._shop.inventory[vid] for vid in self._shop.variant_index
                 if sku is None or self._shop.inventory[vid].get("sku") == sku),
                None,
            )  # fmt: skip
            order = self.make_order(
                sku=sku if sku is not None else (variant or {}).get("sku", "SKU-1"),
                variant_id=(variant or {}).get("variantId"),
                quantity=quantity,
            )
            if variant is not None:
                order["lineItems"][0]["productName"] = variant.get("descriptor")
            if shipping_method is not None and order["shippingLines"]:
                order["shippingLines"][0]["method"] = shipping_method
                order["shippingOptionName"] = shipping_method
            order_id = self.add_order(order)
            return copy.deepcopy(self._shop.orders[order_id])

    def cancel_order(self, ref: str) -> dict[str, Any]:
        """The merchant cancels an order in Squarespace (any but a canceled one); ``ref``
        is its id or order number, as for the other merchant actions."""
        with self._lock:
            order = self._existing(ref)
            if order.get("fulfillmentStatus") == "CANCELED":
                raise ApiError(409, f"Order {ref} is already canceled.")
            order["fulfillmentStatus"] = "CANCELED"
            self._touch(order)
            return copy.deepcopy(order)

    def refund_order(self, ref: str) -> dict[str, Any]:
        """The merchant refunds an order in full: paymentState REFUNDED."""
        with self._lock:
            order = self._existing(ref)
            if order.get("paymentState") == "REFUNDED":
                raise ApiError(409, f"Order {ref} is already refunded.")
            order["paymentState"] = "REFUNDED"
            order["refundedTotal"] = copy.deepcopy(order.get("grandTotal"))
            self._touch(order)
            return copy.deepcopy(order)

    def mark_fulfilled(self, ref: str, shipment: dict[str, Any] | None = None) -> dict[str, Any]:
        """The merchant marks an order fulfilled in Squarespace, not through the API (so no
        fulfilment is counted), adding ``shipment`` (camelCase fields) if given."""
        with self._lock:
            order = self._existing(ref)
            if order.get("fulfillmentStatus") == "CANCELED":
                raise ApiError(409, f"Order {ref} is canceled and cannot be fulfilled.")
            if shipment is not None:
                stamped = {"shipDate": ms_to_iso(self._now_ms()), **shipment}
                order["fulfillments"] = [*(order.get("fulfillments") or []), stamped]
            order["fulfillmentStatus"] = "FULFILLED"
            if not order.get("fulfilledOn"):
                order["fulfilledOn"] = ms_to_iso(self._now_ms())
            self._touch(order)
            return copy.deepcopy(order)

    def _existing(self, ref: str) -> dict[str, Any]:
        """The order with id ``ref``, else the one numbered ``ref`` (what a merchant sees)."""
        order = self._shop.orders.get(ref)
        if order is None:
            order = next(
                (o for o in self._shop.orders.values() if o.get("orderNumber") == ref), None
            )
        if order is None:
            raise ApiError(404, f"Order {ref} was not found.", "INVALID_ARGUMENT")
        return order

    def _order(self, order_id: str) -> dict[str, Any]:
        try:
            return self._shop.orders[order_id]
        except KeyError:
            raise KeyError(f"no order {order_id}") from None

    def _item(self, variant_id: str) -> dict[str, Any]:
        try:
            return self._shop.inventory[variant_id]
        except KeyError:
            raise KeyError(f"no variant {variant_id}") from None

    # ----------------------------------------------------------------- API operations

    def order_page(
        self, query: OrderQuery, position: Position | None
    ) -> tuple[str, Position | None]:
        """(JSON array of up to 50 orders, position to resume from or None on the last page)."""
        with self._lock:
            index, orders = self._shop.order_index, self._shop.orders
            start = 0 if query.after_ms is None else bisect_left(index, (query.after_ms, ""))
            if position is not None:
                start = max(start, bisect_right(index, position))
            page: list[dict[str, Any]] = []
            last: Position | None = None
            page_end: Position | None = None
            for at in range(start, len(index)):
                entry = index[at]
                if query.before_ms is not None and entry[0] >= query.before_ms:
                    break
                order = orders[entry[1]]
                if not query.matches(order):
                    continue
                if len(page) == PAGE_SIZE:
                    last = page_end
                    break
                page.append(order)
                page_end = entry
            return json.dumps(page), last

    def order_json(self, order_id: str) -> str:
        with self._lock:
            order = self._shop.orders.get(order_id)
            if order is None:
                raise ApiError(404, f"Order {order_id} was not found.", "INVALID_ARGUMENT")
            return json.dumps(order)

    def inventory_page(self, after_id: str | None) -> tuple[str, str | None]:
        """(JSON array of up to 50 items by variantId, last id when more follow, else None)."""
        with self._lock:
            index = self._shop.variant_index
            start = 0 if after_id is None else bisect_right(index, after_id)
            ids = index[start : start + PAGE_SIZE]
            more = start + PAGE_SIZE < len(index)
            items = [self._shop.inventory[vid] for vid in ids]
            return json.dumps(items), (ids[-1] if more else None)

    def inventory_json(self, variant_ids: list[str]) -> str:
        with self._lock:
            unknown = [vid for vid in variant_ids if vid not in self._shop.inventory]
            if unknown:
                raise ApiError(
                    404, f"Unknown variant ids: {', '.join(unknown)}.", "INVALID_ARGUMENT"
                )
            return json.dumps([self._shop.inventory[vid] for vid in variant_ids])

    def fulfil(self, order_id: str, notify: bool, shipments: list[dict[str, Any]]) -> None:
        if self.during_fulfilment is not None:
            self.during_fulfilment(order_id)
        with self._lock:
            order = self._shop.orders.get(order_id)
            if order is None:
                raise ApiError(404, f"Order {order_id} was not found.", "INVALID_ARGUMENT")
            if order.get("fulfillmentStatus") == "CANCELED":
                raise ApiError(409, f"Order {order_id} is canceled and cannot be fulfilled.")
            order["fulfillments"] = [*(order.get("fulfillments") or []), *shipments]
            order["fulfillmentStatus"] = "FULFILLED"
            if not order.get("fulfilledOn"):
                order["fulfilledOn"] = ms_to_iso(self._now_ms())
            self._touch(order)
        self.stats.add("fulfilments_applied")
        if notify and shipments:
            self.stats.add("emails_sent")

    def adjust(self, key: str, body: str, adjustment: Adjustment) -> bool:
        """Apply an adjustment once per Idempotency-Key; True when it was a replay.

        ``body`` is the canonical JSON of the request, compared on reuse of the key.
        """
        with self._lock:
            failing = sorted(self.failing_variants.intersection(adjustment.variant_ids()))
            if failing:
                raise ApiError(500, f"Internal error on variant {failing[0]}.")
            claim = self._claims.get(key)
            if claim is not None:
                if not claim.done:
                    raise ApiError(
                        409,
                        f"A request with Idempotency-Key {key} is in progress.",
                        "CONCURRENT_MODIFICATION",
                    )
                if claim.body != body:
                    raise invalid(f"Idempotency-Key {key} was already used with a different body.")
                self.stats.add("idempotent_replays")
                return True
            claim = self._claims[key] = _Claim(body)
        try:
            if self.during_adjustment is not None:
                self.during_adjustment(key)
            with self._lock:
                self._apply(adjustment)
                claim.done = True
        finally:
            if not claim.done:
                with self._lock:
                    del self._claims[key]
        self.stats.add("adjustments_applied")
        return False

    def _apply(self, adjustment: Adjustment) -> None:
        """Check every operation against the stock, then apply them all (caller holds the lock)."""
        inventory = self._shop.inventory
        unknown = [vid for vid in adjustment.variant_ids() if vid not in inventory]
        if unknown:
            raise invalid(f"Unknown variant ids: {', '.join(unknown)}.")
        for vid, _ in adjustment.increments + adjustment.decrements:
            if inventory[vid]["isUnlimited"]:
                raise ApiError(409, f"Variant {vid} has unlimited stock.", "STOCK_NOT_TRACKED")
        for vid, qty in adjustment.decrements:
            if inventory[vid]["quantity"] < qty:
                raise ApiError(409, f"Variant {vid} has insufficient stock.", "INSUFFICIENT_STOCK")
        for vid, qty in adjustment.increments:
            if inventory[vid]["quantity"] + qty > MAX_STOCK:
                raise ApiError(409, f"Variant {vid} would exceed {MAX_STOCK}.", "STOCK_EXCEEDS_MAX")
        for vid, qty in adjustment.increments:
            inventory[vid]["quantity"] += qty
        for vid, qty in adjustment.decrements:
            inventory[vid]["quantity"] -= qty
        for vid, qty in adjustment.set_finite:
            inventory[vid].update(quantity=qty, isUnlimited=False)
        for vid in adjustment.set_unlimited:
            inventory[vid]["isUnlimited"] = True
