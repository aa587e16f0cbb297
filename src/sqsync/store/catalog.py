"""Clients, warehouses, channels and products: the codes everything else refers to.

``ensure_*`` helpers create a row on first use and return its id; they are idempotent, so
an import can call them for every order without checking first.
"""

from __future__ import annotations

import sqlite3

from sqsync.store.database import Store, connection_of, now_text

Db = Store | sqlite3.Connection

# table -> its code column; the only tables ensure/lookup may touch (names are not user input).
_CODE_COLUMN = {"clients": "code", "warehouses": "code", "channels": "name"}


def _ensure(db: Db, table: str, code: str) -> int:
    # Read first: the row nearly always exists, and every statement is a round trip on
    # PostgreSQL (a count of 20,000 SKUs ensures its client and warehouse 20,000 times).
    found = _lookup(db, table, code)
    if found is not None:
        return found
    column = _CODE_COLUMN[table]
    conn = connection_of(db)
    conn.execute(f"INSERT INTO {table} ({column}) VALUES (?) ON CONFLICT DO NOTHING", (code,))
    row = conn.execute(f"SELECT id FROM {table} WHERE {column} = ?", (code,)).fetchone()
    return int(row[0])


def _lookup(db: Db, table: str, code: str) -> int | None:
    column = _CODE_COLUMN[table]
    row = connection_of(db).execute(f"SELECT id FROM {table} WHERE {column} = ?", (code,))
    found = row.fetchone()
    return int(found[0]) if found else None


def ensure_client(db: Db, code: str) -> int:
    return _ensure(db, "clients", code)


def ensure_warehouse(db: Db, code: str) -> int:
    return _ensure(db, "warehouses", code)


def ensure_channel(db: Db, name: str) -> int:
    return _ensure(db, "channels", name)


def ensure_ids(db: Db, client: str, warehouse: str, channel: str) -> tuple[int, int, int]:
    """(client_id, warehouse_id, channel_id) for a connection's codes, created if new."""
    return ensure_client(db, client), ensure_warehouse(db, warehouse), ensure_channel(db, channel)


def existing_ids(db: Db, client: str, warehouse: str, channel: str) -> tuple[int, int, int] | None:
    """(client_id, warehouse_id, channel_id) when all three exist, in one read; else None."""
    row = (
        connection_of(db)
        .execute(
            "SELECT (SELECT id FROM clients WHERE code = ?),"
            " (SELECT id FROM warehouses WHERE code = ?), (SELECT id FROM channels WHERE name = ?)",
            (client, warehouse, channel),
        )
        .fetchone()
    )
    if row is None or None in tuple(row):
        return None
    return int(row[0]), int(row[1]), int(row[2])


def client_id(db: Db, code: str) -> int | None:
    return _lookup(db, "clients", code)


def warehouse_id(db: Db, code: str) -> int | None:
    return _lookup(db, "warehouses", code)


def client_codes(db: Db) -> list[str]:
    return [r[0] for r in connection_of(db).execute("SELECT code FROM clients ORDER BY code")]


def warehouse_codes(db: Db) -> list[str]:
    return [r[0] for r in connection_of(db).execute("SELECT code FROM warehouses ORDER BY code")]


def ensure_product(db: Db, client_id: int, sku: str, name: str | None = None) -> int:
    """The product id of ``sku`` for the client, created if new (a name fills a missing one)."""
    conn = connection_of(db)
    row = conn.execute(
        "SELECT id, name FROM products WHERE client_id = ? AND sku = ?", (client_id, sku)
    ).fetchone()
    if row is not None and (name is None or row[1] is not None):
        return int(row[0])  # nothing to write: read first, as _ensure does
    conn.execute(
        "INSERT INTO products (client_id, sku, name, created_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (client_id, sku) DO UPDATE SET name = coalesce(products.name, excluded.name)",
        (client_id, sku, name, now_text()),
    )
    row = conn.execute(
        "SELECT id FROM products WHERE client_id = ? AND sku = ?", (client_id, sku)
    ).fetchone()
    return int(row[0])


def known_skus(db: Db, client_id: int) -> set[str]:
    """Every SKU the warehouse knows for the client (one query, for mapping a whole page)."""
    rows = connection_of(db).execute("SELECT sku FROM products WHERE client_id = ?", (client_id,))
    return {r[0] for r in rows}
