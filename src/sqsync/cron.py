"""The crontab entry ``sqsync cron`` prints for a config.

Cron runs with a bare environment and another working directory, so the line uses
absolute paths for both the sqsync executable and the config, and it names the
environment variables the keys come from (cron will not have them unless the crontab
defines them). ``run --quiet`` prints only warnings and errors, and cron mails whatever a
job prints: mail arrives only when something needs a person.

The schedule is every N minutes, N being the shortest interval of any active
connection's jobs; ``run`` itself decides what is due at each tick.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqsync.errors import ConfigError

if TYPE_CHECKING:
    from sqsync.config import Config


def sqsync_command(
    argv0: str | None = None,
    *,
    which: Callable[[str], str | None] = shutil.which,
    python: str | None = None,
) -> list[str]:
    """How to start this sqsync again from anywhere: its absolute path, or ``python -m``."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    python = python or sys.executable
    program = Path(argv0)
    if program.name == "__main__.py" or not argv0:
        return [python, "-m", "sqsync"]
    if program.parent != Path(".") or program.is_file():
        return [str(program.resolve())]
    found = which(argv0)
    return [str(Path(found).resolve())] if found else [python, "-m", "sqsync"]


def schedule(minutes: int) -> str:
    """A cron schedule running at least every ``minutes`` minutes."""
    if minutes < 60:
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    hours = minutes // 60
    if minutes % 60 or hours >= 24 or hours == 1:
        return "0 * * * *"  # hourly; `run` skips the ticks when nothing is due
    return f"0 */{hours} * * *"


def crontab_lines(config: Config, command: list[str] | None = None) -> list[str]:
    """Comment lines explaining the entry, then the entry itself."""
    active = [c for c in config.connections if c.active]
    if not active:
        raise ConfigError(f"{config.path}: no active connection: nothing for cron to run")
    intervals = [c.frequency for c in active]
    intervals += [c.stock_sync_frequency for c in active if c.stock_sync]
    every = min(intervals)
    config_path = str(config.path.resolve())
    words = [*(command or sqsync_command()), "--config", config_path, "--quiet", "run"]
    lines = [
        f"# sqsync: run the jobs that are due every {every} minutes; cron mails only problems.",
    ]
    env_vars = sorted({c.api_key_env for c in active if c.api_key_env})
    if env_vars:
        lines.append(
            "# cron does not see your shell's variables: define "
            + ", ".join(env_vars)
            + " above this line (NAME=value) or use api_key_file in the config."
        )
    lines.append(f"{schedule(every)} {shlex.join(words)}")
    return lines
