"""Command: ``sqsync sync-stock``: push warehouse availability to Squarespace inventory."""

from __future__ import annotations

from typing import Any

from sqsync.cli._root import App, cli, emit_rows, job_options, pass_app, run_job_command

PLANNED_COLUMNS = ["connection", "sku", "variant", "from", "to", "rule"]


def _print_planned(connection: str, rows: list[dict[str, Any]]) -> None:
    """The dry run's planned changes as a table on stdout (one per connection)."""
    emit_rows(
        ({"connection": connection, **row, "variant": row["variant_id"]} for row in rows),
        "table",
        PLANNED_COLUMNS,
    )


@cli.command("sync-stock")
@job_options
@pass_app
def sync_stock(app: App, connections: tuple[str, ...], as_json: bool, dry_run: bool) -> None:
    """Set Squarespace stock to what the warehouse can ship (on hand - open orders - buffer).

    Runs for every connection with stock_sync = true, or those named with -c.
    It reads Squarespace's inventory, then imports the orders up to after that
    read, so a sale made meanwhile is never advertised again. stock_cap and
    stock_zero_below (and per-SKU stock_rules) shape the figure; --dry-run
    names the rule of each. Changes are sent as increments and decrements, so
    a sale made during the sync stays counted. Unlimited variants and variants
    whose SKU the warehouse does not know are left alone and reported once. A
    SKU the warehouse has never counted is left alone too, not taken as 0, and
    reported once: `sqsync stock set SKU 0` says "we have none". Nothing is
    sent before the connection's first successful import-orders.

    \b
    Example:
      sqsync sync-stock --dry-run
      sqsync sync-stock -c acme --json
    """
    # In --json mode stdout carries only the JSON lines; the plan is in them as "planned".
    on_planned = _print_planned if dry_run and not as_json else None
    run_job_command(
        app,
        "sync-stock",
        connections,
        as_json,
        dry_run,
        stock_sync_only=True,
        on_planned=on_planned,
    )
