"""Commands: ``sqsync connections rename``: what the store holds under a connection's name."""

from __future__ import annotations

import click

from sqsync.cli._root import App, cli, pass_app


@cli.group()
def connections() -> None:
    """Look after what the store holds under each connection's name.

    \b
    Example:
      sqsync connections rename acme acme-uk
    """


@connections.command("rename")
@click.argument("old")
@click.argument("new")
@pass_app
def rename_connection(app: App, old: str, new: str) -> None:
    """Move everything stored under connection OLD to NEW, at once.

    For a connection renamed in the config: its orders (with their shipments),
    run log, sync state and stock adjustment journal move from the old name to
    the new one in one transaction. NEW must be in the config and OLD no longer.
    Refused while either is locked by a running sqsync, when OLD has no stored
    orders, or when NEW already has some.

    \b
    Example:
      sqsync connections rename acme acme-uk
    """
    from sqsync.store.connections import rename_connection as rename

    configured = {c.name for c in app.config.connections}
    with app.open_store() as store:
        renamed = rename(store, old, new, configured=configured)
    click.echo(renamed.summary())
