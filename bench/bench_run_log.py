"""The run log after weeks of one-minute cron: ``sqsync run`` with nothing due and
``sqsync status``, on the first day and after 30 simulated days (issue 15).

    .venv/bin/python bench/bench_run_log.py [--connections 100] [--days 1 30] [--times 10]

For each number of days, a store gets every minute's import-orders and push-despatch
rows of ``connections`` connections (one-minute runs), the latest now, so nothing is due.
Every store is filled first, and given one untimed ``run`` (which prunes the rows that
aged past the retention while a month was being written, as the cron of those minutes
would have) and ``status``; then the stores are timed in turn, round after round, best of
``--times``: on a shared machine the load changes over the minutes a fill takes, and
timing day 1 before filling day 30 measured that change (the same build gave day 30
0.85x to 2.5x of day 1). Before each timed ``run`` of a store past the retention, its
oldest minute of rows is aged past it, as a minute of the clock does: a one-minute cron
on day 30 prunes a minute of rows every run, and that run is the one to time. Each
figure has the CPU time beside it (less swayed by other work than the wall time) and the
load average at the start and end of the timing.
Target: day 30 within 20% of day 1.
The config says frequency = 60 only so that a slow build being compared does not find
jobs due in the middle of its measurement; the rows are one a minute all the same.
``--pythonpath`` runs the commands on another checkout's sources, to compare with an
older commit on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

JOBS = ("import-orders", "push-despatch")
# sqsync's default [store] run_log_days, which the config here leaves as it is.
RETENTION_DAYS = 30


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


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=False, capture_output=True, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


def age_oldest_minute(db: Path) -> None:
    """Move the oldest minute of rows to a minute past the retention, as the clock would:
    the next ``run`` prunes them, as every cron run on day 30 does with a minute of rows."""
    past = _text(datetime.now(UTC) - timedelta(days=RETENTION_DAYS, minutes=1))
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "UPDATE run_log SET started_at = ? WHERE started_at = (SELECT min(started_at)"
            " FROM run_log)",
            (past,),
        )
    conn.close()  # the last connection: it checkpoints now, not in the timed run


class Filled:
    """One filled store and its commands."""

    def __init__(
        self, folder: Path, days: int, connections: int, python: str, pythonpath: str | None
    ) -> None:
        self.days = days
        self.db = folder / "bench.db"
        config = write_config(folder, connections)  # sets the API keys' variables
        self.env = dict(os.environ)
        if pythonpath:
            self.env["PYTHONPATH"] = pythonpath
        self.sqsync = [python, "-m", "sqsync", "--config", str(config)]
        # Create the store with that checkout's own migrations, then fill it.
        self.check("status")
        self.rows = fill(self.db, connections, days, datetime.now(UTC))
        self.best: dict[str, tuple[float, float]] = {}

    def check(self, *args: str) -> None:
        """Run a command untimed; it must succeed (a failing one would time its error)."""
        done = subprocess.run([*self.sqsync, *args], capture_output=True, env=self.env, text=True)
        if done.returncode != 0:
            raise SystemExit(f"bench: sqsync {args[0]} failed: {done.stderr.strip()[-400:]}")

    def time(self, *args: str) -> None:
        if args == ("run",) and self.days >= RETENTION_DAYS:
            age_oldest_minute(self.db)
        wall, cpu = timed([*self.sqsync, *args], self.env)
        best_wall, best_cpu = self.best.get(args[0], (float("inf"), float("inf")))
        self.best[args[0]] = (min(best_wall, wall), min(best_cpu, cpu))


def measure(
    days: list[int], connections: int, python: str, pythonpath: str | None, times: int
) -> list[dict[str, Any]]:
    with ExitStack() as stack:
        stores = []
        for d in days:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            stores.append(Filled(folder, d, connections, python, pythonpath))
        # A month of rows is over a gigabyte just written: let the kernel write it back
        # first, so the commands are not timed against that flush.
        os.sync()
        for store in stores:  # untimed: the fill's aged rows pruned, the files read once
            store.check("run")
            store.check("status", "--json")
        load_before = os.getloadavg()[0]
        for _ in range(times):
            for store in stores:
                store.time("run")
            for store in stores:
                store.time("status", "--json")
        load = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        return [
            {
                "days": store.days,
                "rows": store.rows,
                "run_noop_s": round(store.best["run"][0], 3),
                "status_s": round(store.best["status"][0], 3),
                "run_noop_cpu_s": round(store.best["run"][1], 3),
                "status_cpu_s": round(store.best["status"][1], 3),
                "load_1m": load,
            }
            for store in stores
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--days", type=int, nargs="+", default=[1, 30])
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--pythonpath", default=None)
    parser.add_argument("--times", type=int, default=10, help="rounds, best of (default 10)")
    args = parser.parse_args()
    results = measure(args.days, args.connections, args.python, args.pythonpath, args.times)
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
