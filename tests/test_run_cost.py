"""What a quiet connection costs `sqsync run` (issue 15), counted, never timed: one store
connection per worker, two bookkeeping transactions per connection, no thread for a
one-page import, one HTTP pool for the run's clients; and the merged writes keep the rules
(a lock lost between jobs starts no next job, a job that sends has its start committed
first)."""

from __future__ import annotations

import gc
import os
import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from factories import insert_order, insert_shipment
from sqsync.config import load_config
from sqsync.emulator import Emulator, EmulatorState
from sqsync.jobs import runner
from sqsync.prefetch import prefetched
from sqsync.squarespace import Client
from sqsync.squarespace import client as client_module
from sqsync.store import Store, catalog

SHOPS = 3


@pytest.fixture
def shops(tmp_path, monkeypatch):
    state = EmulatorState()
    lines = ['[store]\npath = "cost.db"\n']
    for n in range(SHOPS):
        monkeypatch.setenv(f"COST_KEY_{n}", state.add_key(f"cost-key-{n}", site=f"site-{n}"))
    emulator = Emulator(state, rate_limit_per_minute=0).start()
    for n in range(SHOPS):
        lines.append(
            f'[[connections]]\nname = "shop{n}"\nclient = "COST"\nwarehouse = "MAIN"\n'
            f'order_prefix = "S{n}-"\napi_url = "{emulator.url}"\napi_key_env = "COST_KEY_{n}"\n'
        )
    path = tmp_path / "sqsync.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    config = load_config(path)
    connections = config.select(())
    config.resolve_keys(connections)
    runner.run_due(connections, config.store_location, force=True)  # the first imports
    yield connections, config.store_location, state
    emulator.stop()


def _trace(monkeypatch) -> list[str]:
    statements: list[str] = []
    real = sqlite3.connect

    def connect(*args, **kwargs):
        conn = real(*args, **kwargs)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    return statements


def _rows(location: Path, sql: str) -> list[tuple]:
    with Store.open(location) as store:
        return [tuple(row) for row in store.conn.execute(sql)]


def test_a_quiet_run_costs_one_request_and_leaves_its_rows_per_connection(shops):
    connections, location, state = shops
    before = state.stats.requests

    outcomes = runner.run_due(connections, location, force=True, workers=2)

    assert all(o.ok and len(o.results) == 2 for o in outcomes)
    assert state.stats.requests - before == SHOPS  # one orders request each, nothing pushed
    assert not _rows(location, "SELECT * FROM connection_locks")
    latest = _rows(
        location,
        "SELECT job, outcome, requests FROM run_log WHERE id > (SELECT max(id) - 6 FROM run_log)"
        " ORDER BY id",
    )
    assert sorted(latest) == sorted(
        [("import-orders", "ok", 1), ("push-despatch", "ok", 0)] * SHOPS
    )
    saved = _rows(location, "SELECT count(*) FROM sync_state WHERE key = 'pacing.recent'")
    assert saved == [(SHOPS,)]


@pytest.mark.sqlite_only
def test_a_quiet_run_opens_a_store_per_worker_and_commits_little(shops, monkeypatch):
    connections, location, _ = shops
    statements = _trace(monkeypatch)

    outcomes = runner.run_due(connections, location, force=True, workers=2)

    assert all(o.ok for o in outcomes)
    commits = sum(1 for s in statements if s.strip().upper() == "COMMIT")
    # per connection: the lock with the first run row, and the release with import's
    # finish (its quiet window end too) and push-despatch's rows, as it had nothing to
    # push (import's start only reads); and the run's prune
    assert commits <= 1 + 2 * SHOPS
    # its pacing, then import's whole start in one read, and the window end under the lock
    state_reads = [s for s in statements if "FROM sync_state" in s]
    assert len(state_reads) <= 3 * SHOPS
    assert not [s for s in statements if "FROM products" in s]  # no order, no SKU read
    opens = sum(1 for s in statements if s.startswith("PRAGMA journal_mode = WAL"))
    assert opens == 1 + 2  # the run's own store, then one per worker, not per connection


@pytest.mark.sqlite_only
def test_a_quiet_connection_makes_ten_statements_under_the_write_lock(shops, monkeypatch):
    # The lock taken in one INSERT, the release's ownership known from its DELETE, the
    # quiet push-despatch's row written whole: the write lock is held for fewer steps.
    connections, location, _ = shops
    statements = _trace(monkeypatch)

    outcomes = runner.run_due(connections, location, force=True, workers=1)

    assert all(o.ok for o in outcomes)
    inside, writing = 0, False
    for statement in (s.strip().upper() for s in statements):
        if statement.startswith("BEGIN"):
            writing = True
        elif statement == "COMMIT":
            writing = False
        elif writing:
            inside += 1
    assert inside <= 1 + 10 * SHOPS  # the run's prune, then 4 + 6 per connection


def test_a_quiet_windows_end_is_saved_with_the_jobs_run_log_row(shops, monkeypatch):
    # The write left for the next transaction (Store.carry) is made, by run and by the
    # one-job command alike: the next tick reads from the new end, not the old one.
    connections, location, state = shops
    key = "import_orders.window_end"

    def end() -> str:
        sql = f"SELECT value FROM sync_state WHERE connection = 'shop0' AND key = '{key}'"
        return _rows(location, sql)[0][0]

    before = end()
    later = runner.utcnow() + timedelta(minutes=5)  # here and at Squarespace
    monkeypatch.setattr(runner, "utcnow", lambda: later)
    state.now = lambda: later
    [outcome] = runner.run_due(connections[:1], location, force=True)
    assert outcome.ok and end() > before

    moved = end()
    later += timedelta(minutes=5)
    with Store.open(location) as store:
        result = runner.run_locked("import-orders", connections[0], store)
    assert result.ok and end() > moved
    assert _rows(location, "SELECT count(*) FROM run_log WHERE outcome = 'running'") == [(0,)]


def test_an_order_after_a_quiet_start_is_mapped_against_the_catalogue(shops):
    # The start read nothing of the catalogue (above); the first page with an order does.
    connections, location, state = shops
    with Store.open(location) as store, store.transaction() as conn:
        client_id = catalog.ensure_ids(conn, "COST", "MAIN", "Squarespace")[0]
        catalog.ensure_product(conn, client_id, "KNOWN-1")
    state.place_order("KNOWN-1")
    state.place_order("NOT-STOCKED")

    [outcome] = runner.run_due(connections[:1], location, force=True)

    assert outcome.ok
    rows = dict(_rows(location, "SELECT status, problems FROM orders"))
    assert sorted(rows) == ["HOLDING", "NEW"]  # one order each, in either order
    assert "unknown_sku:NOT-STOCKED" in rows["HOLDING"]
    assert "unknown_sku" not in (rows["NEW"] or "")


def _taken_over_by_another_process(location: Path, connection: str):
    """A client factory that, as the connection's jobs start (its lock taken), has another
    process take the lock over, as one may once a lease has expired."""

    def factory(connection_config, **options):
        with Store.open(location) as store, store.transaction() as conn:
            conn.execute(
                "UPDATE connection_locks SET owner = 'elsewhere:1:abc', host = 'elsewhere'"
                " WHERE connection = ?",
                (connection,),
            )
        return runner.make_client(connection_config, **options)

    return factory


def test_a_lock_lost_between_jobs_keeps_the_first_and_starts_no_second(shops):
    # push-despatch has nothing to push: the release finds the lock not ours and writes
    # none of its rows
    connections, location, _ = shops
    last_id = _rows(location, "SELECT max(id) FROM run_log")[0][0]
    taken_over = _taken_over_by_another_process(location, "shop0")

    [outcome] = runner.run_due(connections[:1], location, force=True, client_factory=taken_over)

    assert not outcome.ok and "lock expired" in outcome.results[0].error
    rows = _rows(location, f"SELECT job, outcome FROM run_log WHERE id > {last_id}")
    assert rows == [("import-orders", "ok")]  # finished, and push-despatch never started
    assert _rows(location, "SELECT owner FROM connection_locks") == [("elsewhere:1:abc",)]


def _order_to_push(location: Path, state: EmulatorState) -> None:
    """A despatched order of shop0 with one shipment to push."""
    sq_id = state.add_order(state.make_order())
    with Store.open(location) as store:
        local = insert_order(
            store,
            connection="shop0",
            client="COST",
            squarespace_id=sq_id,
            status="DESPATCHED",
            sq_modified_on=state.orders[sq_id]["modifiedOn"],
        )
        insert_shipment(store, local)


def test_a_lock_lost_before_a_push_with_something_to_send_sends_nothing(shops):
    # As above, for the renewal between the jobs that a push with work to do waits for.
    connections, location, state = shops
    _order_to_push(location, state)
    last_id = _rows(location, "SELECT max(id) FROM run_log")[0][0]
    sent: list[str] = []
    state.during_fulfilment = sent.append
    taken_over = _taken_over_by_another_process(location, "shop0")

    [outcome] = runner.run_due(connections[:1], location, force=True, client_factory=taken_over)

    assert not outcome.ok and "lock expired" in outcome.results[0].error
    assert sent == []
    rows = _rows(location, f"SELECT job, outcome FROM run_log WHERE id > {last_id}")
    assert rows == [("import-orders", "ok")]
    assert _rows(location, "SELECT owner FROM connection_locks") == [("elsewhere:1:abc",)]


def test_a_quiet_push_despatch_is_written_whole_after_the_import_it_followed(shops, monkeypatch):
    connections, location, _ = shops
    last_id = _rows(location, "SELECT max(id) FROM run_log")[0][0]
    start, readings, lock = runner.utcnow(), [0], threading.Lock()

    def stepping():  # a second later at each reading, so the order of the times shows
        with lock:
            readings[0] += 1
            return start + timedelta(seconds=readings[0])

    monkeypatch.setattr(runner, "utcnow", stepping)

    [outcome] = runner.run_due(connections[:1], location, force=True)

    assert outcome.ok and [r.job for r in outcome.results] == ["import-orders", "push-despatch"]
    assert outcome.results[1].counts == {name: 0 for name in outcome.results[1].counts}
    rows = _rows(
        location,
        "SELECT job, outcome, started_at, finished_at, counts FROM run_log"
        f" WHERE id > {last_id} ORDER BY id",
    )
    assert [(job, result) for job, result, *_ in rows] == [
        ("import-orders", "ok"),
        ("push-despatch", "ok"),
    ]
    (_, _, import_start, import_end, _), (_, _, push_start, push_end, counts) = rows
    assert import_start <= import_end <= push_start <= push_end  # in the order they ran
    assert '"pushed": 0' in counts


def test_a_push_despatch_with_something_to_push_has_its_start_committed_before_it_sends(
    shops,
):
    connections, location, state = shops
    _order_to_push(location, state)
    seen: list[list[tuple]] = []
    state.during_fulfilment = lambda order_id: seen.append(
        _rows(location, "SELECT job, outcome FROM run_log WHERE id = (SELECT max(id) FROM run_log)")
    )

    [outcome] = runner.run_due(connections[:1], location, force=True)

    assert outcome.ok and outcome.results[1].counts["pushed"] == 1
    assert seen == [[("push-despatch", "running")]]  # started, in the store, while it sent


def test_a_one_item_source_starts_no_thread():
    started: list[str] = []
    real_start = threading.Thread.start

    def counting(thread):
        started.append(thread.name)
        real_start(thread)

    threading.Thread.start = counting  # type: ignore[method-assign]
    try:
        with prefetched(iter(["only"]), last=lambda item: True) as items:
            assert list(items) == ["only"]
        with prefetched(iter([]), last=lambda item: True) as items:
            assert list(items) == []
        with prefetched(iter(range(5)), last=lambda item: item == 4) as items:
            assert list(items) == [0, 1, 2, 3, 4]
    finally:
        threading.Thread.start = real_start  # type: ignore[method-assign]
    assert started == ["sqsync-prefetch"]  # the five-item source only


def test_with_last_errors_come_in_place_and_an_early_stop_closes_the_source():
    closed = threading.Event()

    def source():
        try:
            yield 1
            yield 2
            raise LookupError("page 3 failed")
        finally:
            closed.set()

    got = []
    with (
        pytest.raises(LookupError, match="page 3"),
        prefetched(source(), last=lambda i: False) as it,
    ):
        for item in it:
            got.append(item)
    assert got == [1, 2] and closed.is_set()

    closed.clear()
    with prefetched(source(), last=lambda i: True) as it:
        assert next(it) == 1
    assert closed.is_set()  # closed in this thread: it never had a worker


def test_clients_share_one_pool_that_closing_a_client_leaves_open(monkeypatch):
    monkeypatch.setattr(client_module, "_proxied", None)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert client_module.shared_transport() is None  # outside a run: each its own
    closes: list[str] = []
    with client_module.shared_pool():
        one = Client("key", base_url="https://api.example.test")
        two = Client("key2", base_url="https://api.example.test")
        shared = client_module.shared_transport()
        assert shared is not None and one._transport is two._transport is shared
        monkeypatch.setattr(shared, "close_pool", lambda: closes.append("closed"))
        one.close()
        two.close()
        assert closes == []  # the pool stays open for the run's other clients
    assert closes == ["closed"]  # and is closed with the run
    assert client_module.shared_transport() is None


def test_with_a_proxy_each_client_builds_its_own_transport(monkeypatch):
    monkeypatch.setattr(client_module, "_proxied", None)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.test:3128")
    with client_module.shared_pool():
        assert client_module.shared_transport() is None
        one = Client("key", base_url="https://api.example.test")
        two = Client("key2", base_url="https://api.example.test")
        assert one._http._transport is not two._http._transport
        one.close()
        two.close()
    monkeypatch.setattr(client_module, "_proxied", None)


@pytest.mark.skipif(os.environ.get("SQSYNC_TEST_BACKEND") != "postgres", reason="PostgreSQL")
def test_a_quiet_run_takes_the_shared_stores_write_lock_once_not_per_connection(shops, monkeypatch):
    # Hosts sharing the database queue behind its one write lock: a quiet connection's
    # bookkeeping (its lock row, run log, window end, pacing) is its own and skips it.
    from sqsync.store import postgres

    connections, location, _ = shops
    taken: list[str] = []
    real = postgres.PgConnection.execute

    def execute(self, sql, params=()):
        lone_write = postgres.translate(sql)[1] and not self.in_transaction
        if sql == postgres._BEGIN_WRITE or lone_write:
            taken.append(sql)
        return real(self, sql, params)

    monkeypatch.setattr(postgres.PgConnection, "execute", execute)
    outcomes = runner.run_due(connections, location, force=True, workers=2)

    assert all(o.ok and len(o.results) == 2 for o in outcomes)
    assert len(taken) <= 1, taken  # the run log's prune, once for the whole run


@pytest.mark.sqlite_only
def test_a_run_with_nothing_due_reads_each_connections_run_log_once(shops, monkeypatch):
    # Without -v, the "nothing due; next ..." line is not built: it would read it again.
    connections, location, _ = shops
    statements = _trace(monkeypatch)

    outcomes = runner.run_due(connections, location)

    assert all(not o.due for o in outcomes)
    lookups = [s for s in statements if "FROM run_log" in s and s.lstrip().startswith("SELECT")]
    assert len(lookups) <= 3 * SHOPS  # one per job of each connection, not twice that


@pytest.mark.parametrize("collecting", [True, False], ids=["collector on", "start kept it off"])
def test_a_runs_jobs_see_the_start_ups_objects_frozen_and_unfrozen_after(shops, collecting):
    connections, location, _ = shops
    assert gc.get_freeze_count() == 0
    frozen: list[tuple[int, bool]] = []

    def factory(connection, **options):
        frozen.append((gc.get_freeze_count(), gc.isenabled()))
        return runner.make_client(connection, **options)

    if not collecting:
        gc.disable()  # as a program start leaves it (sqsync.__main__)
    try:
        runner.run_due(connections, location, force=True, client_factory=factory)
        after = gc.isenabled()
    finally:
        gc.enable()

    # every import, class and config object of the start-up, untouched by the collector,
    # which is on while the jobs run whatever the start did
    assert len(frozen) == SHOPS and min(count for count, _ in frozen) > 10_000
    assert all(on for _, on in frozen)
    assert gc.get_freeze_count() == 0  # a process that goes on collects them as before
    assert after is collecting
