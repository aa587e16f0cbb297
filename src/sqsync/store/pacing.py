"""The recent requests of each connection's key, so pacing holds across processes.

Squarespace counts a key's requests per minute, whatever process sends them: a run
started right after another one's burst would otherwise meet the 429 (and its minute of
cool-down) that the first one's requests earned. Each run saves when its requests of the
last minute were answered and the next one counts them. A connection has its own key
(the config refuses two connections with one), so the connection name stands for the
key, which is never written anywhere.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqsync.store.database import Store, parse_time, utc_text
from sqsync.store.sync_state import get_state, set_state

Db = Store | sqlite3.Connection
KEY = "pacing.recent"
WINDOW = timedelta(minutes=1)


def recent_ages(db: Db, connection: str, now: datetime) -> list[float]:
    """Seconds since each saved request of the last minute (a time in the future: 0)."""
    saved = get_state(db, connection, KEY)
    if not saved:
        return []
    try:
        times = [parse_time(text) for text in json.loads(saved)]
    except (ValueError, TypeError):
        return []  # unreadable: pacing starts afresh, as it did before it was saved
    return [max(0.0, (now - moment).total_seconds()) for moment in times if moment > now - WINDOW]


def save_recent(db: Db, connection: str, ages: Sequence[float], now: datetime) -> None:
    """Save when the requests answered ``ages`` seconds before ``now`` were answered.

    Given a connection, joins the caller's transaction (``run`` commits it with the run
    log and the lock release); given the store, commits on its own, without an fsync.
    """
    times = json.dumps(sorted(utc_text(now - timedelta(seconds=age)) for age in ages))
    if not isinstance(db, Store):
        set_state(db, connection, KEY, times)
        return
    with db.deferred_sync(), db.transaction(connection_only=True) as conn:
        set_state(conn, connection, KEY, times)
