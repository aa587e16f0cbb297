"""Logging to stderr (plain lines for people, JSON lines for log shippers) and the progress bar.

Verbosity: -qq errors only, -q warnings, default info (one summary line per job), -v
adds per-item detail logged at :data:`VERBOSE`, -vv debug. Under cron, ``run --quiet``
prints nothing unless something went wrong, so cron mails only problems.

Nothing here ever formats an API key: the client never logs headers.

The progress bar is drawn on stderr with ``\\r`` only when stderr is a terminal (the
command line decides; never under cron). Log lines and the bar share the terminal, so the
log handler wipes the bar before writing a line and the bar redraws on its next update.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

# Between INFO and DEBUG: per-item detail (each unmatched variant, each skipped order).
VERBOSE = 15
logging.addLevelName(VERBOSE, "VERBOSE")

_LEVELS = {-2: logging.ERROR, -1: logging.WARNING, 0: logging.INFO, 1: VERBOSE}


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        extra = getattr(record, "data", None)
        if isinstance(extra, dict):
            data.update(extra)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class ProgressBar:
    """Draws progress reports as one self-overwriting line: ``acme orders 1,200/10,000 [###  ]``.

    Thread-safe (``run`` works on connections in parallel threads); redraws at most
    ``per_second`` times a second so a fast loop does not spend its time drawing.
    """

    WIDTH = 24

    def __init__(
        self,
        stream: TextIO,
        *,
        per_second: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.min_gap = 1.0 / per_second
        self.monotonic = monotonic
        self._state: dict[str, tuple[str, int, int | None]] = {}
        self._last_draw = -1e9
        self._drawn = 0  # characters of the bar now on screen
        self._lock = threading.RLock()

    def __call__(self, connection: str, what: str, done: int, total: int | None) -> None:
        with self._lock:
            self._state[connection] = (what, done, total)
            finished = total is not None and done >= total
            now = self.monotonic()
            if finished or now - self._last_draw >= self.min_gap:
                self._last_draw = now
                self._draw()

    def line(self) -> str:
        parts = []
        for connection, (what, done, total) in self._state.items():
            if total:
                filled = min(self.WIDTH, self.WIDTH * done // total)
                bar = "#" * filled + " " * (self.WIDTH - filled)
                parts.append(f"{connection} {what} {done:,}/{total:,} [{bar}]")
            else:
                parts.append(f"{connection} {what} {done:,}")
        return "  ".join(parts)

    def _draw(self) -> None:
        text = self.line()
        pad = " " * max(0, self._drawn - len(text))
        self.stream.write("\r" + text + pad)
        self.stream.flush()
        self._drawn = len(text)

    def clear(self) -> None:
        """Wipe the bar (before a log line, and at exit) so text never runs into it."""
        with self._lock:
            if self._drawn:
                self.stream.write("\r" + " " * self._drawn + "\r")
                self.stream.flush()
                self._drawn = 0


class _StderrHandler(logging.StreamHandler):
    """Writes to stderr, wiping the progress bar first if one is drawn."""

    def __init__(self, progress: ProgressBar | None = None) -> None:
        super().__init__(sys.stderr)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        if self.progress is not None:
            self.progress.clear()
        super().emit(record)


def configure_logging(
    verbosity: int = 0, log_format: str = "text", progress: ProgressBar | None = None
) -> None:
    """Send the ``sqsync`` logger to stderr at the level ``verbosity`` asks for."""
    level = _LEVELS.get(max(-2, min(verbosity, 1)), logging.DEBUG)
    if verbosity >= 2:
        level = logging.DEBUG
    logger = logging.getLogger("sqsync")
    logger.setLevel(level)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = _StderrHandler(progress)
    if log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
