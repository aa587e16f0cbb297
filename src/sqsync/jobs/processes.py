"""Share a run's connections among worker processes, each working with its own threads.

One Python process runs its threads on one core (the GIL): a ``run`` over hundreds of
connections is bound by that core long before the network is the limit
(``bench/bench_run_many.py``: 200 quiet connections at 50 ms a request, 1.0 s of CPU for
their jobs in 1.0 s, 16 threads or 32). So on Linux ``run`` forks. Each child takes
connections one at a time from a pipe the parent fills (a slow connection holds up no
other), works on them with its threads as a single process would (its own store
connections, clients and connection locks), and sends its results back on a pipe of its
own once the work pipe is empty.

Fork, not spawn: a child starts with sqsync imported and the config parsed (most of a
start's 0.3 s), and costs a few milliseconds. The parent forks before it starts any thread
and after closing its store connection: an SQLite connection must not cross a fork (the
child would inherit the parent's idea of which file locks it holds) and a PostgreSQL
session belongs to one process.

A child dies with its parent (``PR_SET_PDEATHSIG``), so killing ``sqsync run`` kills its
workers, as killing a threaded run kills its threads. A child that dies leaves its
connections unfinished: the parent reports them as failed, and their locks are released
as any dead holder's are (see :mod:`sqsync.store.locks`), for the next run to finish.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import selectors
import signal
import struct
import sys
import threading
from collections.abc import Callable, Sequence
from typing import NoReturn, TypeVar

log = logging.getLogger("sqsync.jobs")

T = TypeVar("T")
R = TypeVar("R")

# A task is the index of an item: written and read whole (far below PIPE_BUF, so a write
# is atomic and a read never gets part of one), by every thread of every child.
_TASK = struct.Struct("=I")
_LENGTH = struct.Struct("=I")  # before each pickled report
_PR_SET_PDEATHSIG = 1


def can_fork() -> bool:
    """Worker processes are Linux only: fork, and a child that dies with its parent."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def cores() -> int:
    """The cores this process may run on (its affinity, e.g. under ``taskset``)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def share_out(
    items: Sequence[T],
    processes: int,
    work: Callable[[Callable[[], T | None], Callable[[str, R], None], int], None],
) -> tuple[dict[str, R], list[str]]:
    """Run ``work(take, report, number)`` in ``processes`` forked children (``number``
    0, 1, ... says which one); merge what they report.

    ``take()`` gives a child its next item, or None when every item has been taken;
    ``report(name, result)`` sends one result to the parent as soon as it is known (from
    any thread of the child), so a child that dies later loses none already reported.
    Returns the results by name and, for each child that died, why (e.g. ``"worker
    process 4242 was killed by SIGKILL"``): the items missing from the results are the
    ones such a child was working on, or that nobody had taken.
    """
    parent = os.getpid()
    prctl = _prctl()
    tasks_in, tasks_out = os.pipe()
    children: dict[int, int] = {}  # results pipe -> pid
    for number in range(processes):
        results_in, results_out = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(results_in)
            os.close(results_out)
            if children:  # fewer workers, not none
                log.warning("worker processes: cannot fork more than %d", len(children))
                break
            os.close(tasks_in)
            os.close(tasks_out)
            raise
        if pid == 0:
            os.close(tasks_out)  # or the children never see the work pipe end
            os.close(results_in)
            for earlier in children:
                os.close(earlier)
            _child(parent, prctl, items, tasks_in, results_out, number, work)
        os.close(results_out)
        children[results_in] = pid
    os.close(tasks_in)
    try:
        for index in range(len(items)):
            os.write(tasks_out, _TASK.pack(index))
    except BrokenPipeError:  # every child died: what nobody took is reported unfinished
        pass
    finally:
        os.close(tasks_out)
    done: dict[str, R] = {}
    ended = _read_reports(list(children), done)
    dead = []
    for results_in, pid in children.items():
        _, status = os.waitpid(pid, 0)
        if not ended[results_in] or status != 0:
            dead.append(f"worker process {pid} {_ended(status)}")
    return done, dead


def _read_reports(pipes: list[int], done: dict[str, R]) -> dict[int, bool]:
    """Read every child's reports into ``done`` until each pipe closes, all at once (a
    child blocked on a full pipe must not wait for another to finish). Returns, per
    pipe, whether its child said it was done (its last record) before closing."""
    buffers = {pipe: b"" for pipe in pipes}
    ended = dict.fromkeys(pipes, False)
    with selectors.DefaultSelector() as waiting:
        for pipe in pipes:
            waiting.register(pipe, selectors.EVENT_READ)
        while buffers:
            for key, _ in waiting.select():
                pipe = int(key.fd)
                chunk = os.read(pipe, 65536)
                if not chunk:
                    waiting.unregister(pipe)
                    os.close(pipe)
                    del buffers[pipe]
                    continue
                data = buffers[pipe] + chunk
                while len(data) >= _LENGTH.size:
                    (length,) = _LENGTH.unpack_from(data)
                    if len(data) < _LENGTH.size + length:
                        break
                    record = pickle.loads(data[_LENGTH.size : _LENGTH.size + length])
                    data = data[_LENGTH.size + length :]
                    if record is None:
                        ended[pipe] = True
                    else:
                        name, result = record
                        done[name] = result
                buffers[pipe] = data
    return ended


def _child(
    parent: int,
    prctl: Callable[..., int],
    items: Sequence[T],
    tasks: int,
    results: int,
    number: int,
    work: Callable[[Callable[[], T | None], Callable[[str, R], None], int], None],
) -> NoReturn:
    """A forked worker: never returns, and leaves by ``os._exit`` so nothing of the
    parent's (its open store, atexit handlers, a test runner) runs again in it."""
    code = 1
    sending = threading.Lock()

    def send(record: object) -> None:
        data = pickle.dumps(record)
        with sending:  # one record at a time, whole, whichever thread reports
            _write_all(results, _LENGTH.pack(len(data)) + data)

    try:
        _die_with(parent, prctl)

        def take() -> T | None:
            task = os.read(tasks, _TASK.size)
            return items[_TASK.unpack(task)[0]] if len(task) == _TASK.size else None

        work(take, lambda name, result: send((name, result)), number)
        send(None)  # done: every result reported
        code = 0
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        log.error("worker process %d: internal error", os.getpid(), exc_info=True)
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # closed or broken: nothing to say there
                stream.flush()
        os._exit(code)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _prctl() -> Callable[..., int]:
    """libc's ``prctl``, looked up in the parent before it forks: importing ctypes cost
    each child 4-11 ms of its start."""
    import ctypes

    return ctypes.CDLL(None, use_errno=True).prctl


def _die_with(parent: int, prctl: Callable[..., int]) -> None:
    """Be killed when the parent dies, however it dies (Linux's PR_SET_PDEATHSIG)."""
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(1)


def _ended(status: int) -> str:
    """How a child ended, from its wait status: "exited with 1", "was killed by SIGKILL"."""
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with {os.waitstatus_to_exitcode(status)} before it reported"
