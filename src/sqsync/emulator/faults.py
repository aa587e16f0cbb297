"""Injected failures: the next N matching requests fail, or a seeded share of all requests,
and apart from those a seeded share of dropped connections (:meth:`Faults.set_drop_rate`).

A fault answers a 5xx or 429 with the error envelope, or ``"drop"``s the connection without
any answer. With ``after_apply`` the request is handled first (the change happens) and only
the answer is lost: "the server did it but the client never heard". An injected 429
carries no ``Retry-After`` (the real API documents none); the emulator's own rate limit
sends ``Retry-After: 60``.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass

FAULT_KINDS = ("500", "502", "503", "504", "429", "drop")


@dataclass(frozen=True)
class Fault:
    kind: str
    after_apply: bool = False


@dataclass
class _Rule:
    method: str | None
    path: str
    fault: Fault
    remaining: int


def _check_kind(kind: str) -> None:
    if kind not in FAULT_KINDS:
        raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}, not {kind!r}")


class Faults:
    """The fault plan of one emulator; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._rate = 0.0
        self._rng = random.Random(0)
        self._kinds: tuple[str, ...] = FAULT_KINDS
        self._after_apply_share = 0.0
        self._drop_rate = 0.0
        self._drop_after_apply_share = 0.0

    def add(
        self,
        method: str | None = "POST",
        path: str = "/1.0/commerce/",
        kind: str = "500",
        count: int = 1,
        after_apply: bool = False,
    ) -> None:
        """Fail the next ``count`` requests whose method matches (None: any) and whose path
        starts with ``path``. Rules are used in the order they were added."""
        _check_kind(kind)
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            method = method.upper() if method else None
            self._rules.append(_Rule(method, path, Fault(kind, after_apply), count))

    def set_rate(
        self,
        rate: float,
        seed: int,
        kinds: Sequence[str] = FAULT_KINDS,
        after_apply: float = 0.5,
    ) -> None:
        """Fail a ``rate`` share of requests at random (reproducible for a ``seed``); of the
        failed POSTs, an ``after_apply`` share fail after the change was made."""
        if not 0.0 <= rate <= 1.0 or not 0.0 <= after_apply <= 1.0:
            raise ValueError("rate and after_apply must be between 0 and 1")
        for kind in kinds:
            _check_kind(kind)
        with self._lock:
            self._rate = rate
            self._rng = random.Random(seed)
            self._kinds = tuple(kinds)
            self._after_apply_share = after_apply

    def set_drop_rate(self, rate: float, after_apply: float = 0.0) -> None:
        """Drop the connection of a ``rate`` share of requests (drawn after, and apart from,
        :meth:`set_rate`'s failures, from the same seeded generator); of the dropped POSTs,
        an ``after_apply`` share are dropped after the change was made."""
        if not 0.0 <= rate <= 1.0 or not 0.0 <= after_apply <= 1.0:
            raise ValueError("rate and after_apply must be between 0 and 1")
        with self._lock:
            self._drop_rate = rate
            self._drop_after_apply_share = after_apply

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._rate = 0.0
            self._drop_rate = 0.0

    @property
    def pending(self) -> int:
        """How many planned (non-random) faults are still to happen."""
        with self._lock:
            return sum(rule.remaining for rule in self._rules)

    def take(self, method: str, path: str) -> Fault | None:
        """The fault for this request, if any, using it up."""
        with self._lock:
            for rule in self._rules:
                if (rule.method in (None, method)) and path.startswith(rule.path):
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._rules.remove(rule)
                    return rule.fault
            if self._rate and self._rng.random() < self._rate:
                kind = self._rng.choice(self._kinds)
                # A 429 means Squarespace refused the request unhandled; only a 5xx or a
                # dropped connection can come after the change was made.
                late = (
                    method == "POST"
                    and kind != "429"
                    and self._rng.random() < self._after_apply_share
                )
                return Fault(kind, late)
            if self._drop_rate and self._rng.random() < self._drop_rate:
                late = method == "POST" and self._rng.random() < self._drop_after_apply_share
                return Fault("drop", late)
        return None
