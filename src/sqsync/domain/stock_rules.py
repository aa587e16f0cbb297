"""Stock feed rules: how much of what the warehouse could ship a shop may advertise.

A plain value shared by the config (which builds one per warehouse SKU from a connection
and its ``stock_rules`` overrides) and the stock planner (which applies it). Applied in
this order: ``buffer`` is held back, then a figure below ``zero_below`` is shown as 0, then
nothing above ``cap`` is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqsync.domain.limits import MAX_QUANTITY

RULE_FIELDS = ("buffer", "cap", "zero_below")


@dataclass(frozen=True)
class StockRule:
    """The effective rule for one warehouse SKU. ``overridden`` names the fields a per-SKU
    override supplied (the rest came from the connection), so a figure can say why."""

    buffer: int = 0
    cap: int | None = None
    zero_below: int = 0
    overridden: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        # The config refuses these with a readable message first; this guards other callers.
        for name, value in (("buffer", self.buffer), ("zero_below", self.zero_below)):
            if not 0 <= value <= MAX_QUANTITY:
                raise ValueError(f"stock {name} must be 0..{MAX_QUANTITY}, not {value}")
        if self.cap is not None and not 0 <= self.cap <= MAX_QUANTITY:
            raise ValueError(f"stock cap must be 0..{MAX_QUANTITY}, not {self.cap}")
        if self.cap is not None and self.zero_below > self.cap:
            raise ValueError(f"stock zero_below ({self.zero_below}) is above cap ({self.cap})")
        if not self.overridden <= set(RULE_FIELDS):
            raise ValueError(f"unknown stock rule fields {sorted(self.overridden)}")
