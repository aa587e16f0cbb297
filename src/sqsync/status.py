"""What ``sqsync status`` reports: per connection, how its jobs went and what is waiting.

Everything comes from the local store (no request to Squarespace), so status is instant
and works when the network or a key does not. The dict shape of :func:`connection_status`
is the stable ``status --json`` output documented in the README.

Orders stored under a connection name the config no longer has (:func:`orphans`) are not
a connection of the report: they are told to people after the summary (:func:`orphan_lines`)
and, under ``--json``, on stderr, so the JSON array keeps its one shape.

``needs_attention`` lists, per connection, each thing no job will settle by itself
(:func:`needs_attention`); ``status --check`` prints one line per item
(:func:`attention_lines`) and exits 1 when there is any, for a monitoring check.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqsync.check import orphan_advice
from sqsync.clock import utcnow
from sqsync.jobs.schedule import jobs_for, next_due
from sqsync.store import Store, utc_text
from sqsync.store.attention import failed_shipments, holding_orders
from sqsync.store.connections import orphaned_orders
from sqsync.store.despatches import shipment_counts
from sqsync.store.locks import holder, is_held
from sqsync.store.order_writes import unreadable_orders
from sqsync.store.orders import open_order_counts
from sqsync.store.runlog import last_attempts, last_error, last_run
from sqsync.store.sync_state import get_state

if TYPE_CHECKING:
    from sqsync.config import Connection

# Flat columns of the human table, one row per connection and job.
TABLE_COLUMNS = ["connection", "job", "last_run", "outcome", "counts", "next_due"]


def connection_status(
    store: Store, connection: Connection, *, clock: Callable[[], datetime] = utcnow
) -> dict[str, Any]:
    """The status of one connection as a JSON-ready dict."""
    now = clock()
    lock = holder(store, connection.name)
    working = is_held(store, lock, now)
    attempts = last_attempts(store, connection.name)
    jobs = {}
    for job in jobs_for(connection):
        due = next_due(connection, job, attempts.get(job))
        last = last_run(store, connection.name, job)
        if last is not None and last["outcome"] == "running" and not working:
            # No live process holds the lock, so none is running it: it was killed, and is
            # marked so by the next run (under the lock).
            last["outcome"] = "killed"
        jobs[job] = {
            "last_run": last,
            # Never run, killed, or overdue: due now.
            "next_due": utc_text(due) if due is not None and due > now else "now",
        }
    shipments = shipment_counts(store, connection.name)
    status: dict[str, Any] = {
        "connection": connection.name,
        "active": connection.active,
        "stock_sync": connection.stock_sync,
        "jobs": jobs,
        "orders": open_order_counts(store, connection.name),
        "unpushed_shipments": shipments["unpushed"],
        "failed_shipments": shipments["failed"],
        "unreadable_orders": unreadable_orders(store, connection.name),
        "uncounted_skus": _state(store, connection.name, "sync_stock.uncounted", []),
        "unmatched_variants": [
            {"variant_id": variant_id, "sku": sku}
            for variant_id, sku in _state(
                store, connection.name, "sync_stock.unmatched", {}
            ).items()
        ],
        "duplicate_skus": _state(store, connection.name, "sync_stock.duplicates", {}),
        "last_error": last_error(store, connection.name),
        "locked_by": lock.describe() if lock is not None and working else None,
    }
    status["needs_attention"] = needs_attention(store, connection, status)
    return status


def needs_attention(
    store: Store, connection: Connection, status: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each thing of this connection that waits for a person, as ``{"kind": ..., ...}``.

    Kinds: ``holding_order``, ``failed_shipment``, ``unreadable_order``, and for a
    connection that syncs stock ``uncounted_sku``, ``unmatched_variant``, ``duplicate_sku``.
    What the last stock sync saw is left out once stock_sync is off: no sync will run to
    clear it, so it would keep a monitoring check failing for ever.
    """
    items: list[dict[str, Any]] = [
        {"kind": "holding_order", **order} for order in holding_orders(store, connection.name)
    ]
    items += [
        {"kind": "failed_shipment", **shipment}
        for shipment in failed_shipments(store, connection.name)
    ]
    items += [{"kind": "unreadable_order", **order} for order in status["unreadable_orders"]]
    if connection.stock_sync:
        items += [{"kind": "uncounted_sku", "sku": sku} for sku in status["uncounted_skus"]]
        items += [{"kind": "unmatched_variant", **v} for v in status["unmatched_variants"]]
        items += [
            {"kind": "duplicate_sku", "sku": sku, "variant_ids": list(ids)}
            for sku, ids in status["duplicate_skus"].items()
        ]
    return items


def _attention_line(item: dict[str, Any]) -> str:
    kind = item["kind"]
    if kind == "holding_order":
        why = ", ".join(item["problems"])
        return f"order {item['order_number']} is HOLDING" + (f": {why}" if why else "")
    if kind == "failed_shipment":
        tracking = item["tracking_number"]
        what = f"shipment {tracking}" if tracking else "a shipment without tracking"
        return (
            f"{what} of order {item['order_number']} was refused by Squarespace: {item['error']}"
            " (fix it, then `sqsync despatch retry ORDER`)"
        )
    if kind == "unreadable_order":
        return (
            f"Squarespace order {item['squarespace_id']} could not be read since "
            f"{_short_time(item['first_seen'])}: {item['error']}"
        )
    if kind == "uncounted_sku":
        return f"SKU {item['sku']} was never counted, so not synced (`sqsync stock set SKU N`)"
    if kind == "unmatched_variant":
        sku = item["sku"]
        why = "it has no SKU" if sku is None else f"SKU {sku} is unknown to the warehouse"
        return f"variant {item['variant_id']} is left alone by the stock sync: {why}"
    if kind == "duplicate_sku":
        ids = item["variant_ids"]
        return f"SKU {item['sku']} is on {len(ids)} variants: {', '.join(ids)}"
    raise ValueError(f"unknown needs_attention kind {kind!r}")


def attention_lines(report: Sequence[dict[str, Any]]) -> list[str]:
    """One line per thing that waits for a person, each naming its connection."""
    return [
        f"{status['connection']}: {_attention_line(item)}"
        for status in report
        for item in status["needs_attention"]
    ]


def _state(store: Store, connection: str, key: str, default: Any) -> Any:
    """What the last stock sync left in the store under ``key`` (JSON)."""
    saved = get_state(store, connection, key)
    return json.loads(saved) if saved is not None else default


def status_report(
    store: Store, connections: Sequence[Connection], *, clock: Callable[[], datetime] = utcnow
) -> list[dict[str, Any]]:
    return [connection_status(store, c, clock=clock) for c in connections]


def _short_time(text: str | None) -> str:
    # 2026-11-27T10:00:00.000Z -> 2026-11-27 10:00
    return text[:16].replace("T", " ") if text else "-"


def table_rows(report: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per connection and job, for the human table."""
    rows = []
    for status in report:
        for job, info in status["jobs"].items():
            last = info["last_run"] or {}
            counts = ", ".join(f"{k} {v}" for k, v in last.get("counts", {}).items() if v)
            due = info["next_due"]
            rows.append(
                {
                    "connection": status["connection"] + ("" if status["active"] else " (off)"),
                    "job": job,
                    "last_run": _short_time(last.get("started_at")),
                    "outcome": last.get("outcome", "never run"),
                    "counts": counts or "-",
                    "next_due": due if due == "now" else _short_time(due),
                }
            )
    return rows


def _drift_lines(status: dict[str, Any], limit: int = 10) -> list[str]:
    """Variants the stock sync leaves alone, at most ``limit`` lines (--json has all)."""
    lines = [
        f"  variant {v['variant_id']} left alone: "
        + ("it has no SKU" if v["sku"] is None else f"SKU {v['sku']} unknown to the warehouse")
        for v in status["unmatched_variants"]
    ]
    lines += [
        f"  SKU {sku} is on {len(ids)} variants: {', '.join(ids)}"
        for sku, ids in status["duplicate_skus"].items()
    ]
    if len(lines) > limit:
        lines[limit:] = [f"  and {len(lines) - limit} more (`sqsync status --json` lists all)"]
    return lines


def summary_lines(report: Sequence[dict[str, Any]]) -> list[str]:
    """Per connection: what waits in the warehouse and the last error, for people."""
    lines = []
    for status in report:
        orders = status["orders"]
        line = (
            f"{status['connection']}: {orders['NEW']} NEW and {orders['HOLDING']} HOLDING orders,"
            f" {status['unpushed_shipments']} unpushed shipments"
        )
        if status["failed_shipments"]:
            line += f" ({status['failed_shipments']} failed, waiting for a person)"
        lines.append(line)
        if status["uncounted_skus"]:
            skus = ", ".join(status["uncounted_skus"])
            lines.append(f"  never counted, so not synced (`sqsync stock set SKU N`): {skus}")
        lines.extend(_drift_lines(status))
        for order in status["unreadable_orders"]:
            lines.append(
                f"  order {order['squarespace_id']} could not be read since "
                f"{_short_time(order['first_seen'])}: {order['error']}"
            )
        if status["locked_by"]:
            lines.append(f"  working now: {status['locked_by']}")
        error = status["last_error"]
        if error:
            context_id = error["context_id"]
            # Squarespace errors already name their contextId; others may not.
            shown = context_id and context_id not in (error["error"] or "")
            context = f" (contextId {context_id})" if shown else ""
            lines.append(
                f"  last error, {error['job']} at {_short_time(error['started_at'])}: "
                f"{error['error']}{context}"
            )
    return lines


def orphans(store: Store, configured: Collection[str]) -> dict[str, int]:
    """Order counts of the connection names in the store that the config does not have."""
    return orphaned_orders(store, configured)


def orphan_lines(found: dict[str, int]) -> list[str]:
    """One line per connection name with stored orders that is not in the config."""
    return [f"{name} (not in the config): {orphan_advice(name, n)}" for name, n in found.items()]
