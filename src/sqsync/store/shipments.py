"""Shipments, read side: how a despatch appears on an order.

The despatch helper owns writing shipments and their push state machine
(pending -> sending -> pushed | failed); this module only serialises them.
"""

from __future__ import annotations

import sqlite3
from typing import Any

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
