"""Commands: ``sqsync stock set|adjust|import|list|history``: the warehouse's on-hand stock."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from sqsync.cli._root import App, cli, emit_rows, feed_options, output_option, pass_app

if TYPE_CHECKING:
    from sqsync.store import Store

STOCK_COLUMNS = ["sku", "client", "warehouse", "on_hand", "allocated", "available"]


class _Delta(click.ParamType):
    """A signed whole number (``+24``, ``-3``). The sign is required: ``stock adjust RED-S
    24`` is more likely a `stock set` typed wrongly than an adjustment."""

    name = "delta"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        from sqsync.domain.limits import MAX_QUANTITY

        text = str(value).strip()
        if not re.fullmatch(r"[+-]\d+", text):
            self.fail(f"{value!r}: give a signed whole number, e.g. +24 or -3", param, ctx)
        # Length first: int() refuses a number of over 4,300 digits with its own error.
        if len(text[1:].lstrip("0")) > len(str(MAX_QUANTITY)) or abs(int(text)) > MAX_QUANTITY:
            self.fail(f"{value!r}: at most {MAX_QUANTITY:,} either way", param, ctx)
        if int(text) == 0:
            self.fail(f"{value!r}: an adjustment of 0 changes nothing", param, ctx)
        return int(text)


@cli.group()
def stock() -> None:
    """Set, adjust, import and list on-hand stock per client, warehouse and SKU.

    \b
    Example:
      sqsync stock set RED-S 12
      sqsync stock adjust RED-S +24 --reason goods-in
      sqsync stock import counts.csv
      sqsync stock list --format csv
      sqsync stock history RED-S
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
@click.option("--reason", metavar="TEXT", help="A note for `stock history`, e.g. stock-take.")
@_scope_options
@pass_app
def set_stock(
    app: App,
    sku: str,
    quantity: int,
    reason: str | None,
    client: str | None,
    warehouse: str | None,
) -> None:
    """Set the on-hand quantity of one SKU (the product is created if new).

    The count is logged in `stock history` (source count).

    \b
    Example:
      sqsync stock set RED-S 12 --client ACME --warehouse MAIN
      sqsync stock set RED-S 12 --reason stock-take
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
            set_on_hand(conn, client, warehouse, sku, quantity, reason=reason)
    click.echo(f"{sku}: on hand {quantity} ({client} @ {warehouse})", err=True)


# ignore_unknown_options: click would read a DELTA of -3 as an unknown option -3.
@stock.command("adjust", context_settings={"ignore_unknown_options": True})
@click.argument("sku")
@click.argument("delta", type=_Delta(), metavar="DELTA")
@click.option("--reason", metavar="TEXT", required=True, help="Why, e.g. goods-in, damaged, found.")
@_scope_options
@pass_app
def adjust_stock(
    app: App, sku: str, delta: int, reason: str, client: str | None, warehouse: str | None
) -> None:
    """Add to or take off the on-hand quantity of one SKU, with a reason.

    DELTA is signed: +24 adds 24, -3 takes 3 off. A SKU never counted counts
    as 0. Refused, with nothing written, when on hand would go below 0.

    \b
    Example:
      sqsync stock adjust RED-S +24 --reason goods-in
      sqsync stock adjust RED-S -3 --reason damaged --client ACME
    """
    from sqsync.errors import UsageError
    from sqsync.store.owners import choose
    from sqsync.store.stock import adjust_on_hand

    sku = sku.strip()
    if not sku:
        raise UsageError("stock adjust: the SKU is empty")
    if not reason.strip():
        raise UsageError(f"stock adjust {sku}: the reason is empty")
    with app.open_store() as store:
        clients, warehouses = _scope_choices(app, store)
        client = choose(client, clients, "client")
        warehouse = choose(warehouse, warehouses, "warehouse")
        moved = adjust_on_hand(store, client, warehouse, sku, delta, reason=reason)
    click.echo(
        f"{sku}: on hand {moved.before or 0} -> {moved.after} ({moved.delta:+d}, {moved.reason})"
        f" ({client} @ {warehouse})",
        err=True,
    )


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


@stock.command("history")
@click.argument("sku")
@click.option("--client", metavar="CODE", help="Only this client's movements.")
@click.option("--warehouse", metavar="CODE", help="Only this warehouse's movements.")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Only the latest N.")
@click.option("--newest-first", is_flag=True, help="Newest first (default: oldest first).")
@output_option()
@pass_app
def stock_history(
    app: App,
    sku: str,
    client: str | None,
    warehouse: str | None,
    limit: int | None,
    newest_first: bool,
    fmt: str,
) -> None:
    """List every change of one SKU's on hand: when, source, delta, before, after, reason.

    Sources: count (stock set), import (stock import; reason: feed and line),
    adjust (stock adjust) and despatch (reason: the order). before is empty
    when the SKU had not been counted yet.

    \b
    Example:
      sqsync stock history RED-S --limit 20
      sqsync stock history RED-S --client ACME --format csv
    """
    from sqsync.store.movements import MOVEMENT_COLUMNS, history

    with app.open_store(readonly=True) as store:
        rows = history(
            store, sku.strip(), client=client, warehouse=warehouse,
            newest_first=newest_first, limit=limit,
        )  # fmt: skip
        emit_rows(rows, fmt, MOVEMENT_COLUMNS)
