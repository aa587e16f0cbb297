"""A lock per connection, so two sqsync processes never work on one connection at once.

Cron may start ``sqsync run`` while the previous one is still busy, and an operator may
type ``sqsync sync-stock`` meanwhile; two concurrent stock syncs would apply each delta
twice. The lock is a lease row in the store (``connection_locks``):

* taken with ``BEGIN IMMEDIATE``, so of two processes racing for it exactly one wins;
* held for :data:`LEASE` and renewed while the holder works (between jobs, and by a
  heartbeat thread during a long job), so it outlives no crash by more than the lease;
* taken over at once when its holder is a process on this host that no longer exists
  (killed with SIGKILL, the machine's OOM killer), instead of waiting for the lease to end.

On PostgreSQL (several hosts on one database) the lock is the database's own: a session
advisory lock, taken with ``pg_try_advisory_lock`` on the worker's store connection and
released by the server when that session ends, however its host died, so no lease has to
expire and no hostname or pid is trusted. The row then only says who holds it.

``owner`` is unique per acquisition, so even two threads of one process cannot mistake
each other's lease for their own.

Lock writes are committed without their own fsync (:meth:`Store.deferred_sync`): on one
host, a power cut that loses a lock row has killed its holder too, and the next
durable commit (a shipment's ``sending`` claim, a journalled batch) makes them durable.
A cron tick over a thousand connections then pays no fsync for taking and leaving locks.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqsync.clock import utcnow
from sqsync.errors import SqsyncError
from sqsync.store.database import Store, parse_time, utc_text

log = logging.getLogger("sqsync.store.locks")

LEASE = timedelta(minutes=15)

Clock = Callable[[], datetime]


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return True
    return True


@dataclass(frozen=True)
class Holder:
    """Who holds a connection's lock, as recorded in its lease row."""

    connection: str
    owner: str
    host: str
    pid: int
    command: str
    acquired_at: datetime
    expires_at: datetime

    def describe(self) -> str:
        since = self.acquired_at.strftime("%Y-%m-%d %H:%M:%SZ")
        return f"{self.command} (pid {self.pid} on {self.host}, since {since})"


class ConnectionLocked(SqsyncError):
    """Another process is working on the connection; try again when it has finished."""

    def __init__(self, holder: Holder) -> None:
        self.holder = holder
        super().__init__(
            f"connection {holder.connection} is busy: locked by {holder.describe()}; "
            "try again when it finishes"
        )


class LockLost(SqsyncError):
    """Our lease expired and another process took the connection over."""


def holder(store: Store, connection: str) -> Holder | None:
    """The current lease row of ``connection`` (expired or not), if any."""
    row = store.conn.execute(
        "SELECT * FROM connection_locks WHERE connection = ?", (connection,)
    ).fetchone()
    if row is None:
        return None
    return Holder(
        connection=row["connection"],
        owner=row["owner"],
        host=row["host"],
        pid=row["pid"],
        command=row["command"],
        acquired_at=parse_time(row["acquired_at"]),
        expires_at=parse_time(row["expires_at"]),
    )


def is_stale(
    current: Holder,
    now: datetime,
    *,
    host: str,
    alive: Callable[[int], bool] = pid_alive,
) -> bool:
    """Whether a lease may be taken over: expired, or its process on this host is gone."""
    if current.expires_at <= now:
        return True
    return current.host == host and not alive(current.pid)


def _advisory_key(connection: str) -> str:
    return f"sqsync connection {connection}"


def _try_advisory(store: Store, connection: str) -> bool:
    row = store.conn.execute(
        "SELECT pg_try_advisory_lock(hashtextextended(?, 0))", (_advisory_key(connection),)
    ).fetchone()
    return bool(row[0])


def _advisory_unlock(store: Store, connection: str) -> None:
    store.conn.execute(
        "SELECT pg_advisory_unlock(hashtextextended(?, 0))", (_advisory_key(connection),)
    )


def is_held(store: Store, current: Holder | None, now: datetime) -> bool:
    """Whether a live process holds the lock ``current`` describes (for ``status``)."""
    if store.dialect == "postgresql":
        row = store.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint)"
            " = hashtextextended(?, 0))",
            (_advisory_key(current.connection if current else ""),),
        ).fetchone()
        return current is not None and bool(row[0])
    return current is not None and not is_stale(current, now, host=socket.gethostname())


class Lease:
    """A held connection lock. Renew it while working; release it when done."""

    def __init__(
        self, store: Store, connection: str, owner: str, *, clock: Clock, lease: timedelta
    ) -> None:
        self.store = store
        self.connection = connection
        self.owner = owner
        self.clock = clock
        self.lease = lease
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self._lost = threading.Event()
        self._renewed_at = clock()
        self._released = False

    def renew(self, conn: sqlite3.Connection | None = None) -> None:
        """Push the expiry one lease ahead; :class:`LockLost` if another process took over.

        Given ``conn`` (in a transaction of the caller's, as ``run`` commits it with the run
        log) it neither commits nor raises: call :meth:`check` once that has committed.
        """
        now = self.clock()
        if not _renew(conn or self.store, self.connection, self.owner, now + self.lease):
            self._lost.set()
        else:
            self._renewed_at = now
        if conn is None:
            self.check()

    def check(self) -> None:
        """:class:`LockLost` once the lease may no longer be ours: another process took it
        over, or no renewal has succeeded for a whole lease (it may have expired). Jobs
        call this before each write, so two processes never both adjust one store."""
        if self._lost.is_set() or self.clock() >= self._renewed_at + self.lease:
            self._lost.set()
            raise LockLost(
                f"connection {self.connection}: the lock expired and may have been taken "
                "over by another process; stopping so the two do not both work on it"
            )

    def start_heartbeat(self, every: timedelta | None = None) -> None:
        """Renew from the process's heartbeat thread (its own store connection) during
        long jobs, every ``every`` (a third of the lease)."""
        if self._stop is not None:
            return
        self._stop = threading.Event()
        self._thread = _heartbeats.add(self, (every or self.lease / 3).total_seconds())

    def _beat(self, stores: dict[object, Store]) -> bool:
        """One renewal from the heartbeat thread; False once it should stop beating."""
        if self._stop is None or self._stop.is_set():
            return False
        now = self.clock()
        try:
            key = str(self.store.path)
            store = stores.get(key)
            if store is None:
                store = stores[key] = Store.open(self.store.path)
            renewed = _renew(store, self.connection, self.owner, now + self.lease)
        except Exception as error:  # a busy or broken database: try again next beat
            log.warning(
                "connection %s: could not renew the lock, will retry: %s", self.connection, error
            )
            return True
        if not renewed:
            log.warning("connection %s: lost the lock while working", self.connection)
            self._lost.set()
            return False
        self._renewed_at = now
        return True

    def release(self, also: Callable[[sqlite3.Connection], None] | None = None) -> None:
        """Give the lock up; ``also`` writes in the same transaction (the run's last
        run-log row), and may call :meth:`check`, which raises :class:`LockLost` if the
        lock was no longer ours. Once released, releasing again does nothing."""
        if self._released:
            return
        if self._stop is not None:
            self._stop.set()
            _heartbeats.remove(self)  # and waits out a renewal of it in progress
            self._stop = self._thread = None
        with self.store.deferred_sync(), self.store.transaction(connection_only=True) as conn:
            # First, so ``also`` knows (by check()) whether the lock was still ours, as a
            # renewal would tell it.
            gone = conn.execute(
                "DELETE FROM connection_locks WHERE connection = ? AND owner = ?",
                (self.connection, self.owner),
            ).rowcount
            if gone == 1:
                self._renewed_at = self.clock()
            else:
                self._lost.set()
            if also is not None:
                also(conn)
        if self.store.dialect == "postgresql":
            _advisory_unlock(self.store, self.connection)
        self._released = True

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class _Heartbeats:
    """One thread renewing every lease of the process that wants a heartbeat, instead of
    a thread per lease: ``run`` over many connections would start and stop one each. The
    thread ends when no lease is left; each store it opens serves every lease on it."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._due: dict[Lease, tuple[float, float]] = {}  # next renewal, period (monotonic)
        self._beating: Lease | None = None
        self._thread: threading.Thread | None = None

    def add(self, lease: Lease, seconds: float) -> threading.Thread:
        with self._lock:
            soonest = min((at for at, _ in self._due.values()), default=None)
            at = time.monotonic() + seconds
            self._due[lease] = (at, seconds)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="sqsync-lease-heartbeat", daemon=True
                )
                self._thread.start()
            elif soonest is None or at < soonest:
                self._lock.notify()
            return self._thread

    def remove(self, lease: Lease) -> None:
        with self._lock:
            self._due.pop(lease, None)
            while self._beating is lease:
                self._lock.wait()

    def _run(self) -> None:
        stores: dict[object, Store] = {}
        try:
            while True:
                with self._lock:
                    if not self._due:
                        self._thread = None
                        return
                    now = time.monotonic()
                    lease, (at, seconds) = min(self._due.items(), key=lambda item: item[1][0])
                    if at > now:
                        self._lock.wait(at - now)
                        continue
                    self._due[lease] = (now + seconds, seconds)
                    self._beating = lease
                try:
                    keep = lease._beat(stores)
                finally:
                    with self._lock:
                        self._beating = None
                        if not keep:
                            self._due.pop(lease, None)
                        self._lock.notify_all()
        finally:
            for store in stores.values():
                store.close()


_heartbeats = _Heartbeats()


def _renew(
    db: Store | sqlite3.Connection, connection: str, owner: str, expires_at: datetime
) -> bool:
    sql = "UPDATE connection_locks SET expires_at = ? WHERE connection = ? AND owner = ?"
    args = (utc_text(expires_at), connection, owner)
    if not isinstance(db, Store):  # the caller's transaction
        return bool(db.execute(sql, args).rowcount == 1)
    with db.deferred_sync(), db.transaction(connection_only=True) as conn:
        return bool(conn.execute(sql, args).rowcount == 1)


_TAKE = (
    "INSERT INTO connection_locks"
    " (connection, owner, host, pid, command, acquired_at, expires_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def acquire(
    store: Store,
    connection: str,
    *,
    command: str,
    clock: Clock = utcnow,
    lease: timedelta = LEASE,
    host: str | None = None,
    pid: int | None = None,
    alive: Callable[[int], bool] = pid_alive,
    also: Callable[[sqlite3.Connection], None] | None = None,
) -> Lease:
    """Take ``connection``'s lock or raise :class:`ConnectionLocked` naming its holder.

    The check and the write happen in one ``BEGIN IMMEDIATE`` transaction, so two
    processes cannot both see the lock free. ``also`` writes in that transaction, once the
    lock is ours (``run``: the first job's run-log row); if it raises, no lock is taken.
    """
    host = host or socket.gethostname()
    pid = os.getpid() if pid is None else pid
    owner = f"{host}:{pid}:{uuid.uuid4().hex[:12]}"
    advisory = store.dialect == "postgresql"
    if advisory and not _try_advisory(store, connection):
        now = clock()
        raise ConnectionLocked(
            holder(store, connection)
            or Holder(connection, "", "another host", 0, "sqsync", now, now + lease)
        )
    try:
        # Not fsynced (see the module doc): a power cut that loses it loses its holder too.
        with store.deferred_sync(), store.transaction(connection_only=True) as conn:
            now = clock()
            row = (connection, owner, host, pid, command, utc_text(now), utc_text(now + lease))
            # Nobody's row (the usual case: it goes with each release): one statement.
            if conn.execute(_TAKE + " ON CONFLICT (connection) DO NOTHING", row).rowcount != 1:
                current = holder(store, connection)
                if current is not None:
                    if not advisory and not is_stale(current, now, host=host, alive=alive):
                        raise ConnectionLocked(current)
                    log.warning(
                        "connection %s: taking over the lock left by %s",
                        connection,
                        current.describe(),
                    )
                conn.execute(
                    _TAKE + " ON CONFLICT (connection) DO UPDATE SET"
                    " owner = excluded.owner, host = excluded.host, pid = excluded.pid,"
                    " command = excluded.command, acquired_at = excluded.acquired_at,"
                    " expires_at = excluded.expires_at",
                    row,
                )
            if also is not None:
                also(conn)
    except BaseException:
        # The row rolled back; the session lock must go with it, once the transaction has
        # ended (PostgreSQL refuses any statement in a transaction that failed).
        if advisory:
            try:
                _advisory_unlock(store, connection)
            except Exception:  # a session gone with the failure has dropped the lock too
                log.debug("connection %s: no session left to unlock", connection)
        raise
    return Lease(store, connection, owner, clock=clock, lease=lease)


@contextmanager
def hold(
    store: Store,
    connection: str,
    *,
    command: str,
    clock: Clock = utcnow,
    also: Callable[[sqlite3.Connection], None] | None = None,
) -> Iterator[Lease]:
    """Hold ``connection``'s lock, renewed by a heartbeat, for the body of a ``with``.

    Raises :class:`ConnectionLocked` when another process holds it. Every command that
    works on a connection (``run`` and the job commands) takes it here, the same way.
    ``also``: as for :func:`acquire`.
    """
    with acquire(store, connection, command=command, clock=clock, also=also) as lease:
        lease.start_heartbeat()
        yield lease
