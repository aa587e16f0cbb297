"""A job's run as the schedule sees it: when it started and how it ended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# The jobs, in the order ``run`` runs them is the runner's business; these are their names.
JOB_NAMES = ("import-orders", "push-despatch", "sync-stock")
# Outcomes that count as an attempt; "skipped" (nothing was tried) does not.
ATTEMPTED = frozenset({"ok", "failed", "running", "killed"})
# A run whose process died half-way: still "running" in the log until the next process
# that holds the connection's lock marks it "killed". Both are retried at once.
UNFINISHED = frozenset({"running", "killed"})


@dataclass(frozen=True)
class LastRun:
    """The latest attempted run of one job: when it started and how it ended."""

    started_at: datetime
    outcome: str  # ok | failed | running | killed (never finished: not ok)

    @property
    def failed(self) -> bool:
        """Not ok: a killed run counts too (sync-stock's "the latest import failed")."""
        return self.outcome != "ok"

    @property
    def unfinished(self) -> bool:
        """Killed half-way (or, while its process lives, still running)."""
        return self.outcome in UNFINISHED
