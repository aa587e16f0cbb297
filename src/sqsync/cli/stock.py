"""Commands: ``sqsync stock set|import|list``: the warehouse's on-hand stock."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from sqsync.cli._root import App, cli, emit_rows, feed_options, output_option, pass_app

if TYPE_CHECKING:
    from sqsync.store import Store

STOCK_COLUMNS = ["sku", "client", "warehouse", "on_hand", "allocated", "available"]


@cli.group()
def stock() -> None:
    """Set, import and list on-hand stock per client, warehouse and SKU.

    \b
    Example:
      sqsync stock set RED-S 12
      sqsync stock import counts.csv
      sqsync stock list --format csv
    """


def _scope_choices(app: App, store: Store) -> tuple[list[str], list[str]]:
    """Client and warehouse codes that are configured or already in the store."""
    from sqsync.store import catalog

    clients = sorted(set(app.config.clients()) | set(catalog.client_codes(store)))
    warehouses = sorted(set(app.config.warehouses()) | set(catalog.warehouse_codes(store)))
    return clients, warehouses


def _scope_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--client`` and ``--warehouse``, defaulting to the only one configured."""
    func = click.option(
        "--warehouse", metavar="CODE", help="Warehouse (default: the only one configured)."
    )(func)
    return click.option(
        "--client", metavar="CODE", help="Client (default: the only one configured)."
    )(func)


@stock.command("set")
@click.argument("sku")
@click.argument("quantity", type=click.IntRange(min=0), metavar="QTY")
@_scope_options
@pass_app
def set_stock(app: App, sku: str, quantity: int, client: str | None, warehouse: str | None) -> None:
    """Set the on-hand quantity of one SKU (the product is created if new).

    \b
    Example:
      sqsync stock set RED-S 12 --client ACME --warehouse MAIN
    """
    from sqsync.domain.limits import MAX_QUANTITY
    from sqsync.errors import UsageError
    from sqsync.store.owners import choose
    from sqsync.store.stock import set_on_hand

    sku = sku.strip()
    if not sku:
        raise UsageError("stock set: the SKU is empty")
    if quantity > MAX_QUANTITY:
        raise UsageError(f"stock set {sku}: quantity must be at most {MAX_QUANTITY:,}")
    with app.open_store() as store:
        clients, warehouses = _scope_choices(app, store)
        client = choose(client, clients, "client")
        warehouse = choose(warehouse, warehouses, "warehouse")
        with store.transaction() as conn:
            set_on_hand(conn, client, warehouse, sku, quantity)
    click.echo(f"{sku}: on hand {quantity} ({client} @ {warehouse})", err=True)


@stock.command("import")
@feed_options
@_scope_options
@pass_app
def import_stock(
    app: App, source: str, fmt: str | None, client: str | None, warehouse: str | None
) -> None:
    """Set on-hand stock from a CSV or NDJSON feed, all or nothing.

    Columns: sku, quantity, and optionally client and warehouse (CSV needs a
    header row). A bad row is reported with its line number and nothing is
    written.

    \b
    Example:
      sqsync stock import counts.csv
      printf 'sku,quantity\\nRED-S,12\\n' | sqsync stock import -
    """
    from sqsync.feeds import StockLevelRow, feed_format, read_rows
    from sqsync.store.owners import choose
    from sqsync.store.stock import LevelUpdate, import_levels

    rows = read_rows(source, feed_format(source, fmt), StockLevelRow)
    with app.open_store() as store:
        clients, warehouses = _scope_choices(app, store)
        # Checked like `stock set`; when ambiguous, rows must name their own client.
        default_client = choose(client, clients, "client") if client or len(clients) == 1 else None
        default_warehouse = (
            choose(warehouse, warehouses, "warehouse")
            if warehouse or len(warehouses) == 1
            else None
        )
        applied = import_levels(
            store,
            (LevelUpdate(line, r.sku, r.quantity, r.client, r.warehouse) for line, r in rows),
            source="stdin" if source == "-" else source,
            clients=clients,
            warehouses=warehouses,
            default_client=default_client,
            default_warehouse=default_warehouse,
        )
    click.echo(f"stock import: set {applied} stock levels", err=True)


@stock.command("list")
@click.option("--client", metavar="CODE", help="Only this client's stock.")
@click.option("--warehouse", metavar="CODE", help="Only this warehouse's stock.")
@output_option()
@pass_app
def list_stock(app: App, client: str | None, warehouse: str | None, fmt: str) -> None:
    """List on hand, allocated (open orders) and available stock per SKU.

    \b
    Example:
      sqsync stock list --client ACME --format csv
    """
    from sqsync.store.stock import stock_rows

    with app.open_store(readonly=True) as store:
        emit_rows(stock_rows(store, client, warehouse), fmt, STOCK_COLUMNS)
