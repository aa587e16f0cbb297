"""Several hosts sharing one PostgreSQL store (issue 16): P ``sqsync run`` processes
started at once over the same quiet connections, per --processes.

    .venv/bin/python bench/bench_several_hosts.py [--connections 200] [--latency-ms 50]
                                                  [--processes 1 2 4] [--force]

One fresh database on a throwaway PostgreSQL server (``tests/postgres_server.py``, the
suite's pgserver wheel); the emulator serves every shop (one key and one site per
connection, its rate limit off) from a thread of this process, with ``latency`` per
request. A first ``run --force`` (not measured) does each connection's first import, so in
a measured round each connection is quiet: one orders request for import-orders, nothing
to push. Each round starts P processes (``SQSYNC_STORE_URL`` set, default --workers) at the
same moment and waits for all; ``wall_s`` is the time until the last one ends.

Why rounds run *without* ``--force`` (the default here): a host runs what is due, and the
claim under test is that each due job runs once, on exactly one host. ``--force`` means
"run every job now" to every process, so a process reaching a connection after another
has finished with it (and released its lock) runs it again, by request: its duplicates
are what was asked for, not a fault. Without it the schedule decides, and ``run``
checks due-ness again once it holds a connection's lock, so a job another host just ran
is not due any more. To make every job due in every round the bench backdates the run
log (``started_at`` of every row an hour back, four intervals at the default 15 minutes)
before it: sqsync has no clock option, and its schedule reads nothing but the run log.
``--force`` measures the other reading, for comparison.

Per round: ``jobs_run`` (run-log rows the round wrote), ``jobs_run_twice`` ((connection,
job) pairs with more than one such row; run-log outcomes are running, ok, failed, skipped,
killed, and a connection skipped because it was locked writes no row, so every row is a
run), ``requests`` (the emulator's; one round's worth is one per connection, not P times
that), each process's share from its ``--json`` lines (jobs it ran, connections it
skipped as locked by another), CPU seconds (the sqsync processes, the emulator's thread,
the PostgreSQL backends the round's processes used), and, sampled every 20 ms, the share
of the round the store's one write lock was held and how many backends waited for it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_run_many import write_config

from sqsync.emulator import Emulator, EmulatorState
from sqsync.store.database import utc_text

ROOT = Path(__file__).resolve().parent.parent
# Far enough back that every job is due at the default frequency of 15 minutes.
BACKDATE = timedelta(hours=1)


def postgres() -> Any:
    """tests/postgres_server.py: not a package, so from the tests folder on sys.path. It
    starts a throwaway server for this process (stopped by its watchdog however we end)."""
    sys.path.insert(0, str(ROOT / "tests"))
    import postgres_server

    return postgres_server


def start_all(commands: list[list[str]], env: dict[str, str]) -> tuple[float, list[str]]:
    """Start every command at once and wait for all: (wall until the last ends, stdouts)."""
    started = time.perf_counter()
    children = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        for command in commands
    ]
    outputs = [child.communicate() for child in children]
    wall = time.perf_counter() - started
    for child, (_, err) in zip(children, outputs, strict=True):
        if child.returncode != 0:
            raise SystemExit(f"bench: sqsync run failed: {err.decode().strip()[-400:]}")
    return wall, [out.decode() for out, _ in outputs]


def cpu_seconds(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def reaped_cpu(pid: int) -> float:
    """CPU seconds of the exited children of process ``pid`` (``cutime + cstime``): for the
    postmaster, its backends, each gone when its sqsync process closed its connection."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def postmaster_pid(db: Any) -> int | None:
    """The server's main process (our backend's parent), if this host can see it."""
    (backend,) = db.execute("SELECT pg_backend_pid()").fetchone()
    try:
        status = Path(f"/proc/{backend}/status").read_text()
    except OSError:  # a server elsewhere: its CPU is not ours to count
        return None
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:"))


class WriteLockSampler:
    """Samples, every 20 ms on its own connection, whether the store's database-wide write
    lock (``pg_advisory_xact_lock(WRITE_LOCK)``, taken by every write transaction) is held
    and how many backends wait for it: where a round's time goes when hosts share a store.
    """

    QUERY = (
        "SELECT count(*) FILTER (WHERE granted), count(*) FILTER (WHERE NOT granted)"
        " FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 AND objid = %s"
        " AND objsubid = 1"
    )

    def __init__(self, url: str) -> None:
        import psycopg

        from sqsync.store.postgres import WRITE_LOCK

        self.conn = psycopg.connect(url, autocommit=True)
        self.key = WRITE_LOCK
        self.samples: list[tuple[int, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(0.02):
            self.samples.append(self.conn.execute(self.QUERY, (self.key,)).fetchone())

    def __enter__(self) -> WriteLockSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.conn.close()

    def figures(self) -> dict[str, float]:
        count = max(1, len(self.samples))
        return {
            "write_lock_held_share": round(sum(h for h, _ in self.samples) / count, 2),
            "write_lock_waiters": round(sum(w for _, w in self.samples) / count, 1),
        }


def round_figures(db: Any, after_id: int) -> dict[str, int]:
    """What the run log says of the rows a round wrote (ids past ``after_id``)."""
    jobs_run, failed = db.execute(
        "SELECT count(*), count(*) FILTER (WHERE outcome <> 'ok') FROM run_log"
        " WHERE id > %s AND outcome <> 'skipped'",
        (after_id,),
    ).fetchone()
    (twice,) = db.execute(
        "SELECT count(*) FROM (SELECT 1 FROM run_log WHERE id > %s AND outcome <> 'skipped'"
        " GROUP BY connection, job HAVING count(*) > 1) AS repeated",
        (after_id,),
    ).fetchone()
    return {"jobs_run": jobs_run, "jobs_not_ok": failed, "jobs_run_twice": twice}


def share(stdout: str) -> tuple[int, int]:
    """(jobs run, connections skipped as locked) from one process's ``run --json`` lines."""
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    locked = sum(1 for line in lines if line.get("skipped") == "locked")
    return len(lines) - locked, locked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--force", action="store_true", help="rounds of run --force instead")
    args = parser.parse_args()
    import psycopg

    servers = postgres()
    url = servers.fresh_database(servers.server_url())
    state = EmulatorState()
    env = dict(os.environ, SQSYNC_STORE_URL=url)
    for n in range(args.connections):
        env[f"BENCH_KEY_{n}"] = state.add_key(f"bench-key-{n}", site=f"site-{n}")
    emulator = Emulator(state, rate_limit_per_minute=0, latency=args.latency_ms / 1000).start()
    results: list[dict[str, Any]] = []
    try:
        with (
            tempfile.TemporaryDirectory() as folder,
            psycopg.connect(url, autocommit=True) as db,
        ):
            config = write_config(Path(folder), emulator.url, args.connections)
            sqsync = [sys.executable, "-m", "sqsync", "--config", str(config), "run", "--json"]
            start_all([[*sqsync, "--force"]], env)  # first imports, not measured
            server = postmaster_pid(db)
            if args.force:
                sqsync.append("--force")
            for processes in args.processes:
                if not args.force:
                    when = utc_text(datetime.now(UTC) - BACKDATE)
                    db.execute("UPDATE run_log SET started_at = %s", (when,))
                (after_id,) = db.execute("SELECT coalesce(max(id), 0) FROM run_log").fetchone()
                requests_before = state.stats.requests
                children_before = cpu_seconds(resource.getrusage(resource.RUSAGE_CHILDREN))
                own_before = cpu_seconds(resource.getrusage(resource.RUSAGE_SELF))
                server_before = reaped_cpu(server) if server else 0.0
                with WriteLockSampler(url) as sampler:
                    wall, outputs = start_all([sqsync] * processes, env)
                cpu = {
                    "sqsync_cpu_s": cpu_seconds(resource.getrusage(resource.RUSAGE_CHILDREN))
                    - children_before,
                    # the emulator's threads, and this loop's few queries
                    "emulator_cpu_s": cpu_seconds(resource.getrusage(resource.RUSAGE_SELF))
                    - own_before,
                }
                if server:
                    cpu["postgres_cpu_s"] = reaped_cpu(server) - server_before
                shares = [share(out) for out in outputs]
                results.append(
                    {
                        "processes": processes,
                        "force": args.force,
                        "connections": args.connections,
                        "latency_ms": args.latency_ms,
                        "wall_s": round(wall, 2),
                        **round_figures(db, after_id),
                        "requests": state.stats.requests - requests_before,
                        "min_requests": args.connections,
                        **{name: round(seconds, 2) for name, seconds in cpu.items()},
                        **sampler.figures(),
                        "jobs_per_process": [jobs for jobs, _ in shares],
                        "locked_skips_per_process": [locked for _, locked in shares],
                    }
                )
    finally:
        emulator.stop()
        servers.drop_database(url)
    one = next((r for r in results if r["processes"] == 1), None)
    for result in results:
        if one is not None:
            result["vs_processes_1"] = round(result["wall_s"] / one["wall_s"], 3)
        print(json.dumps(result))


if __name__ == "__main__":
    main()
