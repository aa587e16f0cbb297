"""Benchmark sync-stock: 20,000 variants with 2% changed against the local emulator.

    .venv/bin/python bench/bench_sync_stock.py [--variants 20000] [--latency-ms 0]
                                               [--incremental] [--paced]

Prints the requests (inventory pages + adjustment requests; the minimum is variants/50 pages
and changed/50 adjustments) and the wall time of the job alone (store and emulator set-up
excluded). The emulator's rate limit and the client's pacing are off, so the figure is
sqsync's own cost; against Squarespace, 300 requests a minute make 408 requests take ~82 s.

With ``--incremental`` (issue 15) the measured sync is the one after a full sync, with
``--changed`` of the SKUs recounted in between: it reads by id only those. ``--paced``
keeps the real limit (300 a minute, the emulator's and the client's) for the wall time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from sqsync.config import load_config
from sqsync.emulator import Emulator, EmulatorState
from sqsync.jobs.runner import run_job
from sqsync.squarespace import Client
from sqsync.store import Store
from sqsync.store.stock import set_on_hand

CONFIG = """[store]
path = "bench.db"

[[connections]]
name = "bench"
client = "ACME"
warehouse = "MAIN"
api_url = "{url}"
api_key = "{key}"
stock_sync = true
"""


def shop(variants: int, changed_share: float) -> tuple[list[dict], dict[str, int]]:
    """Squarespace inventory and warehouse on-hand that agree except on ``changed_share``."""
    every = round(1 / changed_share)
    inventory, on_hand = [], {}
    for n in range(variants):
        sku = f"SKU-{n:06d}"
        quantity = n % 97
        inventory.append(
            {"variantId": f"v{n:06d}", "sku": sku, "isUnlimited": False, "quantity": quantity}
        )
        on_hand[sku] = quantity + (3 if n % every == 0 else 0)
    return inventory, on_hand


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=20_000)
    parser.add_argument("--changed", type=float, default=0.02, help="share changed (0.02)")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--incremental", action="store_true", help="measure the next sync")
    parser.add_argument("--paced", action="store_true", help="the real 300/minute limit")
    args = parser.parse_args(argv)

    inventory, on_hand = shop(args.variants, args.changed)
    state = EmulatorState(inventory=inventory)
    with (
        tempfile.TemporaryDirectory() as folder,
        Emulator(
            state, rate_limit_per_minute=300 if args.paced else 0, latency=args.latency_ms / 1000
        ) as emu,
    ):
        path = Path(folder) / "sqsync.toml"
        path.write_text(CONFIG.format(url=emu.url, key=emu.api_key), encoding="utf-8")
        path.chmod(0o600)
        config = load_config(path)
        connection = config.connections[0]
        with Store.open(config.store_path) as store:
            with store.transaction() as conn:
                for sku, quantity in on_hand.items():
                    set_on_hand(conn, "ACME", "MAIN", sku, quantity)
            # A stock sync waits for a first successful import (issue 13): note one.
            from sqsync.store import runlog

            with store.transaction() as conn:
                run_id = runlog.start_run(conn, connection.name, "import-orders")
                runlog.finish_run(conn, run_id, outcome="ok")
            pacing = 300 if args.paced else 0
            if args.incremental:
                # The full sync first (not measured), then recount the changed share.
                client = Client(emu.api_key, base_url=emu.url, rate_limit_per_minute=0)
                assert run_job("sync-stock", connection, store, client=client).ok
                emu.stats.reset()
                every = round(1 / args.changed)
                with store.transaction() as conn:
                    for n in range(0, args.variants, every):
                        sku = f"SKU-{n:06d}"
                        on_hand[sku] += 2
                        set_on_hand(conn, "ACME", "MAIN", sku, on_hand[sku])
            client = Client(emu.api_key, base_url=emu.url, rate_limit_per_minute=pacing)
            started = time.perf_counter()
            result = run_job("sync-stock", connection, store, client=client)
            wall = time.perf_counter() - started
        final = emu.inventory  # a copy of the whole shop: take it once
        wrong = sum(
            1
            for n, item in enumerate(inventory)
            if final[item["variantId"]]["quantity"] != on_hand[f"SKU-{n:06d}"]
        )
        figures = {
            "variants": args.variants,
            "changed": result.counts.get("adjusted", 0),
            "latency_ms": args.latency_ms,
            "requests": result.requests,
            "incremental": bool(result.details.get("incremental")),
            "paced": args.paced,
            "inventory_requests": emu.stats.count("GET", "/1.0/commerce/inventory"),
            "by_id_requests": emu.stats.count("GET", "/1.0/commerce/inventory/{ids}"),
            "adjustment_requests": emu.stats.count("POST", "/1.0/commerce/inventory/adjustments"),
            "orders_requests": emu.stats.count("GET", "/1.0/commerce/orders"),
            "wall_s": round(wall, 3),
            "ok": result.ok and wrong == 0,
        }
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    sys.exit(0 if main()["ok"] else 1)
