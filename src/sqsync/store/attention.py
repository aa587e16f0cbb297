"""What in the store waits for a person, one row per item: for ``sqsync status --check``.

A HOLDING order waits whatever held it (a problem the import found or a person's hold);
a ``failed`` shipment was refused by Squarespace and is not sent again until someone
retries it. Both are listed oldest first, so a monitoring check names the longest wait
first.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from sqsync.store.database import Store, connection_of

Db = Store | sqlite3.Connection


def holding_orders(db: Db, connection: str) -> list[dict[str, Any]]:
    """``[{order_number, squarespace_id, problems}]`` of the connection's HOLDING orders."""
    rows = connection_of(db).execute(
        "SELECT order_number, squarespace_id, problems FROM orders"
        " WHERE connection = ? AND status = 'HOLDING' ORDER BY id",
        (connection,),
    )
    return [
        {
            "order_number": row["order_number"],
            "squarespace_id": row["squarespace_id"],
            "problems": json.loads(row["problems"] or "[]"),
        }
        for row in rows
    ]


def failed_shipments(db: Db, connection: str) -> list[dict[str, Any]]:
    """``[{order_number, tracking_number, error}]`` of the connection's refused shipments."""
    rows = connection_of(db).execute(
        "SELECT o.order_number, s.tracking_number, s.push_error FROM shipments s"
        " JOIN orders o ON o.id = s.order_id"
        " WHERE o.connection = ? AND s.push_state = 'failed' ORDER BY s.id",
        (connection,),
    )
    return [
        {
            "order_number": row["order_number"],
            "tracking_number": row["tracking_number"],
            "error": row["push_error"],
        }
        for row in rows
    ]
