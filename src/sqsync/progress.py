"""Progress of long work (a first import of thousands of orders, a large stock sync).

Jobs call :func:`report` as they go; whoever runs them may :func:`set_sink` to draw it
(the command line draws a bar only when stderr is a terminal, never under cron). With no
sink, reporting costs one function call.
"""

from __future__ import annotations

from collections.abc import Callable

Sink = Callable[[str, str, int, "int | None"], None]

_sink: Sink | None = None


def set_sink(sink: Sink | None) -> None:
    """Send progress to ``sink(connection, what, done, total)``; ``None`` turns it off."""
    global _sink
    _sink = sink


def report(connection: str, what: str, done: int, total: int | None = None) -> None:
    """``done`` units of ``what`` (e.g. "orders", "variants") so far, out of ``total`` if known."""
    if _sink is not None:
        _sink(connection, what, done, total)
