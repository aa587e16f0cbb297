"""Several hosts running `sqsync run` from cron at the same moment against one PostgreSQL
store (issue 16): each due job runs once, on exactly one host, and a host killed mid-run
leaves its connections to the others' next tick, with nothing done twice.

Each "host" is a real `sqsync run` process; 50 connections, each its own emulated shop
whose orders are all importable, so every one must arrive exactly once. Cron's later
ticks are played by moving the store's times back (the run log, and the claims of
fulfilments in flight), as an hour passing would: a test cannot wait out the in-flight
window. PostgreSQL pass only (the SQLite store is one host's by design).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from factories import shops_with_orders, write_config
from factories import sqsync_process as sqsync
from sqsync.store import Store
from sqsync.store.database import utc_text

pytestmark = pytest.mark.skipif(
    os.environ.get("SQSYNC_TEST_BACKEND") != "postgres", reason="needs the PostgreSQL pass"
)

SHOPS = 50
HOSTS = 3
JOBS = ("import-orders", "push-despatch", "sync-stock")
FULFIL = "/1.0/commerce/orders/{id}/fulfillments"
# What a job did, by the keys of its --json line: each must be 0 when nothing is left.
COUNTED = {
    "import-orders": ("imported", "updated"),
    "push-despatch": ("pushed", "verified"),
    "sync-stock": ("adjusted",),
}


@pytest.fixture
def hosts(tmp_path, make_emulator, store_backend):
    shops, connections = shops_with_orders(make_emulator, SHOPS, stock_sync=True)
    path = write_config(tmp_path, connections=connections)
    env = {**os.environ, "SQSYNC_CONFIG": str(path), "SQSYNC_STORE_URL": store_backend}
    env.update({f"SHOP{n}_KEY": shop.api_key for n, shop in enumerate(shops)})
    lines = ["client,sku,quantity"]
    for n, shop in enumerate(shops):
        lines += [f"C{n},{v['sku']},7" for v in shop.inventory.values()]
    sqsync(env, "stock", "import", "-", input="\n".join(lines) + "\n")
    return shops, env, store_backend


def start(env, *args):
    return subprocess.Popen(
        [sys.executable, "-m", "sqsync", "run", "--workers", "8", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def tick(env):
    """Cron's tick on every host at the same moment."""
    runs = [start(env) for _ in range(HOSTS)]
    for run in runs:
        _, err = run.communicate(timeout=240)
        assert run.returncode == 0, err


def an_hour_later(url):
    """The store as the next cron tick finds it, an hour on: every job due again, and a
    fulfilment claimed by a killed host past the window in which it could still arrive."""
    earlier = utc_text(datetime.now(UTC) - timedelta(hours=1))
    with Store.open(url) as store, store.transaction() as conn:
        conn.execute("UPDATE run_log SET started_at = ?, finished_at = ?", (earlier, earlier))
        conn.execute("UPDATE shipments SET claimed_at = ? WHERE push_state = 'sending'", (earlier,))


def ok_runs(url):
    with Store.open(url) as store:
        rows = store.conn.execute("SELECT connection, job FROM run_log WHERE outcome = 'ok'")
        return Counter((row[0], row[1]) for row in rows.fetchall())


def stored_orders(url):
    with Store.open(url) as store:
        rows = store.conn.execute("SELECT connection, order_number FROM orders").fetchall()
    return [(row[0], row[1]) for row in rows]


def test_three_hosts_at_once_run_each_job_once_and_a_killed_one_is_finished_by_the_others(
    hosts,
):
    shops, env, url = hosts
    every_job = Counter({(f"shop{n}", job): 1 for n in range(SHOPS) for job in JOBS})

    # Two ticks, a new order in every shop between them: each due job once per tick.
    tick(env)
    assert ok_runs(url) == every_job
    for shop in shops:
        shop.state.place_order()
    an_hour_later(url)
    tick(env)
    assert ok_runs(url) == every_job + every_job

    orders = stored_orders(url)
    assert len(set(orders)) == len(orders)
    placed = {f"shop{n}": len(shop.orders) for n, shop in enumerate(shops)}
    assert Counter(connection for connection, _ in orders) == placed  # each once, none lost

    # Everything ships; three hosts push it, and one is killed once it has pushed some.
    feed = "order_number,carrier,service,tracking_number\n" + "".join(
        f"{number},DPD,Next Day,T-{number}\n" for _, number in orders
    )
    sqsync(env, "despatch", "import", "-", input=feed)
    an_hour_later(url)
    runs = [start(env) for _ in range(HOSTS)]
    victim = runs[0]
    while sum(shop.stats.count("POST", FULFIL) for shop in shops) < 5 and victim.poll() is None:
        pass
    victim.send_signal(signal.SIGKILL)
    assert victim.wait(timeout=60) == -signal.SIGKILL  # killed mid-run, not finished
    for run in runs[1:]:
        _, err = run.communicate(timeout=240)
        assert run.returncode in (0, 1), err
    an_hour_later(url)
    tick(env)  # the survivors' next tick finishes what the killed host left

    with Store.open(url) as store:
        states = Counter(row[0] for row in store.conn.execute("SELECT push_state FROM shipments"))
        applied = Counter(
            row[0]
            for row in store.conn.execute(
                "SELECT connection FROM stock_adjustments WHERE state = 'applied'"
            )
        )
    assert states == Counter({"pushed": len(orders)})
    for n, shop in enumerate(shops):
        # Every order fulfilled exactly once, and every journalled adjustment applied once.
        assert [len(o.get("fulfillments") or []) for o in shop.orders.values()] == [1] * len(
            shop.orders
        )
        assert shop.stats.adjustments_applied == applied[f"shop{n}"]
    assert sum(applied.values()) >= SHOPS  # a batch per shop at least: the check bites

    # A last forced tick on one host finds nothing left to do anywhere.
    lines = [json.loads(line) for line in sqsync(env, "run", "--force", "--json").splitlines()]
    assert len(lines) == SHOPS * len(JOBS)
    assert all(line["ok"] for line in lines), [line for line in lines if not line["ok"]]
    for line in lines:  # a job's counts are keys of its line
        counts = {name: line[name] for name in COUNTED[line["job"]]}
        assert not any(counts.values()), line
