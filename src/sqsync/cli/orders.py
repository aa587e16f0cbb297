"""Commands: ``sqsync orders list|show|changes`` read the warehouse's orders;
``sqsync orders hold|release|cancel|close`` act on one by hand."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import click

from sqsync.cli._root import App, cli, emit_rows, output_option, pass_app

STATUS_CHOICE = click.Choice(["NEW", "HOLDING", "DESPATCHED", "CANCELLED"], case_sensitive=False)


class IsoTime(click.ParamType):
    """An ISO date or date-time; no zone means UTC."""

    name = "ISO-TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            try:
                moment = datetime.combine(date.fromisoformat(text), datetime.min.time())
            except ValueError:
                self.fail(f"{value!r} is not an ISO date or date-time, e.g. 2026-01-31T09:00:00Z")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


@cli.group()
def orders() -> None:
    """List, inspect and act on the orders in the warehouse store.

    \b
    Example:
      sqsync orders list --status HOLDING
      sqsync orders show SQ-1001 --format json
      sqsync orders hold SQ-1001 --reason "customer asked to wait"
      sqsync orders changes --after 0 --format ndjson
    """


@orders.command("list")
@click.option("--status", type=STATUS_CHOICE, help="Only orders in this status.")
@click.option("-c", "--connection", metavar="NAME", help="Only orders of this connection.")
@click.option(
    "--since", type=IsoTime(), help="Only orders created (in Squarespace) at or after this time."
)
@click.option("--sku", metavar="SKU", help="Only orders with a line of this warehouse SKU.")
@click.option(
    "--shipping-method", metavar="NAME", help="Only orders with this shipping method (exact)."
)
@output_option()
@pass_app
def list_orders(
    app: App,
    status: str | None,
    connection: str | None,
    since: datetime | None,
    sku: str | None,
    shipping_method: str | None,
    fmt: str,
) -> None:
    """List orders, oldest import first (json/ndjson give the full order).

    The table shows each order's problems (why it is HOLDING), shipping method
    and the carrier and service courier_map gives it. ndjson and csv stream,
    so large listings pipe straight into jq or a spreadsheet; csv cells are
    made safe for spreadsheets. --since is on the order's creation time in
    Squarespace (an ISO date or time, UTC unless it says otherwise).

    \b
    Example:
      sqsync orders list --status NEW -c acme --format csv > new-orders.csv
      sqsync orders list --sku RED-S --since 2026-01-01
      sqsync orders list --shipping-method "Royal Mail Tracked 48" --format ndjson
    """
    from contextlib import closing

    from sqsync.store.orders import (
        CSV_COLUMNS,
        TABLE_COLUMNS,
        OrderFilter,
        flat_order,
        iter_order_dicts,
    )

    if connection is not None:
        app.config.connection(connection)  # a misspelt name fails instead of listing nothing
    chosen = OrderFilter(
        status=status.upper() if status else None,
        connection=connection,
        since=since,
        sku=sku,
        shipping_method=shipping_method,
    )
    with (
        app.open_store(readonly=True) as store,
        closing(iter_order_dicts(store, where=chosen)) as rows,
    ):
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
    """Show one order with its items, shipments and what people did to it.

    ``actions`` lists each hold, release, cancel and close: when, by which OS
    user, and why.

    \b
    Example:
      sqsync orders show SQ-1001
      sqsync orders show 1001 --client ACME --format table
    """
    from sqsync.output import to_json
    from sqsync.store.order_actions import actions_of
    from sqsync.store.orders import flat_order, order_dict
    from sqsync.store.owners import resolve_order

    with app.open_store(readonly=True) as store:
        order_id = resolve_order(store, order_number, client).id
        order = order_dict(store, order_id)
        assert order is not None  # resolve_order found it in this store
        order["actions"] = actions_of(store, order_id)
    if fmt == "json":
        click.echo(to_json(order, indent=2))
        return
    fields = [{"field": k, "value": v} for k, v in flat_order(order).items()]
    for action in order["actions"]:
        done = f"{action['time']} {action['user']}: {action['action']}"
        done += f" ({action['from_status']} -> {action['to_status']})"
        if action["reason"]:
            done += f": {action['reason']}"
        fields.append({"field": "action", "value": done})
    emit_rows(fields, "table", ["field", "value"])


def _action_options(reason_required: bool) -> Callable[[Callable[..., Any]], Any]:
    """ORDER_NUMBER, ``--client`` and ``--reason`` for an action on one order."""

    def decorate(func: Callable[..., Any]) -> Any:
        func = pass_app(func)
        func = click.option(
            "--reason",
            metavar="TEXT",
            required=reason_required,
            help="Why" + (" (required)" if reason_required else "") + "; `orders show` lists it.",
        )(func)
        func = click.option(
            "--client", metavar="CODE", help="The client, when several have this order number."
        )(func)
        return click.argument("order_number")(func)

    return decorate


def _act(app: App, action: str, order_number: str, client: str | None, reason: str | None) -> None:
    from sqsync.store.order_actions import act

    with app.open_store() as store:
        done = act(store, action, order_number, client=client, reason=reason)
    click.echo(done.summary(), err=True)


@orders.command("hold")
@_action_options(reason_required=True)
def hold_order(app: App, order_number: str, client: str | None, reason: str) -> None:
    """Hold an order so the warehouse does not ship it.

    The order becomes HOLDING with the problem manual_hold and stays held
    across imports and Squarespace changes until `sqsync orders release`
    (its stock stays allocated). An order cancelled in Squarespace still
    becomes CANCELLED. Refused for a DESPATCHED or CANCELLED order.

    \b
    Example:
      sqsync orders hold SQ-1001 --reason "customer asked to wait"
    """
    _act(app, "hold", order_number, client, reason)


@orders.command("release")
@_action_options(reason_required=False)
def release_order(app: App, order_number: str, client: str | None, reason: str | None) -> None:
    """Release a HOLDING order: clear what only a person can clear.

    On a manual hold, removes manual_hold only: a problem that arrived while it
    was held (fulfilled_in_squarespace: the shop shipped it) still holds it.
    Otherwise removes fulfilled_in_squarespace and despatch_voided: ship it
    anyway. The order is NEW again unless problems its data gives it remain
    (unknown_sku:..., which the next import clears once the SKU is stocked).
    Refused for an order that is not HOLDING, or held only for such problems.

    \b
    Example:
      sqsync orders release SQ-1001
    """
    _act(app, "release", order_number, client, reason)


@orders.command("cancel")
@_action_options(reason_required=True)
def cancel_order(app: App, order_number: str, client: str | None, reason: str) -> None:
    """Cancel a NEW or HOLDING order here: the warehouse will not ship it.

    The order becomes CANCELLED and its stock is no longer allocated. Local
    only: nothing is sent to Squarespace (cancel it there too if the
    customer should know). Imports never reopen it.

    \b
    Example:
      sqsync orders cancel SQ-1001 --reason "duplicate of SQ-1000"
    """
    _act(app, "cancel", order_number, client, reason)


@orders.command("close")
@_action_options(reason_required=False)
def close_order(app: App, order_number: str, client: str | None, reason: str | None) -> None:
    """Close a HOLDING order the warehouse will not ship (fulfilled elsewhere, refunded).

    The order becomes CANCELLED, keeping its problems as the record of why:
    it allocates nothing, is never pushed to Squarespace and cannot be
    despatched. Refused for a NEW order (use `orders cancel`).

    \b
    Example:
      sqsync orders close SQ-1001 --reason "shipped from the shop"
    """
    _act(app, "close", order_number, client, reason)


@orders.command("changes")
@click.option(
    "--after",
    type=click.IntRange(min=0),
    required=True,
    metavar="N",
    help="List changes after this change number (0: everything).",
)
@click.option("-c", "--connection", metavar="NAME", help="Only orders of this connection.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["ndjson", "csv"]),
    default="ndjson",
    show_default=True,
    help="ndjson: the full order per line; csv: flat columns.",
)
@click.option("--lines", is_flag=True, help="One row per order line instead of per order.")
@click.option("--raw", is_flag=True, help="csv for a machine: cells exactly as stored.")
@pass_app
def order_changes(
    app: App, after: int, connection: str | None, fmt: str, lines: bool, raw: bool
) -> None:
    """Stream the orders changed after change number N, for a WMS.

    Every change of an order (created, updated, held, released, cancelled,
    despatched) takes the next change number. Each row carries `change` (its
    number) and `kind`; keep the last `change` you processed and pass it as
    --after next time: no change is missed or handed out twice. An order
    changed several times since N is listed once, at its latest number, with
    the kind of that latest change: act on its `status`. Changes committed
    while the listing runs come next time. csv cells are made safe for
    spreadsheets unless --raw.

    \b
    Example:
      sqsync orders changes --after 0 > changes.ndjson
      sqsync orders changes --after "$(cat last-change)" --format csv --lines --raw
    """
    from contextlib import closing

    from sqsync.output import render
    from sqsync.store.changes import (
        CHANGE_COLUMNS,
        CHANGE_LINE_COLUMNS,
        change_lines,
        durable_horizon,
        iter_changes,
    )
    from sqsync.store.orders import flat_order

    if connection is not None:
        app.config.connection(connection)
    with app.open_store(readonly=True) as store:
        upto = durable_horizon(store)
        with closing(iter_changes(store, after=after, upto=upto, connection=connection)) as rows:
            if lines:
                flat = (line for change in rows for line in change_lines(change))
                render(flat, fmt, CHANGE_LINE_COLUMNS, raw=raw)
            elif fmt == "csv":
                render((flat_order(c) for c in rows), fmt, CHANGE_COLUMNS, raw=raw)
            else:
                render(rows, fmt)
