"""Benchmark: import N PENDING orders from the emulator over loopback; print orders/second.

    .venv/bin/python bench/bench_import.py [--orders 10000] [--latency-ms 0] [--separate]

Every order is eligible (PENDING, PAID, to GB, a known SKU), so N orders are N/50 list
requests and nothing else. Prints requests, wall time and orders per second. By default
the emulator serves from a thread of this process (it then competes with the import for
the GIL); ``--separate`` runs it as ``sqsync emulator`` in its own process, as a remote
API would be.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqsync.config import load_config
from sqsync.emulator import Emulator, EmulatorState
from sqsync.emulator.generate import build_order
from sqsync.emulator.wire import datetime_to_ms
from sqsync.jobs.runner import run_job
from sqsync.squarespace import Client
from sqsync.store import Store
from sqsync.store.catalog import ensure_ids, ensure_product

SKUS = ("RED-S", "RED-M", "BLUE-S", "BLUE-M")


def pending_shop(count: int) -> EmulatorState:
    """``count`` PENDING, PAID orders to GB, one modified per second up to now."""
    end = datetime_to_ms(datetime.now(UTC)) - 1000
    orders = [
        build_order(
            order_id=f"{number:024x}",
            number=1001 + number,
            created_ms=end - (count - number) * 1000,
            modified_ms=end - (count - number) * 1000,
            line={"sku": SKUS[number % len(SKUS)], "variant_id": f"v{number % 4}", "quantity": 1},
        )
        for number in range(count)
    ]
    return EmulatorState(orders)


@contextlib.contextmanager
def in_thread(state: EmulatorState, latency_ms: float, folder: Path) -> Iterator[tuple[str, str]]:
    with Emulator(state, rate_limit_per_minute=0, latency=latency_ms / 1000) as emu:
        yield emu.url, emu.api_key


@contextlib.contextmanager
def in_process(state: EmulatorState, latency_ms: float, folder: Path) -> Iterator[tuple[str, str]]:
    shop = folder / "shop.json"
    state.save(shop)
    command = [sys.executable, "-m", "sqsync", "emulator", "--port", "0", "--state", str(shop)]
    command += ["--rate-limit", "0", "--latency", str(latency_ms)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert child.stdout is not None
        url = child.stdout.readline().split()[-1]
        key = child.stdout.readline().split()[-1]
        yield url, key
    finally:
        child.terminate()
        child.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--separate", action="store_true", help="emulator in its own process")
    args = parser.parse_args()
    state = pending_shop(args.orders)
    serve = in_process if args.separate else in_thread
    with (
        tempfile.TemporaryDirectory() as name,
        serve(state, args.latency_ms, Path(name)) as (
            url,
            key,
        ),
    ):
        config_path = Path(name) / "sqsync.toml"
        config_path.write_text(
            '[store]\npath = "bench.db"\n\n[[connections]]\nname = "bench"\n'
            f'client = "BENCH"\nwarehouse = "MAIN"\napi_url = "{url}"\napi_key = "{key}"\n',
            encoding="utf-8",
        )
        config_path.chmod(0o600)
        connection = load_config(config_path).connections[0]
        with Store.open(load_config(config_path).store_path) as store:
            with store.transaction() as conn:
                client_id, _, _ = ensure_ids(conn, "BENCH", "MAIN", "Squarespace")
                for sku in SKUS:
                    ensure_product(conn, client_id, sku)
            # Pacing off: the emulator's limit is off too, and the bench measures sqsync.
            client = Client(key, base_url=url, rate_limit_per_minute=0)
            started = time.perf_counter()
            result = run_job("import-orders", connection, store, client=client)
            elapsed = time.perf_counter() - started
            client.close()
    imported = result.counts.get("imported", 0)
    print(f"orders imported   {imported}")
    print(f"requests          {result.requests}")
    print(f"wall time         {elapsed:.2f} s")
    print(f"orders/second     {imported / elapsed:,.0f}")


if __name__ == "__main__":
    main()
