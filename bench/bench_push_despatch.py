"""Benchmark: record and push-despatch N orders against the local emulator.

    .venv/bin/python bench/bench_push_despatch.py [--orders 1000] [--paced]

Puts N imported orders in a fresh store (one per emulator order), records one tracked
parcel for each with the despatch library (one feed, one transaction), then runs
push-despatch and prints one JSON line: requests (expected: N POSTs, no GETs), wall
times, and the emulator's counts. Client pacing is off unless ``--paced`` (Squarespace's
300 requests/minute make N POSTs take at least N/5 seconds; that is the real-world floor).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqsync.config import Connection
from sqsync.domain.despatch import Despatch
from sqsync.emulator import Emulator, EmulatorState
from sqsync.jobs.runner import run_job
from sqsync.squarespace import Client
from sqsync.store import Store, now_text
from sqsync.store.catalog import ensure_ids
from sqsync.store.recording import record_despatches


def seed_store(store: Store, emu: Emulator, orders: int) -> list[str]:
    """One NEW local order per new emulator order; returns the local order numbers."""
    numbers = []
    now = now_text()
    with store.transaction() as conn:
        client_id, warehouse_id, channel_id = ensure_ids(conn, "ACME", "MAIN", "Squarespace")
        template = emu.make_order()
        for n in range(orders):
            # Numbered here: reading emu.orders back copies the whole shop every time.
            sq_id = emu.add_order({**template, "id": f"bench-{n:06d}", "orderNumber": str(n + 1)})
            number = f"SQ-{n + 1}"
            conn.execute(
                "INSERT INTO orders (connection, client_id, warehouse_id, channel_id,"
                " order_number, squarespace_id, status, sq_modified_on, imported_at, updated_at)"
                " VALUES ('acme', ?, ?, ?, ?, ?, 'NEW', ?, ?, ?)",
                # sq_modified_on as an import stores it: push-despatch lists the orders
                # modified since then, one listing instead of a read per order
                (client_id, warehouse_id, channel_id, number, sq_id, now, now, now),
            )
            numbers.append(number)
    return numbers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--paced", action="store_true", help="keep the 300/minute pacing")
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory() as folder,
        Emulator(
            EmulatorState.generate(orders=0, variants=5, seed=1), rate_limit_per_minute=0
        ) as emu,
    ):
        store = Store.open(Path(folder) / "bench.db")
        numbers = seed_store(store, emu, args.orders)
        parcels = [
            Despatch(f"row {n}", number, "Royal Mail", "Tracked 48", f"RM{n:09d}GB")
            for n, number in enumerate(numbers)
        ]
        started = time.perf_counter()
        record_despatches(store, parcels)
        record_seconds = time.perf_counter() - started

        connection = Connection(
            name="acme", client="ACME", warehouse="MAIN", api_url=emu.url, api_key=emu.api_key
        )
        client = Client(
            emu.api_key, base_url=emu.url, rate_limit_per_minute=300 if args.paced else 0
        )
        started = time.perf_counter()
        result = run_job("push-despatch", connection, store, client=client)
        push_seconds = time.perf_counter() - started
        client.close()
        store.close()
        stats = emu.stats
        report = {
            "bench": "push-despatch",
            "orders": args.orders,
            "paced": args.paced,
            "record_seconds": round(record_seconds, 3),
            "push_seconds": round(push_seconds, 3),
            "orders_per_second": round(args.orders / push_seconds, 1),
            "ok": result.ok,
            "pushed": result.counts.get("pushed"),
            "requests": result.requests,
            "fulfilment_posts": stats.count("POST", "/1.0/commerce/orders/{id}/fulfillments"),
            "order_gets": stats.count("GET", "/1.0/commerce/orders/{id}"),
            "emails_sent": stats.emails_sent,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    print(json.dumps(report))
    pages = -(-args.orders // 50)  # the one listing that knows the fulfilments (issue 14)
    return 0 if result.ok and result.requests == args.orders + pages else 1


if __name__ == "__main__":
    sys.exit(main())
