"""Fault suite: with 10% of requests failing, every job ends where a fault-free run ends.

Two copies of the same seeded shop; one runs each job against a clean emulator, the other
against an emulator failing a seeded 10% of requests (500, 503, 429 and dropped
connections, half of the failed POSTs after the change was made). The client's sleep is a
no-op, so retries cost no time. A job may need several runs to converge (a 5xx on a
fulfilment is an unknown outcome, verified on the next run), so each runs until a run
reports nothing left, bounded. Then the store contents and the emulator's shop are
compared, and the crash suite's exactly-once checks are applied to the faulty copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sqsync.emulator import Faults
from sqsync.store import Store
from test_crash_suite import JOBS, Shop, check, make_shop, stored_orders

FAULT_KINDS = ("500", "503", "429", "drop")
SEEDS = range(2)
# Larger shops than the crash suite: dozens of requests, so 10% makes several faults.
SCALE = {"import-orders": 8, "sync-stock": 4, "push-despatch": 4}


def shipments(store_path: Path) -> list[tuple[Any, ...]]:
    store = Store.open(store_path)
    try:
        rows = store.conn.execute(
            "SELECT o.squarespace_id, o.status, s.carrier, s.tracking_number, s.push_state"
            " FROM shipments s JOIN orders o ON o.id = s.order_id"
        )
        return sorted((tuple(row) for row in rows), key=repr)
    finally:
        store.close()


def fulfilments(shop: Shop) -> dict[str, tuple[str, list[str | None]]]:
    return {
        oid: (o["fulfillmentStatus"], [f.get("trackingNumber") for f in o["fulfillments"] or []])
        for oid, o in shop.emu.orders.items()
    }


def end_state(shop: Shop, job: str) -> Any:
    """What a job's run leaves behind, in the store and in Squarespace."""
    if job == "import-orders":
        return stored_orders(shop.store_path)
    if job == "sync-stock":
        return {vid: item["quantity"] for vid, item in shop.emu.inventory.items()}
    return shipments(shop.store_path), fulfilments(shop)


def build(folder: Path, job: str, seed: int, make_emulator: Any) -> Shop:
    folder.mkdir()
    return make_shop(folder, job, seed, make_emulator, scale=SCALE[job])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("job", JOBS)
def test_faults_change_nothing_but_the_request_count(
    tmp_path: Path, make_emulator: Any, job: str, seed: int
) -> None:
    clean = build(tmp_path / "clean", job, seed, make_emulator)
    faulty = build(tmp_path / "faulty", job, seed, make_emulator)
    initial = faulty.emu.inventory
    assert initial == clean.emu.inventory  # the same shop

    clean.run_to_completion(job)
    faulty.emu.set_fault_rate(0.10, seed=7919 * (seed + 1), kinds=FAULT_KINDS)
    faulty.run_to_completion(job)
    faulty.emu.faults.clear()

    assert faulty.emu.stats.faults_injected > 0, "no fault was injected: the test proves nothing"
    assert end_state(faulty, job) == end_state(clean, job)
    check(faulty, job, initial)
    # Nothing is left for a further run either.
    again = faulty.run(job)
    assert again.ok
    assert not again.counts.get("imported") and not again.counts.get("adjusted")
    assert not again.counts.get("pushed") and not again.counts.get("verified")


@pytest.mark.long
@pytest.mark.parametrize("seed", range(2, 22))
@pytest.mark.parametrize("job", JOBS)
def test_faults_change_nothing_long(
    tmp_path: Path, make_emulator: Any, job: str, seed: int
) -> None:
    test_faults_change_nothing_but_the_request_count(tmp_path, make_emulator, job, seed)


def test_random_faults_never_answer_429_after_applying() -> None:
    faults = Faults()
    faults.set_rate(1.0, seed=1, kinds=("429",))
    drawn = [faults.take("POST", "/1.0/commerce/orders/x/fulfillments") for _ in range(50)]
    assert not [fault for fault in drawn if fault is not None and fault.after_apply]
