"""Test helpers shared by every part's tests: a valid config file and seeded store rows.

    path = write_config(tmp_path, api_url=emu.url, api_key_env="ACME_KEY")
    store = Store.open(load_config(path).store_path)
    order_id = insert_order(store, order_number="SQ-1001", items=[("RED-S", 2)])

Orders are inserted with plain SQL so tests of listing, stock and despatch do not depend
on the import job.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from itertools import count
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from sqsync.store import Store, now_text
from sqsync.store.catalog import ensure_ids, ensure_product

DEFAULT_CONNECTION: dict[str, Any] = {
    "name": "acme",
    "client": "ACME",
    "warehouse": "MAIN",
    "api_url": "http://127.0.0.1:9",
    "api_key_env": "ACME_KEY",
}
_ids = count(1)


def toml_value(value: Any) -> str:
    """Just enough TOML for config files: strings, numbers, bools, times, lists, tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Sequence):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def config_text(
    connections: Iterable[Mapping[str, Any]],
    *,
    store_path: str = "sqsync.db",
    shipping_zones: Mapping[str, Sequence[str]] | None = None,
) -> str:
    lines = ["[store]", f"path = {toml_value(store_path)}", ""]
    if shipping_zones:
        lines.append("[shipping_zones]")
        lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in shipping_zones.items()]
        lines.append("")
    for connection in connections:
        lines.append("[[connections]]")
        lines += [f"{key} = {toml_value(value)}" for key, value in connection.items()]
        lines.append("")
    return "\n".join(lines)


def write_config(
    tmp_path: Path,
    *,
    connections: Sequence[Mapping[str, Any]] | None = None,
    store_path: str = "sqsync.db",
    shipping_zones: Mapping[str, Sequence[str]] | None = None,
    filename: str = "sqsync.toml",
    own_keys: bool = True,
    **overrides: Any,
) -> Path:
    """Write a valid config to ``tmp_path/filename`` (mode 600) and return its path.

    Keyword overrides change the single default connection (``api_url=emu.url``); a value of
    None removes that key. ``connections`` replaces the connection list entirely.
    """
    if connections is None:
        merged = {**DEFAULT_CONNECTION, **overrides}
        other_source = "api_key" in overrides or "api_key_file" in overrides
        if other_source and "api_key_env" not in overrides:
            merged.pop("api_key_env")
        connections = [{k: v for k, v in merged.items() if v is not None}]
    if own_keys:
        connections = _own_key_sources(connections)
    path = tmp_path / filename
    path.write_text(
        config_text(connections, store_path=store_path, shipping_zones=shipping_zones),
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


def _own_key_sources(connections: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One Squarespace site is one connection, so each needs its own key: a connection
    copied from another that would read the same variable reads ``<NAME>_KEY`` instead
    (set it, with a key of its own, when the test talks to Squarespace)."""
    seen: set[str] = set()
    result = []
    for index, connection in enumerate(connections):
        copy = dict(connection)
        env = copy.get("api_key_env")
        if env is not None and env in seen:
            name = str(copy.get("name", f"CONNECTION{index + 1}"))
            copy["api_key_env"] = f"{name.upper().replace('-', '_')}_KEY"
        if env is not None:
            seen.add(copy["api_key_env"])
        result.append(copy)
    return result


def insert_order(
    store: Store,
    *,
    connection: str = "acme",
    client: str = "ACME",
    warehouse: str = "MAIN",
    channel: str = "Squarespace",
    order_number: str | None = None,
    squarespace_id: str | None = None,
    status: str = "NEW",
    problems: Sequence[str] = (),
    items: Sequence[tuple[str, int] | Mapping[str, Any]] = (("RED-S", 1),),
    known_skus: bool = True,
    **columns: Any,
) -> int:
    """Insert one order (and its items) with SQL; return its id.

    ``items`` are ``(sku, quantity)`` pairs or dicts of order_items columns. Extra keyword
    arguments set orders columns (first_name="Ada", total="18.50", ...). With ``known_skus``
    the items' SKUs are registered as products of the client.
    """
    number = next(_ids)
    now = now_text()
    with store.transaction() as conn:
        client_id, warehouse_id, channel_id = ensure_ids(conn, client, warehouse, channel)
        row = {
            "connection": connection,
            "client_id": client_id,
            "warehouse_id": warehouse_id,
            "channel_id": channel_id,
            "order_number": order_number or f"SQ-{1000 + number}",
            "squarespace_id": squarespace_id or f"sq-order-{number:06d}",
            "status": status,
            "problems": json.dumps(list(problems)),
            "customer_email": f"customer{number}@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "address1": "1 Example Street",
            "city": "London",
            "postal_code": "N1 1AA",
            "country_code": "GB",
            "currency": "GBP",
            "total": "18.50",
            "sq_created_on": now,
            "sq_modified_on": now,
            "imported_at": now,
            "updated_at": now,
            **columns,
        }
        order_id = insert_row(conn, "orders", row)
        for index, item in enumerate(items, start=1):
            fields = {"sku": item[0], "quantity": item[1]} if isinstance(item, tuple) else item
            fields = {
                "line_id": f"line-{number}-{index}",
                "name": fields["sku"],
                "unit_price": "9.25",
                **fields,
                "order_id": order_id,
            }
            if known_skus:
                ensure_product(conn, client_id, fields["sku"])
            insert_row(conn, "order_items", fields)
    return order_id


def insert_shipment(store: Store, order_id: int, **columns: Any) -> int:
    """Insert one shipment for an order with SQL; return its id."""
    row = {
        "order_id": order_id,
        "carrier": "Royal Mail",
        "service": "Tracked 48",
        "tracking_number": f"RM{next(_ids):09d}GB",
        "tracking_url": None,
        "shipped_at": now_text(),
        "created_at": now_text(),
        **columns,
    }
    with store.transaction() as conn:
        return insert_row(conn, "shipments", row)


def insert_row(conn: sqlite3.Connection, table: str, row: Mapping[str, Any]) -> int:
    """INSERT one row given as a dict; return its rowid."""
    names = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    cursor = conn.execute(
        f"INSERT INTO {table} ({names}) VALUES ({marks}) RETURNING id", list(row.values())
    )
    return int(cursor.fetchone()[0])


def _integrity_errors() -> tuple[type[Exception], ...]:
    try:
        import psycopg
    except ImportError:
        return (sqlite3.IntegrityError,)
    return (sqlite3.IntegrityError, psycopg.IntegrityError)


# What a constraint the schema enforces raises, on either backend.
IntegrityError = _integrity_errors()


class FactoryRunner(CliRunner):
    """click's CliRunner whose commands make every Squarespace client with ``client_factory``
    (a no-sleep client, a mock transport), passed in as the CLI's context object."""

    def __init__(self, client_factory: Any) -> None:
        super().__init__()
        self.client_factory = client_factory

    def invoke(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs.setdefault("obj", {"client_factory": self.client_factory})
        return super().invoke(*args, **kwargs)


def record_import(store: Store, connection: str = "acme", outcome: str = "ok") -> None:
    """Note a finished import-orders run: a stock sync waits for a connection's first
    successful import (before it, open orders allocate nothing yet)."""
    from sqsync.store.runlog import finish_run, start_run

    with store.transaction() as conn:
        finish_run(conn, start_run(conn, connection, "import-orders"), outcome=outcome)


def table_names(store: Store) -> list[str]:
    """The store's tables (migrations' bookkeeping left out), on either backend."""
    if store.dialect == "postgresql":
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'"
    return sorted(row[0] for row in store.conn.execute(sql))


def count_in_bulk(store: Store, client: str, warehouse: str, on_hand: Mapping[str, int]) -> None:
    """Counted stock for many SKUs at once, for tests that need volume: a statement per
    table for them all instead of a count's round trips per SKU (no movements: their
    history is not what those tests are about)."""
    from sqsync.store.stock import set_on_hand

    (first, quantity), *rest = on_hand.items()
    at = "2026-12-01T00:00:00.000Z"
    with store.transaction() as conn:
        set_on_hand(conn, client, warehouse, first, quantity)  # its client and warehouse
        client_id, warehouse_id = conn.execute(
            "SELECT client_id, warehouse_id FROM stock_levels WHERE sku = ?", (first,)
        ).fetchone()
        conn.executemany(
            "INSERT INTO products (client_id, sku, created_at) VALUES (?, ?, ?)",
            [(client_id, sku, at) for sku, _ in rest],
        )
        conn.executemany(
            "INSERT INTO stock_levels (client_id, warehouse_id, sku, on_hand, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [(client_id, warehouse_id, sku, n, at) for sku, n in rest],
        )


def sqsync_process(env: Mapping[str, str], *args: str, input: str | None = None) -> str:
    """``sqsync *args`` as a process of its own (a host, a cron tick); its stdout, once it
    has exited 0."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "sqsync", *args],
        input=input,
        env=dict(env),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def shops_with_orders(
    make_emulator: Any, shops: int, **connection: Any
) -> tuple[list[Any], list[dict[str, Any]]]:
    """``shops`` emulated shops, each with two valid orders (PAID, PENDING, one physical
    line each: every one must be imported exactly once), and their connections
    (``shop<n>``, client ``C<n>``, key in ``SHOP<n>_KEY``, plus ``connection``'s settings)."""
    emulators = [make_emulator(orders=0, variants=2, seed=n + 1) for n in range(shops)]
    for shop in emulators:
        for variant in list(shop.inventory.values()):
            shop.state.place_order(variant["sku"])
    connections = [
        {
            "name": f"shop{n}",
            "client": f"C{n}",
            "warehouse": "MAIN",
            "order_prefix": f"S{n}-",
            "api_url": shop.url,
            "api_key_env": f"SHOP{n}_KEY",
            **connection,
        }
        for n, shop in enumerate(emulators)
    ]
    return emulators, connections
