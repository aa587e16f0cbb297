"""A PostgreSQL server for the suite's PostgreSQL run.

``SQSYNC_TEST_POSTGRES_URL`` names one when set (a role that may create databases);
otherwise a throwaway server from the ``pgserver`` wheel (in the test extra) is started
once per process in a temporary folder, over a Unix socket. It runs as root too: pgserver
then creates and runs as an unprivileged ``pgserver`` user itself.

The server is stopped and its folder removed by a watchdog process that waits for this
one to close a pipe, so it goes however the test process ends (normal exit, exception,
SIGTERM, SIGKILL); at a normal exit the atexit hook closes the pipe and waits for it. Each
pytest process has its own server and watchdog, so several may run side by side.
"""

from __future__ import annotations

import atexit
import itertools
import os
import subprocess
import sys
import tempfile
import warnings
from functools import cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import psycopg

_numbers = itertools.count(1)
_bases: dict[str, str] = {}  # database made here -> the URL it was made from

# Run with the folder as argv[1] and a pipe from the test process as stdin.
_WATCHDOG = r"""
import os, shutil, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the test run, not us
folder = sys.argv[1]
sys.stdin.buffer.read()  # EOF: the test process has closed the pipe or died

def running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is done
    except FileNotFoundError:
        return False

try:
    with open(os.path.join(folder, "postmaster.pid")) as f:
        pid = int(f.readline())
except (FileNotFoundError, ValueError):
    pid = None
if pid is not None and running(pid):
    # Immediate shutdown: nothing in a throwaway cluster is worth a checkpoint.
    os.kill(pid, signal.SIGQUIT)
    deadline = time.monotonic() + 10
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    if running(pid):
        os.kill(pid, signal.SIGKILL)
shutil.rmtree(folder, ignore_errors=True)
"""


@cache
def server_url() -> str:
    given = os.environ.get("SQSYNC_TEST_POSTGRES_URL")
    if given:
        return given
    import psycopg

    with warnings.catch_warnings():
        # platformdirs, for pgserver's lock file: "XDG_RUNTIME_DIR is not set" (cron, CI).
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        import pgserver

    folder = tempfile.mkdtemp(prefix="sqsync-pg-", dir=_data_parent())
    # The watchdog first, so a failed start is cleaned up too.
    watchdog = subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, folder],
        stdin=subprocess.PIPE,
        start_new_session=True,
    )
    atexit.register(_stop, watchdog, os.getpid())
    # cleanup_mode=None: stopping is the watchdog's job (pgserver's own atexit stop is
    # skipped when its folder is gone, and never runs after SIGKILL).
    server = pgserver.get_server(folder, cleanup_mode=None)
    socket_dir = urlsplit(server.get_uri()).query.split("host=", 1)[1].split("&", 1)[0]
    url = f"postgresql://postgres@/postgres?host={socket_dir}"
    with psycopg.connect(url, autocommit=True) as conn:
        # A throwaway server: durability buys nothing, and a database per test costs less.
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {setting} = off")
        conn.execute("SELECT pg_reload_conf()")
    return url


def _data_parent() -> str | None:
    # A database per test is ~300 new files: on tmpfs that is several times faster than on
    # disk. Not when /dev/shm is small (64 MB in a default Docker container): the cluster
    # alone is ~40 MB, and PostgreSQL puts its own shared memory there.
    try:
        stat = os.statvfs("/dev/shm")
    except OSError:
        return None
    roomy = stat.f_bavail * stat.f_frsize >= 1 << 30
    return "/dev/shm" if roomy and os.access("/dev/shm", os.W_OK) else None


def _stop(watchdog: subprocess.Popen[bytes], owner: int) -> None:
    if os.getpid() != owner:  # a forked child exiting: the server is its parent's
        return
    assert watchdog.stdin is not None
    watchdog.stdin.close()
    watchdog.wait(timeout=30)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@cache
def _admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    # One connection per server for CREATE/DROP DATABASE: a new one costs ~6 ms a time.
    import psycopg

    return psycopg.connect(url, autocommit=True)


def fresh_database(base: str, *, name: str | None = None, template: str = "template0") -> str:
    """A new database by URL: empty with byte-order text as the store expects, or a clone.

    ``template`` may name a database (nobody connected to it) to copy instead, e.g. one
    migrated once: on tmpfs a clone costs ~20 ms against ~100 ms for running the migrations.
    """
    name = name or f"sqsync_test_{os.getpid()}_{next(_numbers)}"
    conn = _admin(base)
    if template == "template0":
        options = " ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
    elif conn.info.server_version >= 150000:
        # Copying the files beats WAL-logging each block for a small database.
        options = " STRATEGY FILE_COPY"
    else:
        options = ""
    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"{options}')
    url = _with_database(base, name)
    _bases[url] = base
    return url


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def drop_database(url: str) -> None:
    name = database_name(url)
    conn = _admin(_bases.pop(url, None) or _with_database(url, "postgres"))
    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
