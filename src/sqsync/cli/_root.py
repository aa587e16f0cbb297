"""The ``sqsync`` command group, its global options and what every command shares.

Command modules import only click at module level and import the library inside the
command body, so ``sqsync --help`` and a cron run with nothing due start fast.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sqsync import __version__

if TYPE_CHECKING:
    from sqsync.config import Config, Connection
    from sqsync.jobs.runner import ClientFactory
    from sqsync.progress import Sink
    from sqsync.squarespace import Client
    from sqsync.store import Store

FORMAT_CHOICE = click.Choice(["table", "json", "ndjson", "csv"])


class CommandError(click.ClickException):
    """A one-line failure with its own exit code (1 job failed, 2 usage or config)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it on the class

    def show(self, file: Any = None) -> None:
        click.echo(f"sqsync: error: {self.format_message()}", err=True)


class SqsyncGroup(click.Group):
    """Turns library exceptions into one clean line on stderr instead of a traceback."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name != "run":  # the collector, off for the start (sqsync.__main__); run's jobs
            gc.enable()  # turn it on as they start
        return name, command, rest

    def invoke(self, ctx: click.Context) -> Any:
        from sqsync.errors import AmbiguousError, SqsyncError

        try:
            return super().invoke(ctx)
        except AmbiguousError as error:
            what = error.what
            how = f"add a {what} column or give --{what}" if error.in_feed else f"give --{what}"
            raise CommandError(f"{error}; {how}", error.exit_code) from None
        except SqsyncError as error:
            raise CommandError(str(error), error.exit_code) from None
        except BrokenPipeError:
            _quiet_after_broken_pipe()
            ctx.exit(0)
        except Exception as error:
            # Store trouble SQLite reported outside Store.open and Store.transaction (say a
            # corrupted page met by a read) is one line too; anything else keeps its traceback.
            if not isinstance(getattr(error, "sqlite_errorcode", None), int):
                raise
            from sqsync.store.database import store_error

            app = ctx.obj
            trouble = store_error(app.config.store_path, error) if isinstance(app, App) else None
            if trouble is None:
                raise
            raise CommandError(str(trouble), trouble.exit_code) from None


def _quiet_after_broken_pipe() -> None:
    """`sqsync orders list | head` closes the pipe early; that is not an error, so the
    command ends quietly with exit 0 (the Python docs' "Note on SIGPIPE").

    stdout goes to devnull so the interpreter's final flush of what is still buffered
    cannot fail again. (A listing that streams from the store must close its generator
    inside the store's ``with``, or the generator's cleanup runs after the store closed.)
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (a test runner's buffer)
        pass


class App:
    """Per-invocation state: where the config is (loaded once on first use), how to make
    a Squarespace client, and where job progress goes.

    Tests pass ``obj={"client_factory": ...}`` to click's ``invoke`` to give every
    command their own client (a mock transport, no sleeping) without patching a module.
    """

    def __init__(
        self,
        config_path: str | None,
        verbosity: int,
        log_format: str,
        *,
        client_factory: ClientFactory | None = None,
    ) -> None:
        self.config_path = Path(config_path) if config_path else Path("sqsync.toml")
        self.verbosity = verbosity
        self.log_format = log_format
        self._config: Config | None = None
        self._client_factory = client_factory
        self.progress: Sink | None = None

    def make_client(self, connection: Connection, **overrides: Any) -> Client:
        if self._client_factory is not None:
            return self._client_factory(connection, **overrides)
        from sqsync.jobs.runner import make_client

        return make_client(connection, **overrides)

    @property
    def config(self) -> Config:
        if self._config is None:
            from sqsync.config import load_config

            self._config = load_config(self.config_path)
        return self._config

    def open_store(self, *, readonly: bool = False) -> Store:
        """The store; ``readonly`` for commands that only read, so they still work on a
        store whose file or folder cannot be written."""
        from sqsync.store import Store

        return Store.open(self.config.store_location, readonly=readonly)


pass_app = click.make_pass_decorator(App)


@click.group(cls=SqsyncGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sqsync")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="SQSYNC_CONFIG",
    show_envvar=True,
    help="Config file (default ./sqsync.toml).",
)
@click.option("-v", "--verbose", count=True, help="More detail on stderr (-vv for debug).")
@click.option("-q", "--quiet", count=True, help="Only warnings and errors on stderr (-qq: errors).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON object per log line, for log shippers.",
)
@click.pass_context
def cli(
    ctx: click.Context, config_path: str | None, verbose: int, quiet: int, log_format: str
) -> None:
    """Connect Squarespace stores to a warehouse.

    Import orders awaiting fulfilment, push warehouse stock to Squarespace
    inventory and send despatches back as fulfilments with tracking.

    \b
    Example:
      sqsync --config shop.toml import-orders -c acme
    """
    verbosity = verbose - quiet
    given = ctx.obj if isinstance(ctx.obj, dict) else {}
    app = App(config_path, verbosity, log_format, client_factory=given.get("client_factory"))
    ctx.obj = app
    from sqsync.logs import configure_logging

    bar = _progress_bar(ctx, verbosity)
    app.progress = bar
    configure_logging(verbosity, log_format, bar)


def _progress_bar(ctx: click.Context, verbosity: int) -> Any:
    """Draw job progress on stderr when a person is watching it (never under cron or -q)."""
    if verbosity < 0 or not sys.stderr.isatty():
        return None
    from sqsync.logs import ProgressBar

    bar = ProgressBar(sys.stderr)
    ctx.call_on_close(bar.clear)
    return bar


def output_option(default: str = "table") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--format table|json|ndjson|csv`` for a listing command."""
    return click.option(
        "--format",
        "fmt",
        type=FORMAT_CHOICE,
        default=default,
        show_default=True,
        help="Output format; ndjson and csv stream, csv cells are safe for spreadsheets.",
    )


def feed_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``[FILE|-]`` (as ``source``) and ``--format csv|ndjson`` (as ``fmt``) for a feed import."""
    func = click.option(
        "--format",
        "fmt",
        type=click.Choice(["csv", "ndjson"]),
        help="Feed format (default: by extension, .ndjson/.jsonl are ndjson, else csv).",
    )(func)
    return click.argument("source", default="-", metavar="[FILE|-]")(func)


def emit_rows(rows: Iterable[dict[str, Any]], fmt: str, columns: list[str] | None = None) -> int:
    from sqsync.output import render

    return render(rows, fmt, columns)


def connection_option(
    help: str = "Run for this connection only (repeatable; default: every active one).",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``-c/--connection NAME`` (repeatable) as ``connections``."""
    return click.option(
        "-c", "--connection", "connections", multiple=True, metavar="NAME", help=help
    )


def json_option(help: str = "One JSON object per connection on stdout.") -> Any:
    """``--json`` as ``as_json``."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def job_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``-c/--connection`` (repeatable), ``--json`` and ``--dry-run`` for a job command."""

    @connection_option()
    @json_option()
    @click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


def report_results(results: Iterable[Any], as_json: bool) -> None:
    """Print each JobResult (a JSON line on stdout, a summary on stderr); exit 1 if any failed.

    A job that changed something is summarised at INFO; one that failed at ERROR, so
    ``-q`` under cron shows only problems.
    """
    log = logging.getLogger("sqsync")
    failed = False
    for result in results:
        if as_json:
            from sqsync.output import to_json  # not for cron's plain runs: csv, decimal

            click.echo(to_json(result.to_json()))
        if result.ok:
            log.info(result.summary())
        else:
            failed = True
            log.error(result.summary())
    if failed:
        sys.exit(1)


def run_job_command(
    app: App,
    job: str,
    connections: tuple[str, ...],
    as_json: bool,
    dry_run: bool,
    *,
    stock_sync_only: bool = False,
    **options: Any,
) -> None:
    """The body of every job command: select connections, run the job for each, report.

    Every selected connection's key is resolved first, so a missing variable or key
    file is a config error (exit 2) before anything is sent.
    """
    selected = app.config.select(connections, stock_sync_only=stock_sync_only)
    app.config.resolve_keys(selected)
    from sqsync.jobs.runner import run_locked

    if app.progress is not None:
        options["progress"] = app.progress
    store = app.open_store()
    try:
        results = [
            run_locked(job, c, store, dry_run=dry_run, client_factory=app.make_client, **options)
            for c in selected
        ]
    finally:
        store.close()
    report_results(results, as_json)
