"""The same jobs on SQLite and on PostgreSQL, side by side (issue 16): wall seconds per
backend and the ratio PostgreSQL / SQLite.

    .venv/bin/python bench/bench_backends.py [--quick] [--repeats 3]

Measured, as ``bench/run.py`` measures them on SQLite: the first import-orders of 10,000
PENDING orders into a fresh store (``bench_import.pending_shop``), and sync-stock over
20,000 variants with 2% changed (``bench_sync_stock.shop``). ``--quick``: a tenth of each.
Latency 0 ms, the emulator's rate limit and the client's pacing off, so the figures are
sqsync's own cost, the store's share of it above all.

Each job runs in a child process (``bench_backends.py worker ...``), as run.py's import
does, so the emulator (a thread of this process) never competes for the job's GIL; the
wall is the job's alone, store set-up excluded. Each run has its own store: a SQLite file in
a temporary folder, or a new database on a throwaway PostgreSQL server
(``tests/postgres_server.py``, the suite's pgserver wheel, over a Unix socket). That server
runs with ``fsync``, ``synchronous_commit`` and ``full_page_writes`` off; SQLite runs as
sqsync sets it up. The import starts from an empty store, as a first import does (on
PostgreSQL with the statistics of an empty table throughout: no ANALYZE runs within a
job). The stock sync starts from a copy of a warehouse seeded once per backend (the file
copied, the database cloned), on PostgreSQL ANALYZEd as autovacuum leaves one in use.
``--repeats`` runs of each, the backends alternating, compared by median, so a slow minute
on a shared machine slows both.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from statistics import median
from typing import Any

from bench_import import SKUS, pending_shop
from bench_sync_stock import CONFIG, shop

from sqsync.emulator import Emulator, EmulatorState

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BACKENDS = ("sqlite", "postgres")

# --------------------------------------------------------------------------- workers
# Run in a child process: ``bench_backends.py worker <name> <json params>``; one JSON line.


def open_store(folder: str, url: str, key: str, store: str | None, *, stock: bool) -> Any:
    """(connection, store) for a one-shop config in ``folder``; ``store`` is a PostgreSQL
    URL, or None for the SQLite file the config names."""
    from sqsync.config import load_config
    from sqsync.store import Store

    path = Path(folder) / "sqsync.toml"
    text = CONFIG.format(url=url, key=key)
    path.write_text(text if stock else text.replace("stock_sync = true\n", ""), encoding="utf-8")
    path.chmod(0o600)
    config = load_config(path)
    return config.connections[0], Store.open(store or config.store_path)


def worker_import(url: str, key: str, folder: str, store: str | None) -> dict[str, Any]:
    """A first import-orders of the whole shop into a fresh store."""
    from sqsync.jobs.runner import run_job
    from sqsync.squarespace import Client
    from sqsync.store.catalog import ensure_ids, ensure_product

    connection, db = open_store(folder, url, key, store, stock=False)
    with db:
        with db.transaction() as conn:
            client_id, _, _ = ensure_ids(conn, connection.client, "MAIN", "Squarespace")
            for sku in SKUS:
                ensure_product(conn, client_id, sku)
        with Client(key, base_url=url, rate_limit_per_minute=0) as client:
            started = time.perf_counter()
            result = run_job("import-orders", connection, db, client=client)
            wall = time.perf_counter() - started
    assert result.ok, result.error
    return {"done": result.counts["imported"], "requests": result.requests, "wall_s": wall}


def worker_seed_stock(
    url: str, key: str, folder: str, store: str | None, variants: int, changed: float
) -> dict[str, Any]:
    """The warehouse of a stock sync: on-hand that differs from the shop on ``changed`` of
    the SKUs, and a first import noted (a stock sync waits for one, issue 13)."""
    from sqsync.store import runlog
    from sqsync.store.stock import set_on_hand

    _, on_hand = shop(variants, changed)
    connection, db = open_store(folder, url, key, store, stock=True)
    with db, db.transaction() as conn:
        for sku, quantity in on_hand.items():
            set_on_hand(conn, connection.client, "MAIN", sku, quantity)
        run_id = runlog.start_run(conn, connection.name, "import-orders")
        runlog.finish_run(conn, run_id, outcome="ok")
    return {}


def worker_sync_stock(url: str, key: str, folder: str, store: str | None) -> dict[str, Any]:
    """A full sync-stock into a seeded store."""
    from sqsync.jobs.runner import run_job
    from sqsync.squarespace import Client

    connection, db = open_store(folder, url, key, store, stock=True)
    with db, Client(key, base_url=url, rate_limit_per_minute=0) as client:
        started = time.perf_counter()
        result = run_job("sync-stock", connection, db, client=client)
        wall = time.perf_counter() - started
    assert result.ok, result.error
    return {"done": result.counts.get("adjusted", 0), "requests": result.requests, "wall_s": wall}


WORKERS = {
    "import": worker_import,
    "seed-stock": worker_seed_stock,
    "sync-stock": worker_sync_stock,
}


def in_child(name: str, **params: Any) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "worker", name, json.dumps(params)]
    child = subprocess.run(command, stdout=subprocess.PIPE, cwd=HERE, check=False)
    if child.returncode != 0:
        raise SystemExit(f"bench worker {name} failed (exit {child.returncode})")
    return json.loads(child.stdout)


# --------------------------------------------------------------------------- benchmarks


def postgres() -> Any:
    """tests/postgres_server.py: not a package, so from the tests folder on sys.path. It
    starts a throwaway server for this process (stopped by its watchdog however we end)."""
    sys.path.insert(0, str(ROOT / "tests"))
    import postgres_server

    return postgres_server


@contextlib.contextmanager
def template(backend: str, seed: str | None, **params: Any) -> Iterator[str | None]:
    """The store each run of ``backend`` starts from: empty (None), or seeded once by the
    ``seed`` worker (a folder holding its SQLite file, or a PostgreSQL database's name).
    Seeding 20,000 SKUs takes ~30 s on PostgreSQL: once, not per run."""
    if seed is None:
        yield None
        return
    with tempfile.TemporaryDirectory() as folder:
        if backend == "sqlite":
            in_child(seed, folder=folder, store=None, **params)
            yield folder
            return
        servers = postgres()
        url = servers.fresh_database(servers.server_url())
        try:
            in_child(seed, folder=folder, store=url, **params)
            import psycopg

            # The statistics of a warehouse in use for a while (autovacuum's), the same
            # in every copy, instead of whatever autovacuum had got to by then.
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("ANALYZE")
            yield servers.database_name(url)
        finally:
            servers.drop_database(url)


def on_backend(backend: str, start: str | None, name: str, **params: Any) -> dict[str, Any]:
    """``name`` run in a child on a fresh store of ``backend``, a copy of ``start`` if any."""
    with tempfile.TemporaryDirectory() as folder:
        if backend == "sqlite":
            if start is not None:
                for part in Path(start).glob("bench.db*"):  # with its -wal, if one is left
                    shutil.copy(part, Path(folder) / part.name)
            return in_child(name, folder=folder, store=None, **params)
        servers = postgres()
        url = servers.fresh_database(servers.server_url(), template=start or "template0")
        try:
            return in_child(name, folder=folder, store=url, **params)
        finally:
            servers.drop_database(url)


def summary(
    benchmark: str, size: int, min_requests: int, runs: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    walls = {backend: median(r["wall_s"] for r in runs[backend]) for backend in BACKENDS}
    return {
        "benchmark": benchmark,
        "size": size,
        "latency_ms": 0.0,
        "done": runs["sqlite"][0]["done"],
        "requests": runs["sqlite"][0]["requests"],
        "min_requests": min_requests,
        "repeats": len(runs["sqlite"]),
        **{f"{backend}_wall_s": round(walls[backend], 3) for backend in BACKENDS},
        **{
            f"{backend}_wall_s_each": [round(r["wall_s"], 3) for r in runs[backend]]
            for backend in BACKENDS
        },
        "pg_vs_sqlite": round(walls["postgres"] / walls["sqlite"], 2),
        # the same work on both: what was imported or adjusted, and the requests for it
        "same_work": all(
            (r["done"], r["requests"]) == (runs["sqlite"][0]["done"], runs["sqlite"][0]["requests"])
            for backend in BACKENDS
            for r in runs[backend]
        ),
    }


def bench_import(orders: int, repeats: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {backend: [] for backend in BACKENDS}
    with Emulator(pending_shop(orders), rate_limit_per_minute=0, latency=0) as emu:
        for _ in range(repeats):
            for backend in BACKENDS:
                runs[backend].append(
                    on_backend(backend, None, "import", url=emu.url, key=emu.api_key)
                )
    figures = summary("import", orders, -(-orders // 50), runs)
    figures["ok"] = figures["same_work"] and figures["done"] == orders
    return figures


def bench_sync_stock(variants: int, repeats: int, changed: float = 0.02) -> dict[str, Any]:
    inventory, on_hand = shop(variants, changed)
    runs: dict[str, list[dict[str, Any]]] = {backend: [] for backend in BACKENDS}
    wrong = 0
    with contextlib.ExitStack() as stack:
        starts = {
            backend: stack.enter_context(
                template(
                    backend,
                    "seed-stock",
                    url="http://127.0.0.1:9",  # seeding sends nothing
                    key="bench-key",
                    variants=variants,
                    changed=changed,
                )
            )
            for backend in BACKENDS
        }
        for _ in range(repeats):
            for backend in BACKENDS:
                # A fresh shop each time: a sync changes it.
                state = EmulatorState(inventory=[dict(item) for item in inventory])
                with Emulator(state, rate_limit_per_minute=0, latency=0) as emu:
                    runs[backend].append(
                        on_backend(
                            backend, starts[backend], "sync-stock", url=emu.url, key=emu.api_key
                        )
                    )
                    final = emu.inventory  # a copy of the whole shop: take it once
                wrong += sum(
                    1
                    for item in inventory
                    if final[item["variantId"]]["quantity"] != on_hand[item["sku"]]
                )
    adjusted = runs["sqlite"][0]["done"]
    # pages of 50, batches of 50, and the one orders request after the read (issue 13)
    figures = summary("sync-stock", variants, -(-variants // 50) + -(-adjusted // 50) + 1, runs)
    figures["ok"] = figures["same_work"] and wrong == 0
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the counts")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    print(json.dumps(bench_import(10_000 // scale, args.repeats)))
    print(json.dumps(bench_sync_stock(20_000 // scale, args.repeats)))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        print(json.dumps(WORKERS[sys.argv[2]](**json.loads(sys.argv[3]))))
    else:
        main()
