"""The one clock: every default ``clock=`` argument is :func:`utcnow`, so tests inject theirs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# How far the machine's clock may stray before a time it wrote counts as from a wrong
# clock: a saved time this far past "now" is repaired, never trusted.
CLOCK_SLACK = timedelta(minutes=1)


def utcnow() -> datetime:
    return datetime.now(UTC)
