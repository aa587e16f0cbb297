"""prefetched(): the next item made in a worker thread, in order, errors in place, bounded,
and the worker gone when the caller stops early."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from sqsync.prefetch import prefetched

WAIT_S = 10  # an upper bound for an event that comes at once; never reached when passing


def workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sqsync-prefetch"]


def test_items_come_in_order_and_all_of_them():
    with prefetched(iter(range(500))) as items:
        assert list(items) == list(range(500))
    assert workers() == []


def test_an_error_is_raised_after_the_items_before_it():
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise LookupError("page 3 failed")

    seen = []
    with pytest.raises(LookupError, match="page 3 failed"), prefetched(source()) as items:
        for item in items:
            seen.append(item)
    assert seen == [1, 2]
    assert workers() == []


def test_the_worker_stays_at_most_one_item_ahead_of_a_queued_one():
    made: list[int] = []
    third_made = threading.Event()

    def source() -> Iterator[int]:
        for n in range(1, 11):
            made.append(n)
            if n == 3:
                third_made.set()
            yield n

    with prefetched(source(), ahead=1) as items:
        assert next(items) == 1
        # Item 2 waits in the queue, item 3 waits to be queued: nothing more is made.
        assert third_made.wait(WAIT_S)
        assert made == [1, 2, 3]
        assert list(items) == list(range(2, 11))


def test_stopping_early_closes_the_source_in_its_thread_and_ends_the_worker():
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            n = 0
            while True:
                n += 1
                yield n
        finally:
            closed.set()

    with pytest.raises(RuntimeError, match="store failed"), prefetched(source()) as items:
        for item in items:
            if item == 3:
                raise RuntimeError("store failed")
    assert closed.is_set()
    assert workers() == []


def test_ahead_must_be_positive():
    with pytest.raises(ValueError, match="ahead"), prefetched(iter(()), ahead=0):
        pass


def test_ctrl_c_does_not_wait_for_an_item_in_the_making():
    release = threading.Event()

    def source() -> Iterator[int]:
        yield 1
        release.wait(WAIT_S)  # a request in flight, answered only after the test looked
        yield 2

    with pytest.raises(KeyboardInterrupt), prefetched(source()) as items:
        next(items)
        raise KeyboardInterrupt
    stuck = workers()
    release.set()
    assert len(stuck) == 1  # left to finish on its own, as a daemon
    assert stuck[0].daemon
    stuck[0].join(WAIT_S)


def test_a_source_that_cannot_start_is_raised_not_hung():
    class Broken:
        def __iter__(self):
            raise OSError("cannot open the first page")

    with pytest.raises(OSError, match="first page"), prefetched(Broken()) as items:
        list(items)
    assert workers() == []
