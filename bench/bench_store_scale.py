"""The store at scale (issue 15): the allocation query with a million despatched lines,
and ``orders list --status NEW --format ndjson`` over 100,000 orders (wall, peak RSS).

    .venv/bin/python bench/bench_store_scale.py [--despatched-lines 1000000] [--new 100000]

Rows go straight in with SQL (fast); the figures are sqsync's reads of them: the
allocation query as sync-stock runs it (best of 5, in this process), and the listing as a
subprocess whose peak RSS is its own (``RUSAGE_CHILDREN``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqsync.store import Store, now_text
from sqsync.store.catalog import ensure_ids
from sqsync.store.stock import availability, set_on_hand

LINES_PER_ORDER = 4
SKUS = 500


def add_orders(store: Store, first: int, count: int, status: str) -> None:
    now = now_text()
    with store.transaction() as conn:
        client_id, warehouse_id, channel_id = ensure_ids(conn, "BENCH", "MAIN", "Squarespace")

        def orders() -> Iterator[tuple[Any, ...]]:
            for n in range(first, first + count):
                yield (
                    "shop", client_id, warehouse_id, channel_id, f"B-{n}", f"sq-{n:09d}",
                    status, "[]", "GB", "GBP", "18.50", now, now, now, now,
                )  # fmt: skip

        conn.executemany(
            "INSERT INTO orders (connection, client_id, warehouse_id, channel_id, order_number,"
            " squarespace_id, status, problems, country_code, currency, total, sq_created_on,"
            " sq_modified_on, imported_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            orders(),
        )
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM orders WHERE order_number >= ? AND status = ? ORDER BY id",
                (f"B-{first}", status),
            )
        ][-count:]

        def items() -> Iterator[tuple[Any, ...]]:
            for order_id in ids:
                for line in range(LINES_PER_ORDER):
                    sku = f"SKU-{(order_id * 7 + line) % SKUS:04d}"
                    yield (order_id, f"l{order_id}-{line}", sku, sku, 1, "4.50")

        conn.executemany(
            "INSERT INTO order_items (order_id, line_id, sku, name, quantity, unit_price)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            items(),
        )


def best_of(fn: Any, times: int = 5) -> float:
    best = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--despatched-lines", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=100_000)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        with Store.open(path) as store:
            with store.transaction() as conn:
                for n in range(SKUS):
                    set_on_hand(conn, "BENCH", "MAIN", f"SKU-{n:04d}", 1_000)
            add_orders(store, 0, 1_000, "NEW")
            small = best_of(lambda: availability(store, "BENCH", "MAIN"))
            add_orders(store, 10_000_000, args.despatched_lines // LINES_PER_ORDER, "DESPATCHED")
            big = best_of(lambda: availability(store, "BENCH", "MAIN"))
            results["allocation"] = {
                "open_orders": 1_000,
                "despatched_lines": args.despatched_lines,
                "without_despatched_ms": round(small * 1000, 1),
                "with_despatched_ms": round(big * 1000, 1),
            }
            add_orders(store, 20_000_000, args.new, "NEW")
        config = Path(folder) / "sqsync.toml"
        config.write_text(
            '[store]\npath = "bench.db"\n\n[[connections]]\nname = "shop"\nclient = "BENCH"\n'
            'warehouse = "MAIN"\napi_key_env = "BENCH_KEY"\n',
            encoding="utf-8",
        )
        env = {**os.environ, "BENCH_KEY": "unused"}
        command = [sys.executable, "-m", "sqsync", "--config", str(config), "orders", "list"]
        started = time.perf_counter()
        with open(os.devnull, "wb") as sink:
            subprocess.run(
                [*command, "--status", "NEW", "--format", "ndjson"],
                stdout=sink,
                check=True,
                env=env,
            )
        wall = time.perf_counter() - started
        rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        results["orders_list"] = {
            "orders": args.new + 1_000,
            "wall_s": round(wall, 2),
            "peak_rss_mb": round(rss_mb, 1),
        }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
