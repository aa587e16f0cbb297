"""Command: ``sqsync import-orders``: bring Squarespace orders into the warehouse store."""

from __future__ import annotations

import click

from sqsync.cli._root import App, cli, job_options, pass_app, run_job_command


@cli.command("import-orders")
@job_options
@click.option(
    "--since",
    metavar="ISO",
    help="Re-read every order modified since this time (back-fill); no zone means UTC.",
)
@pass_app
def import_orders(
    app: App, connections: tuple[str, ...], as_json: bool, dry_run: bool, since: str | None
) -> None:
    """Import new orders and apply changes made in Squarespace.

    New PENDING orders become NEW warehouse orders (HOLDING when a SKU is
    unknown); cancellations and fulfilments made in Squarespace update the
    orders already imported. Each run continues from where the last one
    finished, re-reading a 10-minute overlap.

    \b
    Example:
      sqsync import-orders -c acme
      sqsync import-orders --since 2026-03-01T00:00:00Z --dry-run --json
    """
    from sqsync.jobs.import_orders import parse_since

    moment = parse_since(since) if since is not None else None
    run_job_command(app, "import-orders", connections, as_json, dry_run, since=moment)
