"""The adjustment journal and the job's recovery from it: pruning, abandoning batches whose
key may have expired, refusals that must not wedge a connection, and 409s by subtype."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sqsync.config import load_config
from sqsync.emulator import EmulatorState
from sqsync.jobs.sync_stock import KEY_LIFETIME, PRUNE_AFTER, sync_stock
from sqsync.squarespace import Client
from sqsync.store import Store, adjustments
from sqsync.store.locks import LockLost
from test_sync_stock_e2e import Shop, no_wait_client

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "journal.db") as store:
        yield store


def test_a_batch_is_committed_pending_with_a_fresh_key(store):
    first = adjustments.record(store, "acme", [("v1", 3)], [("v2", 1)], now=NOW)
    second = adjustments.record(store, "acme", [("v1", 3)], [], now=NOW)

    assert not store.conn.in_transaction
    assert first.idempotency_key != second.idempotency_key
    assert adjustments.pending(store, "acme") == [first, second]
    assert adjustments.pending(store, "other") == []
    with pytest.raises(ValueError, match="at least one operation"):
        adjustments.record(store, "acme", [], [], now=NOW)
    with pytest.raises(ValueError, match="state"):
        adjustments.mark(store, first.id, "pending", now=NOW)


def test_prune_removes_only_old_finished_batches(store):
    old_applied = adjustments.record(store, "acme", [("v1", 1)], [], now=NOW)
    old_pending = adjustments.record(store, "acme", [("v2", 1)], [], now=NOW)
    recent = adjustments.record(store, "acme", [("v3", 1)], [], now=NOW)
    adjustments.mark(store, old_applied.id, "applied", now=NOW - PRUNE_AFTER * 2)
    adjustments.mark(store, recent.id, "applied", now=NOW)

    assert adjustments.prune(store, before=NOW - PRUNE_AFTER) == 1
    assert [e.id for e in adjustments.entries(store)] == [old_pending.id, recent.id]


# -- recovery in the job -----------------------------------------------------------------


@pytest.fixture
def shop(make_emulator, tmp_path, monkeypatch):
    emu = make_emulator(EmulatorState())
    monkeypatch.setenv("ACME_KEY", emu.api_key)
    return Shop(emu, tmp_path)


def run(shop: Shop, *, clock=lambda: NOW, dry_run: bool = False, client: Client | None = None):
    connection = load_config(shop.config).connections[0]
    with Store.open(shop.store_path) as store:
        return sync_stock(
            client or no_wait_client(connection),
            store,
            connection,
            dry_run=dry_run,
            clock=clock,
        )


def journal_batch(shop: Shop, increments, *, now=NOW) -> adjustments.JournalEntry:
    with Store.open(shop.store_path) as store:
        return adjustments.record(store, "acme", increments, [], now=now)


def test_a_pending_batch_older_than_the_key_lifetime_is_abandoned_not_resent(shop):
    shop.stock("RED-S", 5)
    red = shop.variant("RED-S", 1)
    journal_batch(shop, [(red, 4)], now=NOW - KEY_LIFETIME - timedelta(minutes=1))

    result = run(shop)

    assert result.ok and result.counts["resent"] == 0
    assert shop.qty(red) == 5 and shop.posts() == 1  # the fresh plan, not the old batch
    assert [e.state for e in shop.journal()] == ["abandoned", "applied"]


def test_a_dry_run_neither_resends_nor_journals(shop):
    shop.stock("RED-S", 5)
    red = shop.variant("RED-S", 1)
    journal_batch(shop, [(red, 4)])

    result = run(shop, dry_run=True)

    assert result.details["planned"] == [
        {"sku": "RED-S", "variant_id": red, "from": 1, "to": 5, "rule": "available"}
    ]
    assert shop.posts() == 0 and [e.state for e in shop.journal()] == ["pending"]


def test_a_resent_batch_refused_as_invalid_is_superseded_and_does_not_wedge_the_connection(
    shop,
):
    shop.stock("RED-S", 5)
    red = shop.variant("RED-S", 1)
    journal_batch(shop, [("deleted-variant", 2)])  # Squarespace answers 400: unknown variant

    result = run(shop)

    # A 400 is a final answer: nothing of that batch was applied, so it is superseded by
    # this run's fresh read and plan (which no longer sees the deleted variant), never
    # resent; the connection goes on and is not left failing for it.
    assert result.ok, result.error
    assert result.counts["adjusted"] == 1 and result.counts["resent"] == 0
    assert shop.qty(red) == 5
    assert [e.state for e in shop.journal()] == ["superseded", "applied"]

    again = run(shop)

    assert again.ok, again.error
    assert again.counts["failed"] == 0 and shop.posts() == 2


def test_a_409_a_reread_cannot_fix_is_failed_without_a_reread(shop):
    shop.stock("RED-S", 5)
    red = shop.variant("RED-S", 1)
    shop.emu.set_stock(red, 999_999_990)  # the increment would pass Squarespace's maximum
    shop.stock("RED-S", 1_000_000_000)

    result = run(shop)

    assert not result.ok and "STOCK_EXCEEDS_MAX" in (result.error or "")
    assert result.counts["failed"] == 1 and shop.posts() == 1
    assert shop.emu.stats.count("GET", "/1.0/commerce/inventory/{ids}") == 0
    assert [e.state for e in shop.journal()] == ["failed"]


def test_concurrent_modification_keeps_the_batch_pending_under_its_key_until_answered(shop):
    """Issue 13: a 409 CONCURRENT_MODIFICATION after the client's same-key retries means
    our own attempt may still be applying. The batch stays pending under that key and its
    variant is not planned again under a new one (which would apply the change twice once
    the first lands); the next run resends the same key and only a final answer settles
    it. Replaces the test that asserted a re-plan under a new key."""
    shop.stock("RED-S", 5)
    sent: list[tuple[str, dict]] = []
    busy = {"on": True}
    applied: set[str] = set()
    quantity = {"v1": 1}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path == "/1.0/commerce/orders":
            return httpx.Response(200, json={"result": [], "pagination": {"hasNextPage": False}})
        if request.method == "GET":
            page = {"inventory": [{"variantId": "v1", "sku": "RED-S", "quantity": quantity["v1"]}]}
            return httpx.Response(200, json={**page, "pagination": {"hasNextPage": False}})
        key, body = request.headers["Idempotency-Key"], json.loads(request.content)
        sent.append((key, body))
        if busy["on"]:  # the first attempt is still being applied
            envelope = {"type": "CONFLICT", "subtype": "CONCURRENT_MODIFICATION", "message": "busy"}
            return httpx.Response(409, json=envelope)
        if key not in applied:  # the slow first attempt lands (once per key)
            applied.add(key)
            quantity["v1"] += body["incrementOperations"][0]["quantity"]
        return httpx.Response(204)

    def client() -> Client:
        return Client(
            "k",
            base_url="http://sq.test",
            transport=httpx.MockTransport(handler),
            max_attempts=2,
            sleep=lambda seconds: None,
        )

    first = run(shop, client=client())

    assert not first.ok and "CONCURRENT_MODIFICATION" in (first.error or "")
    assert first.counts["in_flight"] == 1 and first.counts["adjusted"] == 0
    (key1, body1), (retried, _) = sent
    assert retried == key1 and body1 == {
        "incrementOperations": [{"variantId": "v1", "quantity": 4}]
    }
    assert [(e.state, e.idempotency_key) for e in shop.journal()] == [("pending", key1)]

    # Still applying at the next run: still the same key, still nothing re-planned.
    second = run(shop, client=client())
    assert not second.ok and {key for key, _ in sent} == {key1}
    assert second.counts["in_flight"] == 1 and [e.state for e in shop.journal()] == ["pending"]

    busy["on"] = False
    third = run(shop, client=client())

    assert third.ok, third.error
    assert third.counts["resent"] == 1 and {key for key, _ in sent} == {key1}
    assert quantity["v1"] == 5  # 1 + 4, once: never 9
    assert [(e.state, e.idempotency_key) for e in shop.journal()] == [("applied", key1)]


def test_a_lapsed_lock_stops_the_job_before_its_next_batch(shop):
    # Two batches' worth of changes; the lease lapses after the first is sent. The second
    # must not be sent alongside whichever process now holds the connection.
    shop.stocks({f"SKU-{n}": 5 for n in range(60)})
    for n in range(60):
        shop.variant(f"SKU-{n}", 1)
    connection = load_config(shop.config).connections[0]

    def guard():
        if shop.posts() >= 1:
            raise LockLost("connection acme: the lock expired")

    with Store.open(shop.store_path) as store, pytest.raises(LockLost):
        sync_stock(no_wait_client(connection), store, connection, clock=lambda: NOW, guard=guard)

    assert shop.posts() == 1
    assert [e.state for e in shop.journal()] == ["applied"]  # nothing journalled unsent
