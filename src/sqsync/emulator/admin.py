"""The merchant's side of a running emulator: what happens in Squarespace, not through the API.

A rehearsal needs the shop to change under the connector: a customer places an order, the
merchant cancels, refunds or fulfils one in Squarespace's admin. The emulator takes these
on a small HTTP admin API next to the Commerce API (it is one process, so only HTTP can
reach it), and :class:`EmulatorAdmin` is its client for ``sqsync emulator order ...``:

    POST /_emulator/orders                 {"sku", "quantity", "shippingMethod"} (each optional)
    POST /_emulator/orders/{id}/cancel
    POST /_emulator/orders/{id}/refund
    POST /_emulator/orders/{id}/fulfil     {"carrierName", "service", "trackingNumber",
                                            "trackingUrl"} (each optional)
    GET  /_emulator/stats                  what the emulator was asked and did (Stats)

``{id}`` is an order id or an order number. Each POST answers the order's ``{id,
orderNumber, fulfillmentStatus, paymentState}`` (201 for a new order), or the Commerce
API's error envelope: 404 for an unknown order, 409 for one already in that state (or a
canceled order to fulfil), 400 for a bad body. Admin requests take no key (the
emulator's shop is made up) and are never counted, slowed or failed.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from sqsync.emulator.validation import MAX_STOCK, MAX_TEXT
from sqsync.emulator.wire import ApiError, invalid
from sqsync.errors import InputError, SqsyncError, UsageError

if TYPE_CHECKING:
    from sqsync.emulator.state import EmulatorState

log = logging.getLogger("sqsync.emulator")

ADMIN_PREFIX = "/_emulator/"
ACTIONS = ("cancel", "refund", "fulfil")
_SHIPMENT_FIELDS = ("carrierName", "service", "trackingNumber", "trackingUrl")

Answer = tuple[int, bytes | None, dict[str, str]]


def admin_answer(state: EmulatorState, method: str, path: str, raw: bytes) -> Answer:
    """The answer to one admin request (the server's side)."""
    if path.rstrip("/") == ADMIN_PREFIX + "stats":
        if method != "GET":
            failure = ApiError(405, f"{method} is not allowed on {path}.")
            return failure.status, json.dumps(failure.envelope()).encode(), failure.headers
        return 200, json.dumps(state.stats.as_dict()).encode(), {}
    try:
        status, order = _dispatch(state, method, path.rstrip("/"), raw)
    except ApiError as error:
        return error.status, json.dumps(error.envelope()).encode(), error.headers
    except Exception:
        log.exception("emulator: admin %s %s failed", method, path)
        failure = ApiError(500, "Internal server error.")
        return failure.status, json.dumps(failure.envelope()).encode(), failure.headers
    return status, json.dumps(summary(order)).encode(), {}


def summary(order: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": order["id"],
        "orderNumber": order.get("orderNumber"),
        "fulfillmentStatus": order.get("fulfillmentStatus"),
        "paymentState": order.get("paymentState"),
    }


def _dispatch(
    state: EmulatorState, method: str, path: str, raw: bytes
) -> tuple[int, dict[str, Any]]:
    parts = path[len(ADMIN_PREFIX) :].split("/")
    if parts[0] != "orders" or len(parts) not in (1, 3) or (len(parts) == 3 and not parts[1]):
        raise ApiError(404, f"No such endpoint: {path}", "INVALID_ARGUMENT")
    if len(parts) == 3 and parts[2] not in ACTIONS:
        raise ApiError(404, f"No such endpoint: {path}", "INVALID_ARGUMENT")
    if method != "POST":
        raise ApiError(405, f"{method} is not allowed on {path}.")
    body = _body(raw)
    if len(parts) == 1:
        quantity = body.get("quantity", 1)
        if type(quantity) is not int or not 1 <= quantity <= MAX_STOCK:
            raise invalid(f"quantity must be a whole number from 1 to {MAX_STOCK}.")
        sku = _optional_text(body, "sku")
        method_name = _optional_text(body, "shippingMethod")
        return 201, state.place_order(sku, quantity, method_name)
    order_id, action = parts[1], parts[2]
    if action == "cancel":
        return 200, state.cancel_order(order_id)
    if action == "refund":
        return 200, state.refund_order(order_id)
    shipment = {field: _optional_text(body, field) for field in _SHIPMENT_FIELDS}
    given = any(value is not None for value in shipment.values())
    return 200, state.mark_fulfilled(order_id, shipment if given else None)


def _body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise invalid("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    return body


def _optional_text(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise invalid(f"{field} must be a non-empty string of at most {MAX_TEXT} characters.")
    return value.strip()


class EmulatorAdmin:
    """The client of a running emulator's admin API (``url`` as the emulator printed it).

    Failures are one line: :class:`~sqsync.errors.SqsyncError` when the emulator cannot be
    reached, :class:`~sqsync.errors.InputError` when it refused (an unknown order, one
    already canceled), :class:`~sqsync.errors.UsageError` for a URL that is not one.
    """

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"--url {url!r} is not an http:// URL (the one the emulator printed)")
        self.url = url.rstrip("/")
        self.timeout = timeout

    def add_order(
        self, sku: str | None = None, quantity: int = 1, shipping_method: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"quantity": quantity}
        if sku is not None:
            body["sku"] = sku
        if shipping_method is not None:
            body["shippingMethod"] = shipping_method
        return self._post("orders", body)

    def act(self, order_id: str, action: str, **fields: str | None) -> dict[str, Any]:
        """``action`` (cancel, refund, fulfil) on one order; ``fields`` for a fulfil."""
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
        if not order_id or "/" in order_id or "?" in order_id:
            raise UsageError(f"{order_id!r} is not an order id")
        body = {name: value for name, value in fields.items() if value is not None}
        return self._post(f"orders/{order_id}/{action}", body)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        where = f"{self.url}{ADMIN_PREFIX}{path}"
        try:
            response = httpx.post(where, json=body, timeout=self.timeout)
        except httpx.HTTPError as error:
            raise SqsyncError(
                f"cannot reach the emulator at {self.url}: {error or type(error).__name__}"
            ) from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400:
            message = data.get("message") if isinstance(data, dict) else None
            if response.status_code == 404 and message and "endpoint" in message:
                message = f"{self.url} has no admin API; is it an sqsync emulator?"
            raise InputError(message or f"the emulator answered {response.status_code}")
        if not isinstance(data, dict):
            raise SqsyncError(f"{self.url} did not answer like an sqsync emulator")
        return data
