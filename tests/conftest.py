"""Shared pytest fixtures.

``emulator``: a running Squarespace emulator with a few variants and no orders, rate limit
off; parametrize it indirectly to change that::

    @pytest.mark.parametrize("emulator", [{"rate_limit_per_minute": 5}], indirect=True)

``make_emulator(state=None, *, orders=0, variants=6, seed=1, **emulator_options)``:
more emulators, each stopped after the test.
``emulator_http``: an httpx client for ``emulator`` sending its key and a User-Agent.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sqsync.emulator import Emulator, EmulatorState

MakeEmulator = Callable[..., Emulator]


@pytest.fixture
def make_emulator() -> Iterator[MakeEmulator]:
    started: list[Emulator] = []

    def make(
        state: EmulatorState | None = None,
        *,
        orders: int = 0,
        variants: int = 6,
        seed: int = 1,
        **options: Any,
    ) -> Emulator:
        if state is None:
            state = EmulatorState.generate(orders=orders, variants=variants, seed=seed)
        options.setdefault("rate_limit_per_minute", 0)
        emulator = Emulator(state, **options).start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


@pytest.fixture
def emulator(request: pytest.FixtureRequest, make_emulator: MakeEmulator) -> Emulator:
    return make_emulator(**getattr(request, "param", {}))


@pytest.fixture
def emulator_http(emulator: Emulator) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {emulator.api_key}", "User-Agent": "sqsync-tests/1"}
    with httpx.Client(base_url=emulator.url, headers=headers, timeout=10) as client:
        yield client


# --- The store backend ------------------------------------------------------------------
# `make test` runs the suite twice: on SQLite, then with SQSYNC_TEST_BACKEND=postgres. On
# PostgreSQL every test gets a fresh database cloned from a migrated template, named by
# SQSYNC_STORE_URL (so CLI commands, in this process or a child, use it) and standing in
# for any SQLite path a test opens directly with Store.open. Tests about SQLite itself (its
# file, its query planner, its locks) are marked `sqlite_only` and skipped there.

BACKEND = os.environ.get("SQSYNC_TEST_BACKEND", "sqlite")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: about SQLite itself; skipped on PostgreSQL")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if BACKEND != "postgres":
        return
    skip = pytest.mark.skip(reason="about SQLite itself")
    for item in items:
        if "sqlite_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str | None]:
    if BACKEND != "postgres":
        yield None
        return
    import postgres_server
    from sqsync.store import Store

    url = postgres_server.fresh_database(postgres_server.server_url())
    Store.open(url).close()
    yield url
    for spare in [url, *_spares]:
        postgres_server.drop_database(spare)


@pytest.fixture(autouse=True)
def store_backend(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    postgres_database: str | None,
) -> Iterator[str | None]:
    """The PostgreSQL URL this test's store lives at, or None on SQLite.

    One migrated database per session, emptied before each test (a new database per test
    costs half a second; emptying it, a few milliseconds)."""
    skipped = "sqlite_only" in request.keywords
    if postgres_database is None or skipped:
        yield None
        return

    from sqsync.store import database

    url = postgres_database
    _empty_database(url)
    monkeypatch.setenv("SQSYNC_STORE_URL", url)
    real_open = database.Store.open.__func__  # type: ignore[attr-defined]
    # Each SQLite path a test opens is its own database, as two files are two stores (the
    # fault suite compares a clean shop with a faulty one): the first is the one
    # SQSYNC_STORE_URL names, the next ones come from a pool kept for the session.
    stores: dict[str, str] = {}

    def open_here(cls: type, path: object, *, readonly: bool = False) -> object:
        if isinstance(path, Path) or (isinstance(path, str) and "://" not in path):
            key = str(Path(path).resolve())
            if key not in stores:
                stores[key] = url if not stores else _spare_database(len(stores) - 1)
            path = stores[key]
        return real_open(cls, path, readonly=readonly)

    monkeypatch.setattr(database.Store, "open", classmethod(open_here))
    yield url


_spares: list[str] = []


def _spare_database(n: int) -> str:
    """The ``n``-th extra database of the session, migrated and emptied."""
    import postgres_server
    from sqsync.store import Store

    if n < len(_spares):
        _empty_database(_spares[n])
    else:
        _spares.append(postgres_server.fresh_database(postgres_server.server_url()))
        Store.open(_spares[n]).close()
    return _spares[n]


_EMPTY = """
DO $$
DECLARE t text; s text;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema()
             AND tablename <> 'schema_migrations' LOOP
        EXECUTE format('DELETE FROM %I', t);
    END LOOP;
    FOR s IN SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema() LOOP
        EXECUTE format('ALTER SEQUENCE %I RESTART', s);
    END LOOP;
    INSERT INTO order_change_counter (id, last) VALUES (1, 0);
END
$$;
"""


def _empty_database(url: str) -> None:
    """Every table of the store emptied and its ids restarted, as a fresh store has them
    (other sessions, say of a killed child, are ended first: they could hold locks).
    DELETE, not TRUNCATE: the tables are small, and TRUNCATE makes new files."""
    import psycopg

    from sqsync.store import Store
    from sqsync.store.database import migration_files

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        applied = conn.execute(
            "SELECT CASE WHEN to_regclass('schema_migrations') IS NOT NULL"
            " THEN (SELECT count(*) FROM schema_migrations) END"
        ).fetchone()
        if applied is None or applied[0] != len(migration_files()):
            # A test rewrote the schema (an old store, a migration of its own): start over.
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
            Store.open(url).close()
            return
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")  # no FK checks
            conn.execute(_EMPTY)
