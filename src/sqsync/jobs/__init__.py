"""The three jobs and what they report.

Each job is a function ``job(client, store, connection, *, dry_run=False, ...) -> JobResult``
in the module of its name (:mod:`.import_orders`, :mod:`.sync_stock`,
:mod:`.push_despatch`). :mod:`.runner` wraps one call with the run log and error capture,
so a failing connection is recorded and reported, never raised past the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqsync.domain.runs import JOB_NAMES

__all__ = ["JOB_NAMES", "JobResult", "no_guard"]


def no_guard() -> None:
    """The default ``guard`` of a job: nothing to check.

    Under a connection lock, the runner passes the lease's ``check`` instead; jobs call
    their guard before each write to Squarespace or the store, so a process whose lease
    lapsed stops before it works alongside the one that took the connection over.
    """


@dataclass
class JobResult:
    """What one job did for one connection. ``to_json`` is the stable ``--json`` line."""

    connection: str
    job: str
    ok: bool = True
    dry_run: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    error: str | None = None
    context_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def count(self, name: str, by: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + by

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "connection": self.connection,
            "job": self.job,
            "ok": self.ok,
            "dry_run": self.dry_run,
            **self.counts,
            "requests": self.requests,
        }
        data.update(self.details)
        if self.error is not None:
            data["error"] = self.error
            data["context_id"] = self.context_id
        return data

    def summary(self) -> str:
        """One human line for stderr: ``acme import-orders: imported 3, held 1 (5 requests)``."""
        parts = [f"{k.replace('_', ' ')} {v}" for k, v in self.counts.items() if v]
        what = ", ".join(parts) if parts else "nothing to do"
        prefix = f"{self.connection} {self.job}{' (dry run)' if self.dry_run else ''}"
        if not self.ok:
            return f"{prefix}: FAILED: {self.error}"
        return f"{prefix}: {what} ({self.requests} requests)"
