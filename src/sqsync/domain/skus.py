"""Which warehouse SKU a Squarespace line or variant stands for: one rule for every job.

import-orders allocates stock to the SKU this returns, and sync-stock advertises the
availability of the same SKU; if the two mapped differently, a sale allocated under one
name would never lower what Squarespace advertises under the other (oversell).
"""

from __future__ import annotations

from collections.abc import Mapping


def channel_sku(sku: str | None) -> str | None:
    """The Squarespace SKU as merchants mean it: surrounding spaces dropped, blank = none."""
    if sku is None:
        return None
    stripped = sku.strip()
    return stripped or None


def warehouse_sku(
    sku: str | None, variant_id: str | None, aliases: Mapping[str, str]
) -> str | None:
    """The warehouse SKU: the channel SKU through ``sku_aliases``, else (for a variant with
    no SKU) an alias keyed by its variant id; None when there is neither."""
    channel = channel_sku(sku)
    if channel is not None:
        return aliases.get(channel, channel)
    if variant_id and variant_id in aliases:
        return aliases[variant_id]
    return None
