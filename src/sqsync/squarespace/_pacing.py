"""Client-side pacing and retry delays, with the clock and sleep injected.

Squarespace allows 300 requests a minute and answers a 429 with a one-minute
cool-down, so the client keeps itself under the limit instead of finding it.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Callable

WINDOW = 60.0
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
RETRY_AFTER_CAP = 600.0


class Pacer:
    """A sliding 60-second window: at most ``per_minute`` requests in it (0 turns pacing
    off, as the emulator's rate limit of 0 does).

    Each request is recorded when sent and moved to when its answer came
    (:meth:`completed`). Squarespace counts arrivals, which fall between the two; timing
    the window from completions means a request is only sent once the one ``per_minute``
    back *arrived* a full minute ago, so network jitter cannot squeeze 301 into its
    minute.
    """

    def __init__(
        self,
        per_minute: int,
        *,
        sleep: Callable[[float], None],
        monotonic: Callable[[], float],
    ) -> None:
        if per_minute < 0:
            raise ValueError(f"rate_limit_per_minute must be 0 (off) or more, not {per_minute}")
        self.per_minute = per_minute
        self._sleep = sleep
        self._monotonic = monotonic
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Block until one more request fits in the window, record it; return the wait."""
        waited = 0.0
        if not self.per_minute:
            return waited
        with self._lock:
            now = self._monotonic()
            while True:
                while self._sent and self._sent[0] <= now - WINDOW:
                    self._sent.popleft()
                if len(self._sent) < self.per_minute:
                    break
                delay = self._sent[0] + WINDOW - now
                self._sleep(delay)
                waited += delay
                # A clock that did not move (a test double) must not loop forever.
                now = max(self._monotonic(), now + delay)
            self._sent.append(now)
        return waited

    def recent_ages(self) -> list[float]:
        """Seconds since each request of the last minute (its answer came), oldest first:
        what a later process with the same key must still count (see :meth:`preload`)."""
        with self._lock:
            now = self._monotonic()
            return [now - sent for sent in self._sent if sent > now - WINDOW]

    def preload(self, ages: list[float]) -> None:
        """Count requests an earlier process sent ``ages`` seconds ago, so a run started
        right after a burst waits for room instead of meeting the burst's 429. An age
        below 0 (a clock that went back) counts as now."""
        if not self.per_minute:
            return
        with self._lock:
            now = self._monotonic()
            earlier = sorted(now - max(0.0, age) for age in ages if age < WINDOW)
            self._sent = deque(sorted([*earlier[-self.per_minute :], *self._sent]))

    def completed(self) -> None:
        """The latest request's answer (or failure) is in: count it from now."""
        if not self.per_minute:
            return
        with self._lock:
            if self._sent:
                self._sent[-1] = max(self._sent[-1], self._monotonic())


def backoff_delay(retry: int, rng: random.Random) -> float:
    """Delay before retry number ``retry`` (1-based): doubling from 0.5 s, capped at 8 s,
    jittered to 50-100 % so many clients do not retry in step."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (retry - 1))
    return ceiling * rng.uniform(0.5, 1.0)


def retry_after_seconds(header: str | None) -> float | None:
    """Seconds from a ``Retry-After: <seconds>`` header; None if absent or unusable."""
    if header is None:
        return None
    try:
        seconds = float(header.strip())
    except ValueError:
        return None
    if seconds != seconds or seconds < 0:  # NaN or negative
        return None
    return min(seconds, RETRY_AFTER_CAP)
