"""Command: ``sqsync init``, a commented config to start from.

The example ships inside the package (``sqsync/config.example.toml``), so a pipx install,
which has no repository checkout, can write it too.
"""

from __future__ import annotations

from pathlib import Path

import click

from sqsync.cli._root import App, cli, pass_app

EXAMPLE = "config.example.toml"


@cli.command("init")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@pass_app
def init(app: App, path: str | None, force: bool) -> None:
    """Write a commented config (every key with its default) to start from.

    PATH defaults to the config sqsync would read: --config, else
    $SQSYNC_CONFIG, else ./sqsync.toml. An existing file is never
    overwritten without --force. The file is made readable by you only,
    as a config that may one day hold a key should be.

    \b
    Example:
      sqsync init
      sqsync init /etc/sqsync/shop.toml && sqsync --config /etc/sqsync/shop.toml check
    """
    from importlib import resources

    from sqsync.errors import UsageError

    target = Path(path) if path else app.config_path
    text = (resources.files("sqsync") / EXAMPLE).read_text(encoding="utf-8")
    try:
        _write(target, text, force=force)
    except FileExistsError:
        raise UsageError(f"{target} already exists; give --force to overwrite it") from None
    except OSError as error:
        raise UsageError(f"cannot write {target}: {error.strerror or error}") from None
    check = "sqsync check" if target == Path("sqsync.toml") else f"sqsync --config {target} check"
    click.echo(
        f"wrote {target}: set each connection's name, client, warehouse and key, then `{check}`",
        err=True,
    )


def _write(target: Path, text: str, *, force: bool) -> None:
    import os

    if target.is_dir():
        raise IsADirectoryError(21, "it is a folder", str(target))
    # O_EXCL: a file that appears between a check and the write is still never overwritten.
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    fd = os.open(target, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
    if force:
        # An overwritten file keeps its old mode; this one is as private as a new one.
        target.chmod(0o600)
