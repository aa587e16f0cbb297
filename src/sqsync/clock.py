"""The one clock: every default ``clock=`` argument is :func:`utcnow`, so tests inject theirs."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
