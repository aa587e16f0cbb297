"""`run` shares its connections among forked worker processes (sqsync.jobs.processes):
every connection worked on once, by one of them; a worker that dies leaves its connection
failed and unlocked for the next run; workers die with the run that forked them."""

from __future__ import annotations

import gc
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from factories import shops_with_orders, write_config
from sqsync.config import load_config
from sqsync.emulator import Emulator, EmulatorState
from sqsync.jobs import processes, runner
from sqsync.store import Store

pytestmark = pytest.mark.skipif(not processes.can_fork(), reason="worker processes: Linux")

SHOPS = 8


@pytest.fixture
def shops(tmp_path, make_emulator, monkeypatch):
    emulators, connections = shops_with_orders(make_emulator, SHOPS)
    for n, shop in enumerate(emulators):
        monkeypatch.setenv(f"SHOP{n}_KEY", shop.api_key)
    config = load_config(write_config(tmp_path, connections=connections))
    selected = config.select(())
    config.resolve_keys(selected)
    return emulators, selected, config.store_location


def pids_of(folder: Path) -> list[int]:
    return [int(line) for line in (folder / "pids").read_text().split()]


def recording(folder: Path, die_for: str | None = None):
    """The default client factory, noting which process asked (and killing it for
    ``die_for``, as the OOM killer would, before its first request)."""

    def factory(connection, **options):
        with open(folder / "pids", "a", encoding="utf-8") as pids:
            pids.write(f"{os.getpid()}\n")
        if connection.name == die_for:
            os.kill(os.getpid(), signal.SIGKILL)
        return runner.make_client(connection, **options)

    return factory


def noting(path: Path, note: Callable[[], str]):
    """The default client factory, adding ``note()`` as a line to ``path`` first (from
    whichever process and thread makes the client)."""

    def factory(connection, **options):
        with open(path, "a", encoding="utf-8") as noted:
            noted.write(note() + "\n")
        return runner.make_client(connection, **options)

    return factory


def imported(location) -> dict[str, int]:
    with Store.open(location) as store:
        rows = store.conn.execute(
            "SELECT connection, count(*) FROM orders GROUP BY connection"
        ).fetchall()
        runs = store.conn.execute(
            "SELECT count(*) FROM run_log WHERE job = 'import-orders' AND outcome = 'ok'"
            " GROUP BY connection"
        ).fetchall()
    assert all(count == 1 for (count,) in runs)  # each import done once
    return {connection: count for connection, count in rows}


def test_a_run_shares_its_connections_among_worker_processes(shops, tmp_path):
    _, connections, location = shops

    outcomes = runner.run_due(
        connections,
        location,
        force=True,
        workers=4,
        processes=2,
        client_factory=recording(tmp_path),
    )

    assert [o.connection for o in outcomes] == [c.name for c in connections]  # in order
    assert all(
        o.ok and [r.job for r in o.results] == ["import-orders", "push-despatch"] for o in outcomes
    )
    assert [r.counts.get("imported") for o in outcomes for r in o.results[:1]] == [2] * SHOPS
    pids = pids_of(tmp_path)
    assert len(pids) == SHOPS and os.getpid() not in pids
    assert len(set(pids)) == 2  # two workers, each with its share
    assert imported(location) == {c.name: 2 for c in connections}
    with Store.open(location) as store:
        assert store.conn.execute("SELECT count(*) FROM connection_locks").fetchone()[0] == 0


def test_a_worker_that_dies_leaves_its_connection_failed_for_the_next_run(shops, tmp_path):
    _, connections, location = shops

    outcomes = runner.run_due(
        connections,
        location,
        force=True,
        workers=2,  # a thread each: the dying worker holds shop3 alone
        processes=2,
        client_factory=recording(tmp_path, die_for="shop3"),
    )

    # What the dying worker finished before is reported: it said so as each one ended.
    failed = {o.connection: o.results[0].error for o in outcomes if not o.ok}
    assert list(failed) == ["shop3"]
    assert "killed by SIGKILL" in failed["shop3"] and "next run" in failed["shop3"]
    assert "shop3" not in imported(location)
    # The next run takes over the dead worker's lock at once and imports shop3, once.
    again = runner.run_due(connections, location, processes=1)
    assert all(o.ok for o in again)
    assert [o.connection for o in again if o.due] == ["shop3"]
    assert imported(location) == {c.name: 2 for c in connections}


def test_workers_die_with_the_run_that_forked_them(shops):
    emulators, connections, location = shops
    arrived = threading.Semaphore(0)
    release = threading.Event()

    def hold(method: str, path: str) -> None:  # every worker waits in its first request
        arrived.release()
        release.wait(timeout=60)

    for shop in emulators:
        shop.before_request = hold
    run = os.fork()
    if run == 0:  # the `sqsync run` process
        try:
            runner.run_due(connections, location, force=True, workers=2, processes=2)
        finally:
            os._exit(0)
    try:
        for _ in range(2):
            assert arrived.acquire(timeout=60), "a worker never reached the emulator"
        workers = [int(pid) for pid in Path(f"/proc/{run}/task/{run}/children").read_text().split()]
        assert len(workers) == 2
        exits = [os.pidfd_open(pid) for pid in workers]
        os.kill(run, signal.SIGKILL)
        os.waitpid(run, 0)
        for pidfd in exits:
            readable, _, _ = select.select([pidfd], [], [], 30)
            assert readable == [pidfd], "a worker outlived the run that forked it"
            os.close(pidfd)
    finally:
        release.set()


def test_a_run_forks_only_for_enough_connections_and_cores(monkeypatch):
    monkeypatch.setattr(processes, "cores", lambda: 4)
    share = runner.PROCESS_SHARE
    assert runner._processes(2 * share - 1) == 1  # a small tick: threads keep up
    assert runner._processes(2 * share) == 2
    assert runner._processes(10 * share) == 4  # one per core at most
    monkeypatch.setattr(processes, "can_fork", lambda: False)
    assert runner._processes(10 * share) == 1


def test_a_run_starts_at_a_random_place_so_hosts_started_together_spread_out(shops, monkeypatch):
    _, connections, location = shops
    asked: list[str] = []

    def factory(connection, **options):
        asked.append(connection.name)
        return runner.make_client(connection, **options)

    monkeypatch.setattr(runner.random, "randrange", lambda n: 5)
    outcomes = runner.run_due(
        connections, location, force=True, workers=1, processes=1, client_factory=factory
    )

    assert asked == [f"shop{n}" for n in (5, 6, 7, 0, 1, 2, 3, 4)]  # round from shop5
    assert [o.connection for o in outcomes] == [c.name for c in connections]  # as listed


def test_workers_run_with_the_start_ups_objects_frozen_and_the_parent_unfreezes(shops, tmp_path):
    _, connections, location = shops
    assert gc.get_freeze_count() == 0

    factory = noting(tmp_path / "frozen", lambda: f"{os.getpid()} {gc.get_freeze_count()}")
    runner.run_due(
        connections, location, force=True, workers=4, processes=2, client_factory=factory
    )

    noted = [line.split() for line in (tmp_path / "frozen").read_text().splitlines()]
    assert len({pid for pid, _ in noted}) == 2 and os.getpid() not in {int(p) for p, _ in noted}
    # every import, class and config object of the start-up, untouched by the collector
    assert min(int(count) for _, count in noted) > 10_000
    assert gc.get_freeze_count() == 0


def test_before_forking_the_parent_imports_only_the_jobs_its_connections_do(shops, monkeypatch):
    _, connections, location = shops
    assert not any(c.stock_sync for c in connections)
    parent, asked = os.getpid(), []
    real = runner.job_function

    def recording(job):
        if os.getpid() == parent:
            asked.append(job)
        return real(job)

    monkeypatch.setattr(runner, "job_function", recording)
    runner.run_due(connections, location, force=True, workers=4, processes=2)
    assert sorted(asked) == ["import-orders", "push-despatch"]  # not sync-stock's modules


CHILD_IMPORTS = """
import os, sys
parent = os.getpid()

class Noting:
    def find_spec(self, name, path=None, target=None):
        if os.getpid() != parent:
            print("worker imports", name, file=sys.stderr)

sys.meta_path.insert(0, Noting())
from sqsync.cli import main
sys.argv = ["sqsync", "--config", sys.argv[1], "run", "--force"]
main()
"""


@pytest.mark.skipif(processes.cores() < 2, reason="a run forks workers only with 2 cores")
def test_a_forked_worker_imports_nothing_its_parent_could_have(tmp_path):
    """Whatever a worker would import for its connections (the jobs, the store's locks and
    pacing, ctypes, the idna codec ...) the parent imports once before it forks."""
    state = EmulatorState()
    env = dict(os.environ)
    lines = ['[store]\npath = "forked.db"\n']
    with Emulator(state, rate_limit_per_minute=0) as emulator:
        for n in range(2 * runner.PROCESS_SHARE):
            env[f"FORKED_KEY_{n}"] = state.add_key(f"forked-key-{n}", site=f"site-{n}")
            lines.append(
                f'[[connections]]\nname = "shop{n}"\nclient = "C"\nwarehouse = "W"\n'
                f'order_prefix = "S{n}-"\napi_url = "{emulator.url}"\n'
                f'api_key_env = "FORKED_KEY_{n}"\n'
            )
        config = tmp_path / "sqsync.toml"
        config.write_text("\n".join(lines), encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-c", CHILD_IMPORTS, str(config)],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
        )
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stderr.count("import-orders: nothing to do") == 2 * runner.PROCESS_SHARE
    assert [line for line in done.stderr.splitlines() if "worker imports" in line] == []


@pytest.mark.parametrize(
    ("threads", "processes", "shares"),
    [(25, 2, [13, 12]), (20, 2, [10, 10]), (3, 2, [2, 1]), (2, 2, [1, 1]), (7, 3, [3, 2, 2])],
)
def test_the_workers_are_shared_among_the_processes_none_over(threads, processes, shares):
    assert runner.threads_per_process(threads, processes) == shares


def test_a_run_in_processes_works_on_no_more_connections_at_once_than_its_workers(shops, tmp_path):
    _, connections, location = shops

    factory = noting(tmp_path / "threads", lambda: f"{os.getpid()}:{threading.get_ident()}")
    runner.run_due(
        connections, location, force=True, workers=3, processes=2, client_factory=factory
    )

    threads = set((tmp_path / "threads").read_text().split())
    assert len(threads) <= 3  # 2 and 1; rounding each share up gave 2 and 2
    assert len({t.split(":")[0] for t in threads}) == 2
