"""Crash suite: SIGKILL a real ``python -m sqsync <job>`` at seeded random points, then rerun.

Each trial builds a shop in the emulator and a store, starts the job as a subprocess and
kills it at its k-th request (k drawn from a seeded RNG), in one of two ways:

* ``before``: the emulator's ``before_request`` hook kills the child and refuses the
  request, so Squarespace never applies it;
* ``after``: the request is applied, then the child is killed before it hears the answer
  (the emulator state's operations are wrapped to kill on the way out).

The job is then rerun in-process until it reports nothing left, and the invariants are
checked: no order lost or duplicated (against a clean import of the same shop), no
shipment duplicated (each tracking number on its Squarespace order exactly once, at most
one customer email per order), and every stock change applied exactly once (each variant
in exactly one applied adjustment, Squarespace quantities equal to the targets, resends
answered as idempotent replays).

``make test`` runs 21 trials (7 per job, one of them a fresh ``python -m sqsync``, the rest
forks of the test process to save start-up time); ``make test-long`` adds 90 more fresh
processes (marker ``long``).
The shop builders here are shared with :mod:`test_fault_suite`.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from factories import write_config
from sqsync.clock import utcnow
from sqsync.config import Connection, load_config
from sqsync.domain.despatch import Despatch
from sqsync.emulator import Emulator, EmulatorState
from sqsync.jobs import JobResult
from sqsync.jobs.runner import run_job
from sqsync.jobs.stock_plan import available
from sqsync.squarespace import Client
from sqsync.store import Store
from sqsync.store.recording import record_despatches
from sqsync.store.stock import availability, set_on_hand

KEY_ENV = "ACME_KEY"
JOBS = ("import-orders", "sync-stock", "push-despatch")
# The counts that mean "a later run still has work to do".
UNFINISHED = {
    "push-despatch": ("in_doubt", "deferred", "in_flight"),
    "sync-stock": ("adjusted", "resent"),
}
SHOP_SIZE = {  # (orders, variants): enough requests for the kill points to vary
    "import-orders": (240, 12),
    "sync-stock": (40, 170),
    "push-despatch": (90, 12),
}
DESPATCHED_ORDERS = 14
MAX_RUNS = 8


# --------------------------------------------------------------------------- the world


@dataclass
class Shop:
    """An emulator, a config and store for connection "acme", and a record of every
    change the emulator applied (adjustments by body, fulfilments by order)."""

    emu: Emulator
    folder: Path
    config_path: Path
    connection: Connection
    adjustments: list[dict[str, Any]] = field(default_factory=list)
    replays: int = 0
    fulfilments: list[tuple[str, bool, list[dict[str, Any]]]] = field(default_factory=list)
    on_applied: Callable[[], None] | None = None
    later: timedelta = timedelta(0)  # how far ahead the next push-despatch run's clock is

    @property
    def store_path(self) -> Path:
        return load_config(self.config_path).store_path

    def client(self, **options: Any) -> Client:
        # No pacing and no waiting between retries: the emulator's limit is off.
        options.setdefault("sleep", lambda seconds: None)
        return Client(self.emu.api_key, base_url=self.emu.url, rate_limit_per_minute=0, **options)

    def run(self, job: str, store: Store | None = None, **options: Any) -> JobResult:
        own = store is None
        store = store or Store.open(self.store_path)
        try:
            with self.client(**options) as client:
                clock = self.next_tick() if job == "push-despatch" else utcnow
                return run_job(job, self.connection, store, client=client, clock=clock)
        finally:
            if own:
                store.close()

    def next_tick(self) -> Callable[[], datetime]:
        """The clock of the next push-despatch run: an hour after the last, as a later cron
        tick. A shipment left sending is settled only once its request can no longer be in
        flight (minutes, see push_despatch.in_flight_window); a rerun at the same moment
        rightly leaves it alone."""
        self.later += timedelta(hours=1)
        later = self.later
        return lambda: datetime.now(UTC) + later

    def run_to_completion(self, job: str) -> list[JobResult]:
        """Run ``job`` until a run is ok with nothing left to do (bounded)."""
        results = []
        for _ in range(MAX_RUNS):
            result = self.run(job)
            results.append(result)
            if result.ok and not any(result.counts.get(name) for name in UNFINISHED.get(job, ())):
                return results
        raise AssertionError(f"{job} did not converge: {[r.to_json() for r in results]}")

    def watch(self) -> None:
        """Record what the emulator applies, and call ``on_applied`` after each operation."""
        state = self.emu.state

        def around(name: str, record: Callable[..., None] | None = None) -> None:
            original = getattr(state, name)

            def wrapped(*args: Any) -> Any:
                try:
                    value = original(*args)
                    if record is not None:
                        record(value, *args)
                    return value
                finally:
                    if self.on_applied is not None:
                        self.on_applied()

            setattr(state, name, wrapped)

        def adjusted(replay: bool, key: str, body: str, adjustment: Any) -> None:
            if replay:
                self.replays += 1
            else:
                self.adjustments.append({"key": key, **_operations(adjustment)})

        def fulfilled(_: None, order_id: str, notify: bool, shipments: list[Any]) -> None:
            self.fulfilments.append((order_id, notify, shipments))

        around("adjust", adjusted)
        around("fulfil", fulfilled)
        for name in ("order_page", "order_json", "inventory_page", "inventory_json"):
            around(name)


def _operations(adjustment: Any) -> dict[str, Any]:
    return {
        "increments": list(adjustment.increments),
        "decrements": list(adjustment.decrements),
        "set_finite": list(adjustment.set_finite),
    }


def make_shop(
    folder: Path,
    job: str,
    seed: int,
    make_emulator: Callable[..., Emulator],
    *,
    scale: int = 1,
) -> Shop:
    """The shop a trial of ``job`` starts from, the same for the same seed (``scale`` times
    the orders, variants and despatched orders)."""
    orders, variants = (n * scale for n in SHOP_SIZE[job])
    state = EmulatorState.generate(orders=orders, variants=variants, seed=seed)
    emu = make_emulator(state)
    config_path = write_config(folder, api_url=emu.url, api_key_env=KEY_ENV, stock_sync=True)
    config = load_config(config_path)
    shop = Shop(emu, folder, config_path, config.connections[0])
    rng = random.Random(seed)
    with Store.open(config.store_path) as store:
        # Every SKU known (orders import as NEW), each with a seeded on-hand count.
        skus = sorted({i["sku"] for i in emu.inventory.values() if i["sku"]})
        with store.transaction() as conn:
            for sku in skus:
                set_on_hand(conn, "ACME", "MAIN", sku, rng.randrange(0, 60))
        if job != "import-orders":
            shop.run("import-orders", store)
        if job == "push-despatch":
            record_despatches(store, despatches(store, rng, DESPATCHED_ORDERS * scale))
    shop.watch()
    return shop


def despatches(store: Store, rng: random.Random, count: int) -> list[Despatch]:
    """Parcels for some NEW orders: mostly one tracked, some two, one untracked."""
    numbers = [
        row[0]
        for row in store.conn.execute(
            "SELECT order_number FROM orders WHERE status = 'NEW' ORDER BY id"
        )
    ][:count]
    shipped = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    parcels = []
    for n, number in enumerate(numbers):
        for parcel in range(1 if n == 0 else 1 + (rng.random() < 0.3)):
            tracking = None if n == 0 else f"TRK{rng.randrange(10**9):09d}{parcel}"
            parcels.append(
                Despatch(f"parcel {n}", number, "Royal Mail", "Tracked 48", tracking, None, shipped)
            )
    return parcels


# --------------------------------------------------------------------------- invariants


def stored_orders(store_path: Path) -> Counter[tuple[Any, ...]]:
    """Each stored order with its lines, as comparable values (ids and times left out)."""
    store = Store.open(store_path)
    try:
        lines: dict[int, list[str]] = {}
        for row in store.conn.execute(
            "SELECT order_id, sku, quantity FROM order_items ORDER BY id"
        ):
            lines.setdefault(row[0], []).append(f"{row[1]}x{row[2]}")
        rows = store.conn.execute(
            "SELECT id, squarespace_id, order_number, status, problems FROM orders"
        )
        return Counter(
            (*tuple(row)[1:], ",".join(lines[row[0]]) if row[0] in lines else None) for row in rows
        )
    finally:
        store.close()


def check_orders(shop: Shop) -> None:
    """Every order a clean import brings in is there exactly once, and nothing else."""
    got = stored_orders(shop.store_path)
    assert all(n == 1 for n in got.values()), "an order is duplicated"
    clean_folder = shop.folder / "clean"
    clean_folder.mkdir()
    clean_config = write_config(clean_folder, api_url=shop.emu.url, api_key_env=KEY_ENV)
    clean = Shop(shop.emu, clean_folder, clean_config, shop.connection)
    with Store.open(clean_folder / "sqsync.db") as store, store.transaction() as conn:
        for sku in {i["sku"] for i in shop.emu.inventory.values() if i["sku"]}:
            set_on_hand(conn, "ACME", "MAIN", sku, 0)
    with Store.open(clean_folder / "sqsync.db") as store:
        assert clean.run("import-orders", store).ok
    assert got == stored_orders(clean_folder / "sqsync.db")


def check_stock(shop: Shop, initial: dict[str, dict[str, Any]]) -> None:
    """Squarespace shows the targets, and each change was applied exactly once."""
    with Store.open(shop.store_path) as store:
        levels = availability(store, "ACME", "MAIN")
    inventory = shop.emu.inventory
    applied: Counter[str] = Counter()
    moved: Counter[str] = Counter()
    for adjustment in shop.adjustments:
        for vid, qty in adjustment["increments"]:
            applied[vid] += 1
            moved[vid] += qty
        for vid, qty in adjustment["decrements"]:
            applied[vid] += 1
            moved[vid] -= qty
        assert not adjustment["set_finite"], "stock must move by relative operations"
    for vid, item in initial.items():
        now = inventory[vid]
        if item["isUnlimited"] or item["sku"] not in levels:
            assert now == item, f"variant {vid} should have been left alone"
            continue
        target = available(*levels[item["sku"]])
        assert now["quantity"] == target, f"variant {vid}: {now['quantity']} != {target}"
        changed = item["quantity"] != target
        assert applied[vid] == int(changed), f"variant {vid} adjusted {applied[vid]} times"
        assert moved[vid] == target - item["quantity"]


def check_shipments(shop: Shop) -> None:
    """Every shipment is on its order once; no order was emailed twice; all are pushed."""
    store = Store.open(shop.store_path)
    try:
        shipments = store.conn.execute(
            "SELECT o.squarespace_id, s.tracking_number, s.push_state"
            " FROM shipments s JOIN orders o ON o.id = s.order_id"
        ).fetchall()
    finally:
        store.close()
    assert shipments, "the trial had nothing to push"
    orders = shop.emu.orders
    for order_id, tracking, state in shipments:
        assert state == "pushed", (order_id, tracking, state)
        order = orders[order_id]
        assert order["fulfillmentStatus"] == "FULFILLED"
        if tracking is not None:
            on_order = [f.get("trackingNumber") for f in order["fulfillments"] or []]
            assert on_order.count(tracking) == 1, f"{tracking} on {order_id}: {on_order}"
    emails = Counter(order_id for order_id, notify, sent in shop.fulfilments if notify and sent)
    assert all(n <= 1 for n in emails.values()), f"customer emailed twice: {emails}"
    # The send notification applies to the whole fulfilment, so one POST per order at most
    # may carry shipments; the rest can only be verifications (no POST at all).
    with_shipments = Counter(order_id for order_id, _, sent in shop.fulfilments if sent)
    assert all(n <= 1 for n in with_shipments.values()), with_shipments


def check(shop: Shop, job: str, initial_inventory: dict[str, dict[str, Any]]) -> None:
    if job == "import-orders":
        check_orders(shop)
    elif job == "sync-stock":
        check_stock(shop, initial_inventory)
    else:
        check_shipments(shop)


# --------------------------------------------------------------------------- the trials


class Killed(Exception):
    """Raised in the emulator once the child is dead, so the request is never handled."""


class Child:
    """``sqsync -q --config FILE <job>`` in its own process, its stderr kept in a file.

    ``exec``: a fresh ``python -m sqsync``, exactly what cron starts. ``fork``: a fork of
    the test process calling the same CLI entry point, which skips the interpreter's
    start-up (most of a short job's time) so many more kill points fit in ``make test``.
    """

    def __init__(self, shop: Shop, job: str, how: str) -> None:
        args = ["-q", "--config", str(shop.config_path), job]
        env = {**os.environ, KEY_ENV: shop.emu.api_key}
        self.stderr_path = shop.folder / f"{job}.stderr"
        with self.stderr_path.open("wb") as stderr:
            if how == "exec":
                command = [sys.executable, "-m", "sqsync", *args]
                self.pid = subprocess.Popen(
                    command, env=env, stdout=subprocess.DEVNULL, stderr=stderr
                ).pid
            else:
                self.pid = os.fork()
                if self.pid == 0:  # pragma: no cover - the child never returns
                    _run_cli_and_exit(args, env, stderr.fileno())

    def kill(self) -> None:
        # SIGKILL is acted on before the child runs another instruction of its own.
        os.kill(self.pid, signal.SIGKILL)

    def wait(self) -> int:
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def _run_cli_and_exit(args: list[str], env: dict[str, str], stderr_fd: int) -> None:
    code = 70
    try:
        os.environ.clear()
        os.environ.update(env)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(stderr_fd, 2)
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - the process ends here
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        from sqsync.cli import cli

        cli.main(args, prog_name="sqsync")
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def kill_at(shop: Shop, job: str, k: int, after: bool, how: str = "fork") -> int:
    """Run ``sqsync <job>`` in its own process, SIGKILL it at request ``k``; return its
    exit code (``-SIGKILL`` when killed)."""
    seen = 0
    armed = False
    child: Child | None = None

    def before(method: str, path: str) -> None:
        nonlocal seen, armed
        seen += 1
        if seen == k and child is not None:
            if after:
                armed = True  # handled normally; killed once the change is made
            else:
                child.kill()
                raise Killed(f"killed before {method} {path}")

    def applied() -> None:
        if armed and child is not None:
            child.kill()

    shop.emu.before_request, shop.on_applied = before, applied
    try:
        child = Child(shop, job, how)
        code = child.wait()
    finally:
        shop.emu.before_request, shop.on_applied = None, None
    assert "Traceback" not in child.stderr, child.stderr
    return code


def crash_trial(
    tmp_path: Path, make_emulator: Any, job: str, trial: int, how: str = "fork"
) -> None:
    rng = random.Random(f"{job}-{trial}")
    shop = make_shop(tmp_path, job, seed=rng.randrange(10**6), make_emulator=make_emulator)
    initial = shop.emu.inventory
    reads = shop.emu.stats.requests
    k = rng.randint(1, {"import-orders": 5, "sync-stock": 8, "push-despatch": 14}[job])
    after = rng.random() < 0.5
    code = kill_at(shop, job, k, after, how)
    if shop.emu.stats.requests - reads >= k:
        assert code == -signal.SIGKILL, f"the child was not killed at request {k} (exit {code})"
    else:  # a shop that needed fewer requests: the run simply finished
        assert code == 0
    shop.run_to_completion(job)
    check(shop, job, initial)


TRIALS = 6


@pytest.mark.parametrize("trial", range(TRIALS))
@pytest.mark.parametrize("job", JOBS)
def test_killed_job_reruns_to_the_same_end(
    tmp_path: Path, make_emulator: Any, job: str, trial: int
) -> None:
    crash_trial(tmp_path, make_emulator, job, trial)


@pytest.mark.parametrize("job", JOBS)
def test_killed_sqsync_process_reruns_to_the_same_end(
    tmp_path: Path, make_emulator: Any, job: str
) -> None:
    """The same with a fresh ``python -m sqsync`` process, as cron runs it."""
    crash_trial(tmp_path, make_emulator, job, trial=1000, how="exec")


@pytest.mark.long
@pytest.mark.parametrize("trial", range(TRIALS, TRIALS + 30))
@pytest.mark.parametrize("job", JOBS)
def test_killed_sqsync_process_reruns_to_the_same_end_long(
    tmp_path: Path, make_emulator: Any, job: str, trial: int
) -> None:
    crash_trial(tmp_path, make_emulator, job, trial, how="exec")


def test_a_clean_run_passes_the_checks(tmp_path: Path, make_emulator: Any) -> None:
    """The invariants hold for an uninterrupted run of each job (so a trial failure is the
    crash's doing), and they catch a duplicated shipment."""
    for job in JOBS:
        folder = tmp_path / job
        folder.mkdir()
        shop = make_shop(folder, job, seed=5, make_emulator=make_emulator)
        initial = shop.emu.inventory
        shop.run_to_completion(job)
        check(shop, job, initial)
    order_id, _, shipments = shop.fulfilments[-1]
    shop.emu.state.fulfil(order_id, True, shipments)  # what a blind resend would do
    with pytest.raises(AssertionError):
        check_shipments(shop)
