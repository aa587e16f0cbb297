"""Read an iterator one item ahead in a background thread.

import-orders spends its time in two halves that need not wait for each other: fetching
and validating the next page of orders (mostly waiting on the network), and writing the
current page to the store (mostly SQLite, which releases the GIL). :func:`prefetched`
overlaps them: while the caller works on item N, a worker thread produces item N+1.

Order and errors are kept: items come out in the order the source yields them, and an
exception the source raises is raised to the caller at the point it would have been
without the thread, after every item before it. At most ``ahead`` items wait in the
queue, so memory stays bounded (import holds at most three pages).

When the caller stops early (an exception, ``break``), the context manager tells the
worker to stop and waits for it: the worker finishes the item it is producing (for import,
one GET, bounded by the client's timeout), then closes the source in its own thread. On
Ctrl-C it does not wait. Nothing a worker produces is ever a write, so an item made and
not used is only wasted.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

_POLL_S = 0.1  # how often a blocked worker looks for the stop signal


_NONE = object()  # no first item


class _End:
    """Put by the worker after the last item, carrying the source's exception if any."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


@contextmanager
def prefetched(
    source: Iterable[T], *, ahead: int = 1, last: Callable[[T], bool] | None = None
) -> Iterator[Iterator[T]]:
    """``with prefetched(pages) as it: for page in it: ...``, with the next item made
    in a worker thread while the caller handles this one.

    With ``last`` (true for an item that says nothing follows it, as a page without a next
    page does) the first item is made in the caller's thread, which waits for it anyway,
    and the worker starts only when more follow: a one-page import (the usual quiet run)
    starts no thread.
    """
    if ahead < 1:
        raise ValueError("ahead must be at least 1")
    box: queue.Queue[object] = queue.Queue(maxsize=ahead)
    stop = threading.Event()
    worker: threading.Thread | None = None
    # The iterator while this thread owns it (``last`` given, no worker yet), to close.
    owned: list[Iterator[T]] = []

    def offer(item: object) -> bool:
        """Queue ``item`` unless told to stop; True when it was queued."""
        while not stop.is_set():
            try:
                box.put(item, timeout=_POLL_S)
            except queue.Full:
                continue
            return True
        return False

    def work(rest: Iterable[T]) -> None:
        iterator: Iterator[T] | None = None
        try:
            iterator = iter(rest)
            for item in iterator:
                if not offer(item):
                    return
        except BaseException as error:  # handed to the caller, raised there
            offer(_End(error))
            return
        finally:
            close = getattr(iterator, "close", None)  # None before iter() succeeded
            if close is not None:
                close()
        offer(_End())

    def start(rest: Iterable[T]) -> None:
        nonlocal worker
        worker = threading.Thread(target=work, args=(rest,), name="sqsync-prefetch", daemon=True)
        worker.start()

    def queued() -> Generator[T, None, None]:
        while True:
            item = box.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item  # type: ignore[misc]

    def leading(check: Callable[[T], bool]) -> Generator[T, None, None]:
        iterator = iter(source)
        owned.append(iterator)
        first = next(iterator, _NONE)
        if first is _NONE:
            return
        if check(first):  # type: ignore[arg-type]
            yield first  # type: ignore[misc]
            yield from iterator  # nothing is expected: no thread for it
            return
        owned.clear()  # the worker owns (and closes) it from here
        start(iterator)  # item 2 is made while the caller handles item 1
        yield first  # type: ignore[misc]
        yield from queued()

    if last is None:
        start(source)
        stream = queued()
    else:
        stream = leading(last)
    try:
        yield stream
    finally:
        stop.set()
        interrupted = isinstance(sys.exception(), KeyboardInterrupt | SystemExit)
        if worker is None or not interrupted:
            stream.close()
        for iterator in owned:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
        # Ctrl-C or an exit: the process is ending, so do not wait out a request in flight
        # (the daemon thread ends with the process; an unused GET changes nothing).
        if worker is not None and not interrupted:
            worker.join()
