"""What ``sqsync check`` proves: the config loads, and each key can do what its jobs need.

For each connection it resolves the key, reads one page of orders and one page of
inventory, and turns each failure into a sentence saying what to do. Inventory is read
for every connection: with ``stock_sync`` on a failure fails the check; with it off the
failure is only a warning, telling the user stock sync would not work if they turned it on.

Then it asks which site the key opens (``GET /1.0/authorization/website``, not confirmed
by Squarespace's docs, so a refusal there only leaves the site unknown). One Squarespace
site is one connection: two connections whose keys open one site fail the check. Orders
stored under a connection name no longer in the config fail it too (:func:`orphan_checks`).

Reads only: write permission cannot be proven without changing the shop, so a key with
Orders "Read" passes here and fails on the first push-despatch (the job says so then).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqsync.errors import SqsyncError

if TYPE_CHECKING:
    from sqsync.config import Connection
    from sqsync.squarespace import Client
    from sqsync.store import Store

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
    # What people see instead of ok/FAILED/warning (e.g. "unknown"); not in the JSON.
    label: str | None = None

    @property
    def mark(self) -> str:
        if self.label is not None:
            return self.label
        return "ok" if self.ok else ("FAILED" if self.required else "warning")

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
    """One connection's probes, and the site its key opens (``{id, title, url}``) if known."""

    connection: str
    probes: list[Probe] = field(default_factory=list)
    site: dict[str, str | None] | None = None

    @property
    def ok(self) -> bool:
        return all(probe.ok or not probe.required for probe in self.probes)

    def to_json(self) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "ok": self.ok,
            "site": self.site,
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
        probe, result.site = _site(client, connection)
        result.probes.append(probe)
    return result


def _site(client: Client, connection: Connection) -> tuple[Probe, dict[str, str | None] | None]:
    """The "site" probe (never required) and the site the key opens, if Squarespace says."""
    from sqsync.squarespace import NotFoundError, PermissionDeniedError, SquarespaceError

    try:
        website = client.get_website()
    except (NotFoundError, PermissionDeniedError) as error:
        why = f"Squarespace did not say which site this key opens ({error.status})"
        return Probe("site", False, why, False, error.context_id, label="unknown"), None
    except SquarespaceError as error:
        why = explain(error, connection.api_url)
        return Probe("site", False, why, False, error.context_id, label="unknown"), None
    if not website.id:
        why = "Squarespace's answer names no site id"
        return Probe("site", False, why, False, label="unknown"), None
    site = {"id": website.id, "title": website.website_title, "url": website.website_url}
    return Probe("site", True, _site_name(site), required=False), site


def _site_name(site: dict[str, str | None]) -> str:
    title, url = site["title"], site["url"]
    name = f"{title} ({url})" if title and url else (title or url or "untitled")
    return f"{name}, site id {site['id']}"


def check_connections(
    connections: Iterable[Connection], client_factory: Callable[[Connection], Client]
) -> Iterator[ConnectionCheck]:
    """:func:`check_connection` for each, in order, as each finishes; a connection whose key
    opens a site an earlier one's key opened fails: one Squarespace site is one connection."""
    opened: dict[str, str] = {}  # site id -> the first connection whose key opens it
    for connection in connections:
        result = check_connection(connection, client_factory)
        site_id = result.site["id"] if result.site else None
        if site_id is not None and site_id in opened:
            assert result.site is not None
            first = opened[site_id]
            detail = (
                f'{_site_name(result.site)}: connection "{first}" opens the same Squarespace '
                f'site: one site is one connection, so remove "{connection.name}" or '
                f'"{first}" from the config (each key of one site imports the same orders)'
            )
            result.probes = [p for p in result.probes if p.name != "site"]
            result.probes.append(Probe("site", False, detail, required=True))
        elif site_id is not None:
            opened[site_id] = connection.name
        yield result


def orphan_checks(store: Store, configured: Collection[str]) -> list[ConnectionCheck]:
    """A failed check per connection name that has stored orders but is not in the config."""
    from sqsync.store.connections import orphaned_orders

    return [
        ConnectionCheck(name, [Probe("configured", False, orphan_advice(name, count))])
        for name, count in orphaned_orders(store, configured).items()
    ]


def orphan_advice(name: str, count: int) -> str:
    """What orders stored under an unconfigured connection name mean, and what to do."""
    orders = f"{count} order{'s are' if count != 1 else ' is'}"
    return (
        f"{orders} stored under connection {name}, which is not in the config: if it was "
        f"renamed, run `sqsync connections rename {name} NEW_NAME`; else add it back to the config"
    )
