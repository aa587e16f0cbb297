"""Progress of long work (a first import of thousands of orders, a large stock sync).

Each job takes a ``progress`` sink, ``sink(connection, what, done, total)``, and calls it
as it goes; whoever runs the job passes one in (the command line draws a bar only when
stderr is a terminal, never under cron). The default, :func:`no_progress`, does nothing.
"""

from __future__ import annotations

from typing import Protocol


class Sink(Protocol):
    def __call__(self, connection: str, what: str, done: int, total: int | None = None) -> None:
        """``done`` units of ``what`` (e.g. "orders", "variants") so far, of ``total`` if known."""


def no_progress(connection: str, what: str, done: int, total: int | None = None) -> None:
    """``done`` units of ``what`` (e.g. "orders", "variants") so far: reported to nobody."""
