"""Commands: ``sqsync despatch add|import|list|retry`` and ``sqsync push-despatch``."""

from __future__ import annotations

import click

from sqsync.cli._root import (
    App,
    cli,
    emit_rows,
    feed_options,
    job_options,
    output_option,
    pass_app,
    run_job_command,
)

PUSH_STATES = click.Choice(["pending", "sending", "pushed", "failed"])
LIST_COLUMNS = [
    "order_number",
    "connection",
    "carrier",
    "service",
    "tracking_number",
    "shipped_at",
    "push_state",
    "push_error",
]


@cli.group()
def despatch() -> None:
    """Record what the warehouse shipped, and see what is pushed to Squarespace.

    \b
    Example:
      sqsync despatch add SQ-1001 --carrier "Royal Mail" --service "Tracked 48" \\
          --tracking-number RM123456785GB
      sqsync despatch import shipped.csv
      sqsync despatch list --state failed
    """


@despatch.command("add")
@click.argument("order_number")
@click.option("--carrier", required=True, help="Carrier name (at most 100 characters).")
@click.option("--service", required=True, help="Carrier service (at most 100 characters).")
@click.option("--tracking-number", help="Tracking number; leave out for an untracked parcel.")
@click.option("--tracking-url", help="Tracking page (http or https URL).")
@click.option(
    "--shipped-at",
    metavar="ISO",
    help="When it shipped, with a timezone (e.g. 2026-11-27T10:00:00Z). Default: now.",
)
@click.option("--client", metavar="CODE", help="The client, when several have this order number.")
@pass_app
def add_despatch(
    app: App,
    order_number: str,
    carrier: str,
    service: str,
    tracking_number: str | None,
    tracking_url: str | None,
    shipped_at: str | None,
    client: str | None,
) -> None:
    """Record one parcel shipped for an order (the order becomes DESPATCHED).

    The first despatch of an order takes its lines off on-hand stock; more
    parcels for an order already DESPATCHED are added as further shipments.
    The same tracking number recorded twice is skipped.

    \b
    Example:
      sqsync despatch add SQ-1001 --carrier DPD --service "Next Day" \\
          --tracking-number 15501234567890 --shipped-at 2026-11-27T16:30:00Z
    """
    from sqsync.feeds import despatch_from_options
    from sqsync.store.recording import record_despatches

    parcel = despatch_from_options(
        f"despatch {order_number}",
        order_number=order_number,
        carrier=carrier,
        service=service,
        tracking_number=tracking_number,
        tracking_url=tracking_url,
        shipped_at=shipped_at,
        client=client,
    )
    with app.open_store() as store:
        summary = record_despatches(store, [parcel])
    click.echo(f"despatch {order_number}: {summary.describe()}", err=True)


@despatch.command("import")
@feed_options
@click.option("--client", metavar="CODE", help="Client for rows without a client column.")
@pass_app
def import_despatches(app: App, source: str, fmt: str | None, client: str | None) -> None:
    """Record despatches from a CSV or NDJSON feed, all or nothing.

    Columns: order_number, carrier, service, and optionally tracking_number,
    tracking_url, shipped_at (ISO-8601 with a timezone; default now) and
    client. Several rows for one order are several parcels. A bad row is
    reported with its line number and nothing is written; rows already
    recorded (same order and tracking number) are skipped, so a feed can be
    imported twice safely.

    \b
    Example:
      sqsync despatch import shipped.csv
      carrier-export | sqsync despatch import - --format ndjson
    """
    from sqsync.feeds import DespatchRow, despatches_from_feed, feed_format, read_rows
    from sqsync.store.recording import record_despatches

    rows = read_rows(source, feed_format(source, fmt), DespatchRow)
    name = "stdin" if source == "-" else source
    with app.open_store() as store:
        summary = record_despatches(store, despatches_from_feed(rows, name, client))
    click.echo(f"despatch import: {summary.describe()}", err=True)


@despatch.command("list")
@click.option("--state", type=PUSH_STATES, help="Only shipments in this push state.")
@click.option("-c", "--connection", metavar="NAME", help="Only shipments of this connection.")
@output_option()
@pass_app
def list_despatches(app: App, state: str | None, connection: str | None, fmt: str) -> None:
    """List shipments with their push state (pending, sending, pushed, failed).

    \b
    Example:
      sqsync despatch list --state failed --format csv
    """
    from sqsync.store.despatches import iter_shipments

    if connection is not None:
        app.config.connection(connection)  # a misspelt name fails instead of listing nothing
    with app.open_store(readonly=True) as store:
        rows = iter_shipments(store, connection=connection, state=state)
        emit_rows(rows, fmt, LIST_COLUMNS if fmt in ("table", "csv") else None)


@despatch.command("retry")
@click.argument("order_number")
@click.option("--client", metavar="CODE", help="The client, when several have this order number.")
@pass_app
def retry_despatch(app: App, order_number: str, client: str | None) -> None:
    """Push an order's failed shipments again on the next push-despatch.

    A shipment Squarespace refused (400) stays failed until you fix the
    cause and run this.

    \b
    Example:
      sqsync despatch retry SQ-1001 && sqsync push-despatch -c acme
    """
    from sqsync.store.recording import retry_failed

    with app.open_store() as store:
        count = retry_failed(store, order_number, client)
    click.echo(f"despatch {order_number}: {count} failed shipments set to pending", err=True)


@cli.command("push-despatch")
@job_options
@pass_app
def push_despatch(app: App, connections: tuple[str, ...], as_json: bool, dry_run: bool) -> None:
    """Send recorded despatches to Squarespace as fulfilments with tracking.

    One request per order carries all its new parcels; the customer is
    emailed when the connection has notify_customer. A send whose outcome is
    unknown is checked against the order on the next run, never repeated
    blindly. --json reports pushed, verified, failed, deferred, in_doubt.

    \b
    Example:
      sqsync push-despatch -c acme --dry-run
      sqsync push-despatch --json
    """
    run_job_command(app, "push-despatch", connections, as_json, dry_run)
