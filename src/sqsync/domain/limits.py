"""Bounds the warehouse enforces when data comes in, so it is refused early with a reason."""

from __future__ import annotations

from urllib.parse import urlsplit

# The most units one stock line may hold: far beyond any warehouse, and well inside
# SQLite's 64-bit integers (a larger number would overflow there, not fail here).
MAX_QUANTITY = 1_000_000_000

# Squarespace caps a shipment's carrier, service and tracking number at 100 characters.
# The client checks what it sends; recording checks here too, so a feed is refused when
# it is imported, not days later when push-despatch gets a 400.
MAX_SHIPMENT_FIELD = 100


def is_http_url(value: str) -> bool:
    """An absolute http(s) URL with a host and no whitespace: what Squarespace keeps as a
    tracking URL (the client's own check of what it sends is in its models)."""
    if not value or any(ch.isspace() for ch in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
