"""A despatch: one parcel the warehouse shipped for an order, as plain values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Despatch:
    """One parcel to record; ``where`` names it in errors ("shipped.csv line 4")."""

    where: str
    order_number: str
    carrier: str
    service: str
    tracking_number: str | None = None
    tracking_url: str | None = None
    shipped_at: datetime | None = None
    client: str | None = None


@dataclass
class DespatchSummary:
    """What a recording did: shipments added, orders newly DESPATCHED, late parcels for
    orders already DESPATCHED, parcels skipped as already recorded, stock shortfalls."""

    shipments: int = 0
    orders_despatched: int = 0
    late_parcels: int = 0
    already_recorded: int = 0
    shortfalls: list[str] = field(default_factory=list)

    def describe(self) -> str:
        text = (
            f"recorded {self.shipments} shipments: {self.orders_despatched} orders despatched, "
            f"{self.late_parcels} late parcels"
        )
        if self.already_recorded:
            text += f"; {self.already_recorded} already recorded (skipped)"
        return text
