"""``sqsync run --force`` over many quiet connections at a given latency, per --workers
(issue 15): wall time, CPU per connection, and the ratio to --workers 1.

    .venv/bin/python bench/bench_run_many.py [--connections 200] [--latency-ms 50]
                                             [--workers 1 4 8 16 32] [--repeats 3]

The emulator serves every shop (one key and one site per connection, its rate limit
off) from a thread of this process, with ``latency`` per request. Each connection is
quiet: its first run is done before measuring, so a measured run is one orders request
for import-orders and nothing to push. CPU is the sqsync child's user + system time
(resource.RUSAGE_CHILDREN), so the emulator's own work never counts;
``job_cpu_ms_per_connection`` takes off the CPU of the same run with nothing due (start-up,
config, scheduling), leaving the two quiet jobs of a connection, their request included.

Each --workers value runs ``repeats`` times, the values taking turns, and its figures are
the medians: one run of a one-second command is not a measurement on this machine, whose
host takes CPU from it in bursts (the same run here took 1.0 s and 1.5 s ten minutes
apart). Taking turns lets a slow spell slow every value, not one.
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
from pathlib import Path
from statistics import median
from typing import Any

from sqsync.emulator import Emulator, EmulatorState


def write_config(folder: Path, url: str, connections: int) -> Path:
    lines = ['[store]\npath = "bench.db"\n']
    for n in range(connections):
        lines.append(
            f'[[connections]]\nname = "shop{n}"\nclient = "BENCH"\nwarehouse = "MAIN"\n'
            f'order_prefix = "S{n}-"\napi_url = "{url}"\napi_key_env = "BENCH_KEY_{n}"\n'
        )
    path = folder / "sqsync.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=env, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"bench: {' '.join(command[-3:])} failed: {done.stderr.strip()[-300:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 8, 16, 32])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each --workers value")
    parser.add_argument("--pythonpath", default=None, help="run another checkout's sources")
    args = parser.parse_args()
    state = EmulatorState()
    env = dict(os.environ)
    if args.pythonpath:
        env["PYTHONPATH"] = args.pythonpath
    for n in range(args.connections):
        key = state.add_key(f"bench-key-{n}", site=f"site-{n}")
        env[f"BENCH_KEY_{n}"] = key
    emulator = Emulator(state, rate_limit_per_minute=0, latency=args.latency_ms / 1000).start()
    results: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            config = write_config(Path(folder), emulator.url, args.connections)
            sqsync = [sys.executable, "-m", "sqsync", "--config", str(config), "run", "--force"]
            timed([*sqsync, "--workers", "16"], env)  # first imports, not measured
            # Start-up and scheduling alone: the same run with nothing due.
            _, baseline_cpu = timed(sqsync[:-1], env)
            runs: dict[int, list[tuple[float, float, int]]] = {w: [] for w in args.workers}
            for _ in range(args.repeats):
                for workers in args.workers:
                    requests_before = state.stats.requests
                    wall, cpu = timed([*sqsync, "--workers", str(workers)], env)
                    runs[workers].append((wall, cpu, state.stats.requests - requests_before))
            for workers, measured in runs.items():
                wall = median(m[0] for m in measured)
                cpu = median(m[1] for m in measured)
                results.append(
                    {
                        "workers": workers,
                        "repeats": len(measured),
                        "wall_s": round(wall, 2),
                        "wall_s_each": [round(m[0], 3) for m in measured],
                        "cpu_s": round(cpu, 2),
                        "cpu_ms_per_connection": round(cpu / args.connections * 1000, 1),
                        # the two quiet jobs alone, HTTP included: start-up taken off
                        "job_cpu_ms_per_connection": round(
                            (cpu - baseline_cpu) / args.connections * 1000, 1
                        ),
                        "requests": max(m[2] for m in measured),
                    }
                )
    finally:
        emulator.stop()
    one = next((r for r in results if r["workers"] == 1), None)
    for result in results:
        if one is not None:
            # from the unrounded medians
            result["vs_workers_1"] = round(
                median(result["wall_s_each"]) / median(one["wall_s_each"]), 3
            )
        print(json.dumps(result))


if __name__ == "__main__":
    main()
