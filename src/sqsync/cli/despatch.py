"""Commands: ``sqsync despatch add|import|list|retry|void`` and ``sqsync push-despatch``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from sqsync.cli._root import (
    App,
    CommandError,
    cli,
    emit_rows,
    feed_options,
    job_options,
    output_option,
    pass_app,
    run_job_command,
)

if TYPE_CHECKING:
    from sqsync.store.recording import DespatchRefused

PUSH_STATES = click.Choice(["pending", "sending", "pushed", "failed", "void", "local_only"])
FORCE_HELP = (
    "Record it even for an order that is HOLDING or CANCELLED (the goods left): a HOLDING "
    "order is despatched as usual; a CANCELLED one loses the units but is never pushed."
)
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
      sqsync despatch void SQ-1001
    """


@despatch.command("add")
@click.argument("order_number")
@click.option(
    "--carrier", help="Carrier name (at most 100 characters). Default: the order's courier map."
)
@click.option(
    "--service",
    help="Carrier service (at most 100 characters). Default: the order's courier map.",
)
@click.option("--tracking-number", help="Tracking number; leave out for an untracked parcel.")
@click.option("--tracking-url", help="Tracking page (http or https URL).")
@click.option(
    "--shipped-at",
    metavar="ISO",
    help="When it shipped, with a timezone (e.g. 2026-11-27T10:00:00Z). Default: now.",
)
@click.option("--client", metavar="CODE", help="The client, when several have this order number.")
@click.option("--force", is_flag=True, help=FORCE_HELP)
@pass_app
def add_despatch(
    app: App,
    order_number: str,
    carrier: str | None,
    service: str | None,
    tracking_number: str | None,
    tracking_url: str | None,
    shipped_at: str | None,
    client: str | None,
    force: bool,
) -> None:
    """Record one parcel shipped for an order (the order becomes DESPATCHED).

    The first despatch of an order takes its lines off on-hand stock; more
    parcels for an order already DESPATCHED are added as further shipments.
    The same tracking number recorded twice (in any case, with or without
    spaces) is skipped. An order that is HOLDING or CANCELLED is refused,
    with the reason, unless --force.

    \b
    Example:
      sqsync despatch add SQ-1001 --carrier DPD --service "Next Day" \\
          --tracking-number 15501234567890 --shipped-at 2026-11-27T16:30:00Z
    """
    from sqsync.feeds import despatch_from_options
    from sqsync.store.recording import DespatchRefused, record_despatches

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
        try:
            summary = record_despatches(store, [parcel], force=force)
        except DespatchRefused as refused:
            raise CommandError(f"{refused.reasons[0]} (--force records it anyway)") from None
    click.echo(f"despatch {order_number}: {summary.describe()}", err=True)


@despatch.command("import")
@feed_options
@click.option("--client", metavar="CODE", help="Client for rows without a client column.")
@click.option("--force", is_flag=True, help=FORCE_HELP)
@click.option(
    "--skip-refused",
    is_flag=True,
    help="Record the other rows when some are refused (HOLDING or CANCELLED orders), "
    "listing what was skipped.",
)
@pass_app
def import_despatches(
    app: App, source: str, fmt: str | None, client: str | None, force: bool, skip_refused: bool
) -> None:
    """Record despatches from a CSV or NDJSON feed, all or nothing.

    Columns: order_number, carrier, service (left out: the order's courier
    map), and optionally tracking_number, tracking_url, shipped_at (ISO-8601
    with a timezone; default now) and client. Several rows for one order are
    several parcels. A bad row is reported with its line number and nothing
    is written; rows already recorded (same order and tracking number, in
    any case, with or without spaces) are skipped, so a feed can be imported twice safely. Rows for
    orders that are HOLDING or CANCELLED are refused, one line each, and
    nothing is written, unless --skip-refused (record the rest) or --force.

    \b
    Example:
      sqsync despatch import shipped.csv
      carrier-export | sqsync despatch import - --format ndjson
      sqsync despatch import shipped.csv --skip-refused
    """
    from sqsync.errors import UsageError
    from sqsync.feeds import DespatchRow, despatches_from_feed, feed_format, read_rows
    from sqsync.store.recording import DespatchRefused, record_despatches

    if force and skip_refused:
        raise UsageError("give --force (record every row) or --skip-refused, not both")
    rows = read_rows(source, feed_format(source, fmt), DespatchRow)
    name = "stdin" if source == "-" else source
    with app.open_store() as store:
        try:
            summary = record_despatches(
                store, despatches_from_feed(rows, name, client), force=force,
                skip_refused=skip_refused,
            )  # fmt: skip
        except DespatchRefused as refused:
            raise _feed_refused(refused) from None
    for reason in summary.skipped:
        click.echo(f"despatch import: skipped {reason}", err=True)
    click.echo(f"despatch import: {summary.describe()}", err=True)


def _feed_refused(refused: DespatchRefused) -> CommandError:
    """Each refused row on a line of its own, then the one-line error (exit 1)."""
    for reason in refused.reasons:
        click.echo(f"sqsync: refused: {reason}", err=True)
    count = len(refused.reasons)
    return CommandError(
        f"despatch import: {count} of {refused.rows} {'row' if refused.rows == 1 else 'rows'} "
        "refused, nothing recorded (fix them, or --skip-refused records the others, "
        "--force records them all)"
    )


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


@despatch.command("void")
@click.argument("order_number")
@click.option("--client", metavar="CODE", help="The client, when several have this order number.")
@pass_app
def void_despatch(app: App, order_number: str, client: str | None) -> None:
    """Discard an order's shipments that will never go (say it was cancelled).

    Its pending, failed and never-pushed shipments become void: push-despatch
    never sends them, and a re-imported feed does not record them again.
    When nothing of the order went, its units go back on hand (logged in
    `stock history` as void) and the order is as before its despatch. An
    order with nothing to void (already pushed, or still being sent) is
    refused.

    \b
    Example:
      sqsync despatch list --state failed
      sqsync despatch void SQ-1001
    """
    from sqsync.store.recording import void_despatch as void

    with app.open_store() as store:
        summary = void(store, order_number, client)
    click.echo(f"despatch void {order_number}: {summary.describe()}", err=True)


@cli.command("push-despatch")
@job_options
@pass_app
def push_despatch(app: App, connections: tuple[str, ...], as_json: bool, dry_run: bool) -> None:
    """Send recorded despatches to Squarespace as fulfilments with tracking.

    One request per order carries all its new parcels; the customer is
    emailed when the connection has notify_customer. A tracking number already
    on the Squarespace order is never added again. A send whose outcome is
    unknown is checked against the order once it can no longer be in flight,
    never repeated blindly. --json reports pushed, verified, failed, deferred,
    in_doubt, in_flight.

    \b
    Example:
      sqsync push-despatch -c acme --dry-run
      sqsync push-despatch --json
    """
    run_job_command(app, "push-despatch", connections, as_json, dry_run)
