"""The run log after weeks of one-minute cron: ``sqsync run`` with nothing due and
``sqsync status``, on the first day and after 30 simulated days (issue 15).

    .venv/bin/python bench/bench_run_log.py [--connections 100] [--days 1 30]

For each number of days, a store gets every minute's import-orders and push-despatch
rows of ``connections`` connections (one-minute runs), the latest now, so nothing is due;
then each command runs as a subprocess, best of 3. Target: day 30 within 20% of day 1.
The config says frequency = 60 only so that a slow build being compared does not find
jobs due in the middle of its measurement; the rows are one a minute all the same.
``--pythonpath`` runs the commands on another checkout's sources, to compare with an
older commit on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

JOBS = ("import-orders", "push-despatch")


def write_config(folder: Path, connections: int) -> Path:
    lines = ['[store]\npath = "bench.db"\n']
    for n in range(connections):
        lines.append(
            f'[[connections]]\nname = "shop{n}"\nclient = "BENCH"\nwarehouse = "MAIN"\n'
            f'order_prefix = "S{n}-"\nfrequency = 60\napi_url = "http://127.0.0.1:9"\n'
            f'api_key_env = "BENCH_KEY_{n}"\n'
        )
        os.environ[f"BENCH_KEY_{n}"] = f"bench-key-{n}"
    path = folder / "sqsync.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def fill(db: Path, connections: int, days: int, now: datetime) -> int:
    """Every minute of ``days`` up to ``now``, straight into run_log (fast), then each
    job's latest run stamped when the fill is done."""
    minutes = days * 24 * 60

    def rows() -> Iterator[tuple[Any, ...]]:
        for minute in range(minutes - 1, -1, -1):
            at = _text(now - timedelta(minutes=minute))
            for n in range(connections):
                for job in JOBS:
                    yield (f"shop{n}", job, at, at, "ok", '{"unchanged": 0}', 1)

    conn = sqlite3.connect(db)
    with conn:
        conn.executemany(
            "INSERT INTO run_log (connection, job, started_at, finished_at, outcome, counts,"
            " requests) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows(),
        )
        # Filling a month takes minutes: the latest run of each job is stamped when the
        # fill is done, so that nothing is due when the commands run.
        latest = _text(datetime.now(UTC))
        conn.executemany(
            "INSERT INTO run_log (connection, job, started_at, finished_at, outcome, counts,"
            " requests) VALUES (?, ?, ?, ?, 'ok', '{}', 1)",
            [(f"shop{n}", job, latest, latest) for n in range(connections) for job in JOBS],
        )
    count = conn.execute("SELECT count(*) FROM run_log").fetchone()[0]
    conn.close()
    return int(count)


def best_of(command: list[str], env: dict[str, str], times: int = 3) -> float:
    best = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        subprocess.run(command, check=False, capture_output=True, env=env)
        best = min(best, time.perf_counter() - started)
    return best


def measure(days: int, connections: int, python: str, pythonpath: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        config = write_config(Path(folder), connections)
        env = dict(os.environ)
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        sqsync = [python, "-m", "sqsync", "--config", str(config)]
        # Create the store with that checkout's own migrations, then fill it.
        made = subprocess.run([*sqsync, "status"], capture_output=True, env=env, text=True)
        if made.returncode != 0:
            raise SystemExit(f"bench: sqsync status failed: {made.stderr.strip()}")
        rows = fill(Path(folder) / "bench.db", connections, days, datetime.now(UTC))
        # A month of rows is over a gigabyte just written: let the kernel write it back
        # first, so the commands are not timed against that flush.
        os.sync()
        return {
            "days": days,
            "rows": rows,
            "run_noop_s": round(best_of([*sqsync, "run"], env), 3),
            "status_s": round(best_of([*sqsync, "status", "--json"], env), 3),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--days", type=int, nargs="+", default=[1, 30])
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--pythonpath", default=None)
    args = parser.parse_args()
    results = [measure(d, args.connections, args.python, args.pythonpath) for d in args.days]
    first = results[0]
    for result in results:
        result["run_noop_vs_first"] = round(result["run_noop_s"] / first["run_noop_s"], 2)
        result["status_vs_first"] = round(result["status_s"] / first["status_s"], 2)
        print(json.dumps(result))
    last = results[-1]
    met = last["run_noop_vs_first"] <= 1.2 and last["status_vs_first"] <= 1.2
    verdict = "met" if met else "NOT met"
    print(f"target (day {last['days']} within 20% of day {first['days']}): {verdict}")


if __name__ == "__main__":
    main()
