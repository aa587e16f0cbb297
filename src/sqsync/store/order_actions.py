"""What a person does to an order by hand: hold, release, cancel, close; with an audit row.

    done = act(store, "hold", "SQ-1001", reason="address to check", user=current_user())

Each action is one transaction: the order is read under the write lock, the action is
refused in one line when it makes no sense for the order's status (:class:`InputError`,
nothing written), else the order changes and an ``order_actions`` row records the time,
the OS user, the action and the reason (``orders show`` prints them). None of them is ever
sent to Squarespace.

- ``hold`` (NEW or HOLDING): adds the problem ``manual_hold``. It is not one the order's
  data derives, so imports keep it however Squarespace changes the order, and only
  ``release`` removes it. An order cancelled in Squarespace still becomes CANCELLED.
- ``release`` (HOLDING): removes ``manual_hold`` and the other problems that wait for a
  person (``fulfilled_in_squarespace``); the order is NEW unless problems its data gives it
  remain (``unknown_sku:...``), which the next import clears once their cause is fixed.
  Refused when only such problems hold it: releasing cannot clear them.
- ``cancel`` (NEW or HOLDING): CANCELLED here only; its stock is no longer allocated. An
  import never reopens a CANCELLED order.
- ``close`` (HOLDING): the order will not be shipped by the warehouse (fulfilled elsewhere,
  refunded). It becomes CANCELLED, its problems kept as the record of why, with a
  ``close`` row; CANCELLED allocates nothing, is never pushed and cannot be despatched.
"""

from __future__ import annotations

import getpass
import json
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqsync.clock import utcnow
from sqsync.domain.orders import CANCELLED, HOLDING, MANUAL_HOLD, NEW, is_derived
from sqsync.errors import InputError, UsageError
from sqsync.store import order_writes
from sqsync.store.database import Store, connection_of, utc_text
from sqsync.store.movements import clean_reason
from sqsync.store.owners import resolve_order

Db = Store | sqlite3.Connection

ACTIONS = ("hold", "release", "cancel", "close")
ACTION_COLUMNS = ["time", "user", "action", "from_status", "to_status", "reason"]


@dataclass(frozen=True)
class Done:
    """An action applied: the order, its status before and after, what still holds it."""

    order_number: str
    client: str
    action: str
    from_status: str
    to_status: str
    problems: tuple[str, ...]

    def summary(self) -> str:
        """``order SQ-1001: HOLDING -> NEW (released)``, one line for the person."""
        line = f"order {self.order_number}: {self.from_status} -> {self.to_status}"
        if self.to_status == HOLDING and self.action == "release":
            undone = [p for p in self.problems if not is_derived(p)]
            line += f" (still held for {' '.join(self.problems)}; " + (
                f"release it again to clear {' '.join(undone)} and ship it anyway, or close it)"
                if undone
                else "an import releases it once that is fixed)"
            )
        return line


def current_user() -> str:
    """The OS user running the command, for the audit row (never empty)."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no LOGNAME/USER and no passwd entry (a bare container)
        user = ""
    if user:
        return user
    return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


def act(
    store: Store,
    action: str,
    order_number: str,
    *,
    client: str | None = None,
    reason: str | None = None,
    user: str | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Done:
    """Apply ``action`` to the order; see the module docstring for what each one does."""
    if action not in ACTIONS:
        raise UsageError(f"unknown order action {action!r}")
    reason = clean_reason(reason)
    if action in ("hold", "cancel") and reason is None:
        raise UsageError(f"order {order_number}: {action} needs a reason")
    now = utc_text(clock())
    with store.transaction() as conn:
        ref = resolve_order(conn, order_number, client)
        row = conn.execute("SELECT status, problems FROM orders WHERE id = ?", (ref.id,)).fetchone()
        status, problems = row["status"], tuple(json.loads(row["problems"]))
        label = f"order {ref.order_number}" + (f" (client {ref.client})" if client else "")
        to_status, new_problems = _decide(action, label, status, problems)
        order_writes.set_status(conn, ref.id, to_status, new_problems, now)
        conn.execute(
            "INSERT INTO order_actions"
            ' (order_id, action, from_status, to_status, reason, "user", created_at)'
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (ref.id, action, status, to_status, reason, user or current_user(), now),
        )
    return Done(ref.order_number, ref.client, action, status, to_status, new_problems)


def _decide(
    action: str, label: str, status: str, problems: tuple[str, ...]
) -> tuple[str, tuple[str, ...]]:
    """(status, problems) after ``action``; InputError when it makes no sense now."""
    if action == "hold":
        _require(label, status, (NEW, HOLDING), "held")
        if MANUAL_HOLD in problems:
            raise InputError(f"{label} is already on hold (`sqsync orders show` says why)")
        return HOLDING, (*problems, MANUAL_HOLD)
    if action == "release":
        _require(label, status, (HOLDING,), "released")
        if MANUAL_HOLD in problems:
            # A release undoes the hold, nothing else: a problem that arrived meanwhile
            # (say fulfilled_in_squarespace: the shop shipped it) still holds the order.
            kept = tuple(p for p in problems if p != MANUAL_HOLD)
            return (HOLDING if kept else NEW), kept
        derived = tuple(p for p in problems if is_derived(p))
        if len(derived) == len(problems):
            raise InputError(
                f"{label} is held only for {' '.join(problems)}, which a release cannot clear: "
                "fix the cause (stock or alias the SKU, ...) and the next import releases it"
            )
        return (HOLDING if derived else NEW), derived
    if action == "cancel":
        _require(label, status, (NEW, HOLDING), "cancelled")
        return CANCELLED, problems
    _require(label, status, (HOLDING,), "closed")
    return CANCELLED, problems


def _require(label: str, status: str, allowed: tuple[str, ...], done: str) -> None:
    if status in allowed:
        return
    if status != NEW:
        why = f"it is already {status}"
    elif done == "released":
        why = "it is NEW, not held"
    else:  # closed
        why = (
            "it is NEW (close is for a HOLDING order the warehouse will not ship; "
            "`sqsync orders cancel` stops a NEW one)"
        )
    raise InputError(f"{label} cannot be {done}: {why}")


def actions_of(db: Db, order_id: int) -> list[dict[str, Any]]:
    """The order's audit rows, oldest first: ``{time, user, action, from_status,
    to_status, reason}``."""
    rows = connection_of(db).execute(
        'SELECT created_at AS time, "user", action, from_status, to_status, reason'
        " FROM order_actions WHERE order_id = ? ORDER BY id",
        (order_id,),
    )
    return [dict(row) for row in rows]
