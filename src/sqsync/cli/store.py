"""Commands: ``sqsync store copy``: move the store from SQLite to PostgreSQL."""

from __future__ import annotations

import click

from sqsync.cli._root import App, cli, pass_app


@cli.group("store")
def store_group() -> None:
    """Look after the store itself.

    \b
    Example:
      sqsync store copy --to postgresql://sqsync@db.example.com/sqsync
    """


@store_group.command("copy")
@click.option(
    "--to",
    "target",
    required=True,
    metavar="URL",
    help="The empty PostgreSQL database to copy into (postgresql://user@host/db).",
)
@pass_app
def copy(app: App, target: str) -> None:
    """Copy this config's SQLite store into an empty PostgreSQL database.

    Everything goes, in one transaction: orders with their lines and shipments,
    stock and its movements, journals, import windows, sync state and the run
    log, with their ids, so the jobs resume from the copy without importing or
    sending anything again. A target that already holds data is refused. Stop
    cron before copying, then set [store] url (or SQSYNC_STORE_URL) to the copy.
    The password comes from ~/.pgpass or PGPASSWORD, never from the URL.

    \b
    Example:
      sqsync store copy --to postgresql://sqsync@db.example.com/sqsync
    """
    from sqsync.errors import ConfigError
    from sqsync.store.copy import copy_store

    if isinstance(app.config.store_location, str):
        raise ConfigError("store copy: the store is already PostgreSQL; copy from a SQLite one")
    with app.open_store() as store:
        copied = copy_store(store, target)
    click.echo(copied.summary())
