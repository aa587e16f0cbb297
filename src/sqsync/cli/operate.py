"""Commands for running sqsync for real: ``run`` (from cron), ``status``, ``check``, ``cron``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sqsync.cli._root import App, cli, connection_option, json_option, pass_app

if TYPE_CHECKING:
    from sqsync.check import ConnectionCheck


@cli.command()
@connection_option()
@click.option("--force", is_flag=True, help="Run every job now, whether due or not.")
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=64),
    default=20,  # jobs.runner.DEFAULT_WORKERS (not imported: start-up time)
    show_default=True,
    help="Connections worked on at the same time.",
)
@json_option("One JSON object per job on stdout.")
@pass_app
def run(app: App, connections: tuple[str, ...], force: bool, workers: int, as_json: bool) -> None:
    """Run every job that is due, for every active connection (for cron).

    import-orders and push-despatch run every `frequency` minutes, sync-stock
    every `stock_sync_frequency` minutes when stock_sync is on, in that order.
    A failed job is retried after 5 minutes at most. A connection another
    sqsync is working on is skipped. Exit 1 if any job failed.

    \b
    Example:
      sqsync --quiet run
      sqsync run -c acme --force --json
    """
    from sqsync.cli._root import report_results
    from sqsync.jobs.runner import run_due
    from sqsync.progress import no_progress

    selected = app.config.select(connections)
    # A missing key (or two connections with one key) is a config error before any request.
    app.config.resolve_keys(selected)
    outcomes = run_due(
        selected,
        app.config.store_location,
        force=force,
        workers=workers,
        client_factory=app.make_client,
        progress=app.progress or no_progress,
        run_log_days=app.config.store.run_log_days,
    )
    if as_json:
        from sqsync.output import to_json

        for outcome in outcomes:
            if outcome.locked_by is not None:
                line = {
                    "connection": outcome.connection,
                    "skipped": "locked",
                    "locked_by": outcome.locked_by.describe(),
                }
                click.echo(to_json(line))
    report_results([r for outcome in outcomes for r in outcome.results], as_json)


@cli.command()
@connection_option("Only this connection (repeatable; default: all configured).")
@json_option("The whole status as one JSON document.")
@click.option(
    "--check",
    is_flag=True,
    help="For monitoring: print only what waits for a person, one line each; exit 1 if any.",
)
@pass_app
def status(app: App, connections: tuple[str, ...], as_json: bool, check: bool) -> None:
    """Show each connection's last runs, next due times and waiting work.

    Per connection and job: when it last ran, how it went and what it did,
    and when it is next due; then NEW and HOLDING orders, unpushed shipments
    and the last error with Squarespace's contextId. Orders stored under a
    connection name that is no longer in the config are listed after it (on
    stderr with --json). Reads only the local store: no request is sent.

    --check is for a monitoring check: it prints one line per thing that
    waits for a person (a HOLDING order and its problems, a shipment
    Squarespace refused, an order that could not be read, and with
    stock_sync an uncounted SKU, a variant left alone or a SKU on several
    variants; without -c, orders under a connection no longer in the
    config) and exits 1, or prints nothing and exits 0. With --json it
    prints the JSON (each connection's needs_attention) and exits the same.

    \b
    Example:
      sqsync status
      sqsync status --json | jq '.[] | {connection, orders}'
      sqsync status --check || mail -s "sqsync needs you" ops@example.com
    """
    from sqsync.cli._root import emit_rows
    from sqsync.output import to_json
    from sqsync.status import (
        TABLE_COLUMNS,
        attention_lines,
        orphan_lines,
        orphans,
        status_report,
        summary_lines,
        table_rows,
    )

    config = app.config
    chosen = [config.connection(n) for n in connections] if connections else config.connections
    with app.open_store(readonly=True) as store:
        report = status_report(store, chosen)
        unconfigured = orphan_lines(orphans(store, {c.name for c in config.connections}))
    # An orphan is a whole connection's orders left behind; `-c NAME` asks about NAME only.
    waiting = attention_lines(report) + ([] if connections else unconfigured)
    if as_json:
        click.echo(to_json(report, indent=2))
        for line in unconfigured:
            logging.getLogger("sqsync").warning(line)
    elif check:
        for line in waiting:
            click.echo(line)
    else:
        emit_rows(table_rows(report), "table", TABLE_COLUMNS)
        click.echo()
        for line in summary_lines(report) + unconfigured:
            click.echo(line)
    if check and waiting:
        raise SystemExit(1)


@cli.command()
@connection_option("Check this connection only (repeatable; default: every active one).")
@json_option()
@pass_app
def check(app: App, connections: tuple[str, ...], as_json: bool) -> None:
    """Check the config and prove each connection's API key works.

    Validates the config file and resolves every key, then for each
    connection reads one page of orders and one page of inventory, says
    plainly what is missing (a permission, the site's billing) and which
    site the key opens. Sends no writes. Exit 1 if any connection fails,
    if two connections open one site, or if orders are stored under a
    connection no longer in the config; 2 if the config is invalid or a
    key cannot be read.

    \b
    Example:
      sqsync --config shop.toml check
      sqsync check -c acme
    """
    from sqsync.check import check_connections, orphan_checks

    config = app.config
    selected = config.select(connections)
    # Every key first: a missing one is a config error (exit 2) before any request.
    config.resolve_keys(selected)
    if not as_json:
        count = len(config.connections)
        click.echo(f"config {config.path}: OK ({count} connection{'s' if count != 1 else ''})")
    urls = {c.name: c.api_url for c in selected}
    results = check_connections(selected, lambda c: app.make_client(c, max_attempts=2))
    failed = False
    for result in results:
        failed = _show_check(result, urls.get(result.connection), as_json) or failed
    location = config.store_location
    if not isinstance(location, Path) or location.exists():  # check never creates a file
        with app.open_store(readonly=True) as store:
            unconfigured = orphan_checks(store, {c.name for c in config.connections})
        for result in unconfigured:
            failed = _show_check(result, None, as_json) or failed
    if failed:
        raise SystemExit(1)


def _show_check(result: ConnectionCheck, api_url: str | None, as_json: bool) -> bool:
    """Print one ConnectionCheck (a JSON line, or a verdict and a line per probe); True if
    it failed."""
    from sqsync.output import to_json

    if as_json:
        click.echo(to_json(result.to_json()))
        return not result.ok
    where = api_url or "not in the config"
    click.echo(f"{result.connection} ({where}): {'OK' if result.ok else 'FAILED'}")
    for probe in result.probes:
        click.echo(f"  {probe.name}: {probe.mark}: {probe.detail}")
    return not result.ok


@cli.command()
@pass_app
def cron(app: App) -> None:
    """Print a crontab line that runs sqsync for this config.

    It runs `sqsync run --quiet` as often as the most frequent job, with
    absolute paths, so cron mails you only when something went wrong.
    Install it with `crontab -e`.

    \b
    Example:
      sqsync --config /etc/sqsync/shop.toml cron
      (crontab -l; sqsync --config shop.toml cron) | crontab -
    """
    from sqsync.cron import crontab_lines

    for line in crontab_lines(app.config):
        click.echo(line)
