"""What ``sqsync check`` proves: the config loads, and each key can do what its jobs need.

For each connection it resolves the key, reads one page of orders and one page of
inventory, and turns each failure into a sentence saying what to do. Inventory is read
for every connection: with ``stock_sync`` on a failure fails the check; with it off the
failure is only a warning, telling the user stock sync would not work if they turned it on.

Reads only: write permission cannot be proven without changing the shop, so a key with
Orders "Read" passes here and fails on the first push-despatch (the job says so then).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqsync.errors import SqsyncError

if TYPE_CHECKING:
    from sqsync.config import Connection
    from sqsync.squarespace import Client

NEW_KEY = (
    "a key cannot gain permissions, so create a new key with Orders and Inventory "
    "Read & Write (Settings > Advanced > Developer API Keys) and configure it"
)


@dataclass
class Probe:
    """One thing checked for a connection: the key, the orders read, the inventory read."""

    name: str
    ok: bool
    detail: str
    required: bool = True
    context_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "ok": self.ok,
            "required": self.required,
            "detail": self.detail,
            "context_id": self.context_id,
        }


@dataclass
class ConnectionCheck:
    connection: str
    probes: list[Probe] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(probe.ok or not probe.required for probe in self.probes)

    def to_json(self) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "ok": self.ok,
            "checks": [probe.to_json() for probe in self.probes],
        }


def explain(error: Exception, api_url: str) -> str:
    """What a failed read means for the user and what to do about it, in one line."""
    from sqsync.squarespace import (
        AuthenticationError,
        PermissionDeniedError,
        TransportError,
        WebsiteExpiredError,
    )

    if isinstance(error, AuthenticationError):
        return (
            "the API key was refused (401): check it is the whole key, for this site, and not "
            "revoked; API keys need a Squarespace Commerce Advanced plan"
        )
    if isinstance(error, WebsiteExpiredError):
        return (
            "the site's billing has lapsed (402): nothing works until the site's plan is "
            "renewed in Squarespace"
        )
    if isinstance(error, PermissionDeniedError):
        return f"the key has no {error.permission or 'needed'} permission (403): {NEW_KEY}"
    if isinstance(error, TransportError):
        return f"cannot reach {api_url}: {error}"
    return str(error)


def _read(
    name: str,
    read: Callable[[], str],
    connection: Connection,
    *,
    required: bool,
) -> Probe:
    from sqsync.squarespace import SquarespaceError

    try:
        return Probe(name, True, read(), required)
    except SquarespaceError as error:
        detail = explain(error, connection.api_url)
        if not required:
            detail += " (stock_sync is off, so only stock sync would be affected)"
        return Probe(name, False, detail, required, error.context_id)


def check_connection(
    connection: Connection, client_factory: Callable[[Connection], Client]
) -> ConnectionCheck:
    """Resolve the key, then read one page of orders and one page of inventory."""
    result = ConnectionCheck(connection.name)
    try:
        client = client_factory(connection)
    except SqsyncError as error:
        result.probes.append(Probe("key", False, str(error)))
        return result
    result.probes.append(Probe("key", True, "found"))
    with client:

        def orders() -> str:
            page = next(client.iter_order_pages(fulfillment_status="PENDING"))
            more = "+" if page.has_next_page else ""
            return f"read ({len(page.orders)}{more} orders awaiting fulfilment)"

        def inventory() -> str:
            page = next(client.iter_inventory_pages())
            more = "+" if page.has_next_page else ""
            return f"read ({len(page.items)}{more} variants)"

        result.probes.append(_read("orders", orders, connection, required=True))
        result.probes.append(
            _read("inventory", inventory, connection, required=connection.stock_sync)
        )
    return result
