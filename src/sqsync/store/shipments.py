"""Shipments, read side: how a despatch appears on an order.

The despatch helper owns writing shipments and their push state machine
(pending -> sending -> pushed | failed); this module only serialises them.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqsync.store.database import Store, connection_of

SHIPMENT_COLUMNS = (
    "id, order_id, carrier, service, tracking_number, tracking_url, shipped_at,"
    " push_state, push_error, push_attempts, pushed_at, created_at"
)


def shipment_dict(row: sqlite3.Row) -> dict[str, Any]:
    """The JSON shape of a shipment inside an order."""
    return {
        "carrier": row["carrier"],
        "service": row["service"],
        "tracking_number": row["tracking_number"],
        "tracking_url": row["tracking_url"],
        "shipped_at": row["shipped_at"],
        "pushed": row["push_state"] == "pushed",
        "push_state": row["push_state"],
    }


def shipments_for_order(db: Store | sqlite3.Connection, order_id: int) -> list[dict[str, Any]]:
    rows = connection_of(db).execute(
        f"SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE order_id = ? ORDER BY id", (order_id,)
    )
    return [shipment_dict(row) for row in rows]
