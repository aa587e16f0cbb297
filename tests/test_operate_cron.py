"""`sqsync cron` (issue 6 rule 6): a ready crontab line with absolute paths."""

import shlex
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from factories import DEFAULT_CONNECTION, write_config
from sqsync.cli import cli
from sqsync.cron import schedule, sqsync_command


def test_cron_line_runs_quietly_as_often_as_the_most_frequent_job(tmp_path, monkeypatch):
    conns = [
        {**DEFAULT_CONNECTION, "frequency": 20, "stock_sync": True, "stock_sync_frequency": 10},
        {
            **DEFAULT_CONNECTION,
            "name": "beta",
            "order_prefix": "B",
            "frequency": 5,
            "active": False,
        },
    ]
    path = write_config(tmp_path, connections=conns)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["--config", path.name, "cron"])
    assert result.exit_code == 0, result.output
    *comments, entry = result.output.splitlines()
    assert all(line.startswith("#") for line in comments)
    assert "ACME_KEY" in comments[-1]  # cron does not have the shell's variables
    words = shlex.split(entry)
    assert words[:5] == ["*/10", "*", "*", "*", "*"]  # 10: inactive beta does not count
    assert Path(words[5]).is_absolute()
    assert words[-4:] == ["--config", str(path.resolve()), "--quiet", "run"]


def test_no_active_connection_is_a_config_error(tmp_path):
    path = write_config(tmp_path, active=False)
    result = CliRunner().invoke(cli, ["--config", str(path), "cron"])
    assert result.exit_code == 2 and "no active connection" in result.output


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (1, "* * * * *"),
        (15, "*/15 * * * *"),
        (60, "0 * * * *"),
        (120, "0 */2 * * *"),
        (90, "0 * * * *"),
        (1440, "0 * * * *"),
    ],
)
def test_schedule(minutes, expected):
    assert schedule(minutes) == expected


def test_command_is_an_absolute_path_or_python_dash_m(tmp_path):
    script = tmp_path / "bin" / "sqsync"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    assert sqsync_command(str(script)) == [str(script.resolve())]
    assert sqsync_command("sqsync", which=lambda name: str(script)) == [str(script.resolve())]
    assert sqsync_command("/x/sqsync/__main__.py", python="/py") == ["/py", "-m", "sqsync"]
    assert sqsync_command("sqsync", which=lambda name: None) == [sys.executable, "-m", "sqsync"]
