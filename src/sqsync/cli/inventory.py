"""Command: ``sqsync inventory list``, the shop's variants as Squarespace has them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from sqsync.cli._root import App, cli, emit_rows, output_option, pass_app

if TYPE_CHECKING:
    from sqsync.config import Connection
    from sqsync.squarespace import Client

INVENTORY_COLUMNS = [
    "variant_id",
    "sku",
    "warehouse_sku",
    "descriptor",
    "quantity",
    "unlimited",
]


@cli.group()
def inventory() -> None:
    """Read the Squarespace shop's inventory (nothing is changed).

    \b
    Example:
      sqsync inventory list -c acme --format csv
    """


@inventory.command("list")
@click.option(
    "-c",
    "--connection",
    "name",
    required=True,
    metavar="NAME",
    help="The connection whose shop to read.",
)
@output_option()
@pass_app
def list_inventory(app: App, name: str, fmt: str) -> None:
    """List the shop's variants: variant id, SKU, descriptor, quantity, unlimited.

    Reads Squarespace's inventory page by page and streams it (ndjson and csv
    print as the pages arrive). warehouse_sku is the SKU the warehouse counts
    it under (through sku_aliases; empty when there is none): the column a
    first stock count (`sqsync stock import`, columns sku,quantity) needs.
    Sends no writes. Needs the key's Inventory permission.

    \b
    Example:
      sqsync inventory list -c acme
      sqsync inventory list -c acme --format csv \\
        | mlr --icsv --ocsv filter '$warehouse_sku != ""' then cut -o -f warehouse_sku,quantity \\
        then rename warehouse_sku,sku > counts.csv
    """
    connection = app.config.connection(name)
    # A missing key variable is a config error (exit 2) before any request.
    app.config.resolve_keys([connection])
    with app.make_client(connection) as client:
        emit_rows(_rows(client, connection), fmt, INVENTORY_COLUMNS)


def _rows(client: Client, connection: Connection) -> Iterator[dict[str, Any]]:
    from sqsync.domain.skus import warehouse_sku

    aliases = connection.sku_aliases
    for item in client.iter_inventory():
        yield {
            "variant_id": item.variant_id,
            "sku": item.sku,
            "warehouse_sku": warehouse_sku(item.sku, item.variant_id, aliases),
            "descriptor": item.descriptor,
            "quantity": item.quantity,
            "unlimited": item.is_unlimited,
        }
