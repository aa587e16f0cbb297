"""Logging to stderr: plain lines for people, JSON lines for log shippers.

Verbosity: -qq errors only, -q warnings, default info, -v more info, -vv debug. Nothing
here ever formats an API key: the client never logs headers.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_LEVELS = {-2: logging.ERROR, -1: logging.WARNING, 0: logging.INFO, 1: logging.INFO}


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
        return json.dumps(data, default=str)


def configure_logging(verbosity: int = 0, log_format: str = "text") -> None:
    """Send the ``sqsync`` logger to stderr at the level ``verbosity`` asks for."""
    level = _LEVELS.get(max(-2, min(verbosity, 1)), logging.DEBUG)
    if verbosity >= 2:
        level = logging.DEBUG
    logger = logging.getLogger("sqsync")
    logger.setLevel(level)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
