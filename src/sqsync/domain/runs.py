"""A job's run as the schedule sees it: when it started and how it ended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# Outcomes that count as an attempt; "skipped" (nothing was tried) does not.
ATTEMPTED = frozenset({"ok", "failed", "running"})


@dataclass(frozen=True)
class LastRun:
    """The latest attempted run of one job: when it started and how it ended."""

    started_at: datetime
    outcome: str  # ok | failed | running (never finished: treated as failed)

    @property
    def failed(self) -> bool:
        return self.outcome != "ok"
