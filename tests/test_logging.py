"""Logs on stderr with -v/-q and --log-format json; the progress bar only on a terminal."""

import io
import json
import logging

import click
import pytest
from click.testing import CliRunner

from factories import write_config
from sqsync.cli import cli
from sqsync.cli._root import _progress_bar
from sqsync.jobs import JobResult, runner
from sqsync.logs import VERBOSE, ProgressBar, configure_logging


@pytest.fixture(autouse=True)
def reset_logging():
    yield
    configure_logging(0)


def emitted(capsys, verbosity, log_format="text"):
    configure_logging(verbosity, log_format)
    log = logging.getLogger("sqsync.test")
    log.debug("debug line")
    log.log(VERBOSE, "verbose line")
    log.info("info line")
    log.warning("warning line")
    log.error("error line")
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("verbosity", "shown"),
    [
        (-2, ["error"]),
        (-1, ["warning", "error"]),
        (0, ["info", "warning", "error"]),
        (1, ["verbose", "info", "warning", "error"]),
        (2, ["debug", "verbose", "info", "warning", "error"]),
    ],
)
def test_verbosity_levels(capsys, verbosity, shown):
    err = emitted(capsys, verbosity)
    assert err.splitlines() == [f"{level} line" for level in shown]


def test_json_log_lines_for_log_shippers(capsys):
    configure_logging(0, "json")
    log = logging.getLogger("sqsync.test")
    log.info("imported %d orders", 3, extra={"data": {"connection": "acme"}})
    try:
        raise ValueError("broken")
    except ValueError:
        log.error("internal error", exc_info=True)
    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first["level"] == "info" and first["message"] == "imported 3 orders"
    assert first["logger"] == "sqsync.test" and first["connection"] == "acme"
    assert first["time"].endswith("Z")
    assert second["level"] == "error" and "ValueError: broken" in second["exception"]


def test_cli_log_format_json_and_quiet(tmp_path, monkeypatch):
    def job_function(job):
        def fake(client, store, connection, **options):
            result = JobResult(connection.name, job)
            result.count("imported", 2)
            return result

        return fake

    monkeypatch.setattr(runner, "job_function", job_function)
    monkeypatch.setenv("ACME_KEY", "k")
    path = write_config(tmp_path)
    result = CliRunner().invoke(cli, ["--config", str(path), "--log-format", "json", "run"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert [line["message"] for line in lines] == [
        "acme import-orders: imported 2 (0 requests)",
        "acme push-despatch: imported 2 (0 requests)",
    ]
    quiet = CliRunner().invoke(cli, ["--config", str(path), "-q", "run", "--force"])
    assert quiet.exit_code == 0 and quiet.stderr == ""


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_installed_only_when_stderr_is_a_terminal(monkeypatch):
    ctx = click.Context(cli)
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert _progress_bar(ctx, 0) is None

    tty = Tty()
    monkeypatch.setattr("sys.stderr", tty)
    assert _progress_bar(ctx, -1) is None  # -q: cron-like, no bar
    bar = _progress_bar(ctx, 0)
    assert bar is not None
    bar("acme", "orders", 50, 100)  # the sink the CLI passes to the jobs
    assert "\racme orders 50/100 [" in tty.getvalue()
    ctx.close()  # the command finished: the bar is wiped
    assert tty.getvalue().endswith("\r")


def test_progress_bar_draws_on_one_line_and_throttles():
    clock = [0.0]
    out = io.StringIO()
    bar = ProgressBar(out, per_second=10, monotonic=lambda: clock[0])
    bar("acme", "orders", 100, 1000)
    bar("acme", "orders", 200, 1000)  # same instant: not redrawn
    assert out.getvalue().count("\r") == 1
    clock[0] = 0.2
    bar("beta", "variants", 40, None)
    text = out.getvalue().split("\r")[-1]
    assert text.startswith("acme orders 200/1,000 [##") and "beta variants 40" in text
    bar("acme", "orders", 1000, 1000)  # finishing always draws
    assert "1,000/1,000 [" + "#" * ProgressBar.WIDTH + "]" in out.getvalue()
    assert "\n" not in out.getvalue()


def test_log_lines_wipe_the_bar_first(capsys):
    stream = io.StringIO()
    bar = ProgressBar(stream)
    configure_logging(0, "text", bar)
    bar("acme", "orders", 1, 10)
    logging.getLogger("sqsync.test").warning("careful")
    assert stream.getvalue().endswith("\r" + " " * len(bar.line()) + "\r")
    assert capsys.readouterr().err == "careful\n"
