"""A despatch: one parcel the warehouse shipped for an order, as plain values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


def tracking_key(tracking_number: str) -> str:
    """A tracking number as compared: without case or spaces.

    Carriers print the same number as ``RM 1234 5678 GB`` in one export and ``rm12345678gb``
    in the next, and Squarespace keeps whatever it was sent; comparing the raw text would
    record (and push, and email) one parcel twice.
    """
    return "".join(tracking_number.split()).upper()


@dataclass(frozen=True)
class Despatch:
    """One parcel to record; ``where`` names it in errors ("shipped.csv line 4")."""

    where: str
    order_number: str
    # None: take the order's mapped carrier and service (courier_map) when recorded.
    carrier: str | None
    service: str | None
    tracking_number: str | None = None
    tracking_url: str | None = None
    shipped_at: datetime | None = None
    client: str | None = None


@dataclass
class DespatchSummary:
    """What a recording did: shipments added, orders newly DESPATCHED, late parcels for
    orders already DESPATCHED, parcels skipped as already recorded, stock shortfalls,
    parcels recorded with --force for a CANCELLED order (never pushed), and the refused
    rows skipped under --skip-refused (one reason each)."""

    shipments: int = 0
    orders_despatched: int = 0
    late_parcels: int = 0
    already_recorded: int = 0
    shortfalls: list[str] = field(default_factory=list)
    local_only: int = 0
    skipped: list[str] = field(default_factory=list)

    def describe(self) -> str:
        text = (
            f"recorded {self.shipments} shipments: {self.orders_despatched} orders despatched, "
            f"{self.late_parcels} late parcels"
        )
        if self.local_only:
            text += f", {self.local_only} for cancelled orders (never pushed)"
        if self.already_recorded:
            text += f"; {self.already_recorded} already recorded (skipped)"
        if self.skipped:
            text += f"; {len(self.skipped)} refused (skipped)"
        return text


@dataclass
class VoidSummary:
    """What ``despatch void`` did: shipments discarded, and whether the order's units went
    back on hand (``returned``: ``"RED-S +2"``), with the order's status after it."""

    order_number: str
    voided: int = 0
    returned: list[str] = field(default_factory=list)
    status: str = ""
    units_kept: bool = False  # some shipment of the order went (or may): units stay off

    def describe(self) -> str:
        text = f"{self.voided} {'shipment' if self.voided == 1 else 'shipments'} voided"
        if self.units_kept:
            return text + "; units stay off on hand (another shipment of the order went)"
        back = ", ".join(self.returned) if self.returned else "none counted"
        return f"{text}; units back on hand: {back}; order now {self.status}"
