"""Commands: ``sqsync orders list`` and ``sqsync orders show``: read the warehouse's orders."""

from __future__ import annotations

import click

from sqsync.cli._root import App, cli, emit_rows, output_option, pass_app

STATUS_CHOICE = click.Choice(["NEW", "HOLDING", "DESPATCHED", "CANCELLED"], case_sensitive=False)


@cli.group()
def orders() -> None:
    """List and inspect the orders in the warehouse store.

    \b
    Example:
      sqsync orders list --status HOLDING
      sqsync orders show SQ-1001 --format json
    """


@orders.command("list")
@click.option("--status", type=STATUS_CHOICE, help="Only orders in this status.")
@click.option("-c", "--connection", metavar="NAME", help="Only orders of this connection.")
@output_option()
@pass_app
def list_orders(app: App, status: str | None, connection: str | None, fmt: str) -> None:
    """List orders, oldest import first (json/ndjson give the full order).

    ndjson and csv stream, so large listings pipe straight into jq or a
    spreadsheet; csv cells are made safe for spreadsheets.

    \b
    Example:
      sqsync orders list --status NEW -c acme --format csv > new-orders.csv
    """
    from sqsync.store.orders import CSV_COLUMNS, TABLE_COLUMNS, flat_order, iter_order_dicts

    if connection is not None:
        app.config.connection(connection)  # a misspelt name fails instead of listing nothing
    with app.open_store(readonly=True) as store:
        rows = iter_order_dicts(store, status.upper() if status else None, connection)
        if fmt in ("table", "csv"):
            columns = TABLE_COLUMNS if fmt == "table" else CSV_COLUMNS
            emit_rows((flat_order(order) for order in rows), fmt, list(columns))
        else:
            emit_rows(rows, fmt)


@orders.command("show")
@click.argument("order_number")
@click.option("--client", metavar="CODE", help="The client, when several have this order number.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "table"]),
    default="json",
    show_default=True,
    help="json: the full order; table: one field per line.",
)
@pass_app
def show_order(app: App, order_number: str, client: str | None, fmt: str) -> None:
    """Show one order with its items and shipments.

    \b
    Example:
      sqsync orders show SQ-1001
      sqsync orders show 1001 --client ACME --format table
    """
    from sqsync.output import to_json
    from sqsync.store.orders import flat_order, order_dict
    from sqsync.store.owners import resolve_order

    with app.open_store(readonly=True) as store:
        order = order_dict(store, resolve_order(store, order_number, client).id)
    assert order is not None  # resolve_order found it in this connection
    if fmt == "json":
        click.echo(to_json(order, indent=2))
        return
    fields = [{"field": k, "value": v} for k, v in flat_order(order).items()]
    emit_rows(fields, "table", ["field", "value"])
