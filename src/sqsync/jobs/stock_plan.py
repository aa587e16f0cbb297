"""Plan a stock sync: what each Squarespace variant should advertise, and the operations
that get it there.

Pure functions over plain data (no I/O, no clock), so the rules can be tested exhaustively:

- ``target = max(0, on_hand - allocated - buffer)`` for the variant's warehouse SKU (its
  Squarespace SKU mapped through ``sku_aliases``); then, by that SKU's
  :class:`~sqsync.domain.stock_rules.StockRule`, 0 when that is below ``zero_below``, and
  never more than ``cap``. Each change names the rule that shaped its target;
- unlimited variants are never touched; variants without a SKU, or with one the warehouse
  does not know, are never touched (``unmatched``);
- a warehouse SKU advertised by several tracked variants gives each the full target, and
  is reported as a duplicate;
- a change is a *relative* operation (``target - quantity read``): a sale made between our
  read and our write then stays counted, where an absolute set would overwrite it;
- operations go out in batches of at most 50 with each variant at most once per batch
  (Squarespace refuses anything else).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqsync.domain.skus import channel_sku, warehouse_sku
from sqsync.domain.stock_rules import StockRule

MAX_OPERATIONS = 50

Operation = tuple[str, int]  # (variant id, quantity > 0)


class InventoryLike(Protocol):
    """What the planner reads of a Squarespace inventory item (InventoryItem fits)."""

    @property
    def variant_id(self) -> str: ...
    @property
    def sku(self) -> str | None: ...
    @property
    def is_unlimited(self) -> bool: ...
    @property
    def quantity(self) -> int: ...


def available(on_hand: int, allocated: int, buffer: int = 0) -> int:
    """What the store may advertise: on hand less open orders less the buffer, never below 0."""
    return max(0, on_hand - allocated - buffer)


def shape(on_hand: int, allocated: int, rule: StockRule) -> tuple[int, str]:
    """The figure to advertise under ``rule``, and the rules that shaped it.

    The text names only the steps that changed the figure, in the order applied (e.g.
    "buffer 2, zero below 5"), or "available" when none did; a step a per-SKU override
    supplied says "(SKU override)".
    """

    def named(label: str, name: str, value: int) -> str:
        return f"{label} {value}" + (" (SKU override)" if name in rule.overridden else "")

    steps: list[str] = []
    figure = available(on_hand, allocated)
    if rule.buffer and figure:
        figure = available(on_hand, allocated, rule.buffer)
        steps.append(named("buffer", "buffer", rule.buffer))
    if 0 < figure < rule.zero_below:
        figure = 0
        steps.append(named("zero below", "zero_below", rule.zero_below))
    if rule.cap is not None and figure > rule.cap:
        figure = rule.cap
        # A cap alone decides: the figure was above it and would be with or without the
        # buffer (zero_below <= cap, so nothing was zeroed); naming the buffer would mislead.
        steps = [named("cap", "cap", rule.cap)]
    return figure, ", ".join(steps) or "available"


@dataclass(frozen=True)
class Change:
    """One variant that must move from ``current`` (as read) to ``target``."""

    variant_id: str
    sku: str  # the warehouse SKU (after aliases)
    current: int
    target: int
    # Why the target is what it is, for the dry run. Not part of a change's identity: two
    # changes sending the same operation are equal whatever the explanation.
    rule: str = field(default="available", compare=False)

    @property
    def delta(self) -> int:
        return self.target - self.current

    def row(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "variant_id": self.variant_id,
            "from": self.current,
            "to": self.target,
            "rule": self.rule,
        }


@dataclass(frozen=True)
class Unmatched:
    """A variant left alone because its SKU is missing or unknown to the warehouse."""

    variant_id: str
    sku: str | None

    def row(self) -> dict[str, Any]:
        return {"variant_id": self.variant_id, "sku": self.sku}


@dataclass(frozen=True)
class Batch:
    """The operations of one adjustment request (<= 50, each variant once)."""

    increments: tuple[Operation, ...] = ()
    decrements: tuple[Operation, ...] = ()

    @property
    def size(self) -> int:
        return len(self.increments) + len(self.decrements)

    @property
    def variant_ids(self) -> list[str]:
        return [vid for vid, _ in self.increments + self.decrements]


@dataclass
class StockPlan:
    """Everything one sync decided. ``changes`` are only the variants not yet at target."""

    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0
    unlimited: int = 0
    unmatched: list[Unmatched] = field(default_factory=list)
    duplicates: dict[str, list[str]] = field(default_factory=dict)  # sku -> variant ids
    # Warehouse SKUs on open orders that were never counted: left alone, not taken as 0.
    uncounted: dict[str, list[str]] = field(default_factory=dict)  # sku -> variant ids
    # Every synced variant's figure, changed or not: what an incremental sync compares.
    targets: dict[str, tuple[str, int]] = field(default_factory=dict)  # id -> (sku, target)

    def counts(self) -> dict[str, int]:
        return {
            "adjusted": len(self.changes),
            "unchanged": self.unchanged,
            "unlimited": self.unlimited,
            "unmatched": len(self.unmatched),
            "duplicate_sku": len(self.duplicates),
            "uncounted": sum(len(ids) for ids in self.uncounted.values()),
        }

    def batches(self, size: int = MAX_OPERATIONS) -> list[Batch]:
        return make_batches(self.changes, size)


def make_batches(changes: Iterable[Change], size: int = MAX_OPERATIONS) -> list[Batch]:
    """Chunk changes into batches of at most ``size`` operations, in order.

    A variant is planned at most once (see :func:`plan_stock`), so a plain chunking already
    names each variant at most once per batch; a zero delta is no operation at all.
    """
    if not 1 <= size <= MAX_OPERATIONS:
        raise ValueError(f"batch size must be 1..{MAX_OPERATIONS}, not {size}")
    moving = [change for change in changes if change.delta]
    batches = []
    for start in range(0, len(moving), size):
        chunk = moving[start : start + size]
        batches.append(
            Batch(
                increments=tuple((c.variant_id, c.delta) for c in chunk if c.delta > 0),
                decrements=tuple((c.variant_id, -c.delta) for c in chunk if c.delta < 0),
            )
        )
    return batches


def plan_stock(
    items: Iterable[InventoryLike],
    levels: Mapping[str, tuple[int, int]],
    *,
    aliases: Mapping[str, str] | None = None,
    buffer: int = 0,
    counted: Collection[str] | None = None,
    rules: Callable[[str], StockRule] | None = None,
) -> StockPlan:
    """Decide the target of every variant in ``items`` (the store's inventory as read).

    ``levels`` is ``{warehouse sku: (on_hand, allocated)}`` for the connection's client and
    warehouse; ``counted`` the SKUs the warehouse has counted (``None``: all of them). A
    SKU in ``levels`` only because open orders name it was never counted, so its on hand
    is unknown, not 0: its variants are left alone (``uncounted``). If a variant id appears
    twice (a listing that shifted under its cursor), the later reading wins, so each
    variant is planned at most once.

    ``rules`` gives the :class:`StockRule` of a warehouse SKU (``Connection.stock_rule``);
    without it every SKU has the plain rule ``StockRule(buffer=buffer)``.
    """
    if buffer < 0:
        raise ValueError("stock_buffer cannot be negative")
    if rules is not None and buffer:
        # Two sources for one buffer: refuse rather than silently pick one.
        raise ValueError("give buffer= or rules=, not both (a rule carries its own buffer)")
    plain = StockRule(buffer=buffer)
    rule_of = rules or (lambda _sku: plain)
    aliases = aliases or {}
    latest: dict[str, InventoryLike] = {}
    for item in items:
        latest.pop(item.variant_id, None)  # keep reading order, latest reading
        latest[item.variant_id] = item
    plan = StockPlan()
    advertisers: dict[str, list[str]] = {}
    for item in latest.values():
        if item.is_unlimited:
            plan.unlimited += 1
            continue
        sku = warehouse_sku(item.sku, item.variant_id, aliases)
        if sku is None or sku not in levels:
            plan.unmatched.append(Unmatched(item.variant_id, channel_sku(item.sku)))
            continue
        if counted is not None and sku not in counted:
            plan.uncounted.setdefault(sku, []).append(item.variant_id)
            continue
        advertisers.setdefault(sku, []).append(item.variant_id)
        on_hand, allocated = levels[sku]
        target, why = shape(on_hand, allocated, rule_of(sku))
        plan.targets[item.variant_id] = (sku, target)
        change = Change(item.variant_id, sku, item.quantity, target, why)
        if change.delta:
            plan.changes.append(change)
        else:
            plan.unchanged += 1
    plan.duplicates = {sku: ids for sku, ids in advertisers.items() if len(ids) > 1}
    return plan
