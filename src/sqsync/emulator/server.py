"""The emulator's HTTP side: a threaded loopback server speaking the Commerce API.

Every request goes through the same steps, in this order: count it, call
``before_request``, wait ``latency``, check the key (401, 402), the User-Agent (400),
the route (404, 405) and the key's permission (403), apply the per-key rate limit (429),
then either answer an injected fault or handle it. The handlers parse with
:mod:`~sqsync.emulator.validation` and act through :class:`EmulatorState`.

A request whose body ends before its Content-Length (the client hung up mid-request) is
not handled at all, and a client that hangs up before its answer is a debug line, never a
traceback. Paths under ``/_emulator/`` are the merchant's side (:mod:`.admin`): cancel,
refund or fulfil an order, or have a customer place one, while the emulator serves; they
take no key and are never counted, slowed or failed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqsync.emulator.admin import ADMIN_PREFIX, admin_answer
from sqsync.emulator.faults import FAULT_KINDS, Faults
from sqsync.emulator.state import EmulatorState, Stats
from sqsync.emulator.validation import (
    check_idempotency_key,
    parse_adjustment,
    parse_fulfilment,
    parse_inventory_cursor,
    parse_order_query,
    parse_variant_ids,
)
from sqsync.emulator.wire import ApiError, encode_cursor, invalid

log = logging.getLogger("sqsync.emulator")

RATE_WINDOW = 60.0
_VERSION = re.compile(r"^(v?\d+(\.\d+)?)$")

Answer = tuple[int, bytes | None, dict[str, str]]


@dataclass(frozen=True)
class _Route:
    template: str
    area: str  # "orders" or "inventory": which key permission it needs
    handler: str
    args: tuple[str, ...] = ()


def _resolve(method: str, path: str) -> tuple[_Route | None, ApiError | None]:
    """The route for a request, or the 404/405 to answer."""
    parts = path.strip("/").split("/")
    if parts[0] != "1.0":
        if _VERSION.match(parts[0]):
            return None, ApiError(404, "API version is not supported.", "INVALID_ARGUMENT")
        return None, ApiError(404, f"No such endpoint: {path}", "INVALID_ARGUMENT")
    rest = parts[1:]
    routes: list[tuple[str, _Route]] = []
    if rest == ["commerce", "orders"]:
        routes = [("GET", _Route("/1.0/commerce/orders", "orders", "list_orders"))]
    elif len(rest) == 3 and rest[:2] == ["commerce", "orders"]:
        routes = [("GET", _Route("/1.0/commerce/orders/{id}", "orders", "get_order", (rest[2],)))]
    elif len(rest) == 4 and rest[:2] == ["commerce", "orders"] and rest[3] == "fulfillments":
        template = "/1.0/commerce/orders/{id}/fulfillments"
        routes = [("POST", _Route(template, "orders", "fulfil", (rest[2],)))]
    elif rest == ["commerce", "inventory"]:
        routes = [("GET", _Route("/1.0/commerce/inventory", "inventory", "list_inventory"))]
    elif rest == ["commerce", "inventory", "adjustments"]:
        template = "/1.0/commerce/inventory/adjustments"
        routes = [("POST", _Route(template, "inventory", "adjust"))]
    elif len(rest) == 3 and rest[:2] == ["commerce", "inventory"]:
        template = "/1.0/commerce/inventory/{ids}"
        routes = [("GET", _Route(template, "inventory", "get_inventory", (rest[2],)))]
    elif rest == ["authorization", "website"]:
        routes = [("GET", _Route("/1.0/authorization/website", "website", "get_website"))]
    if not routes:
        return None, ApiError(404, f"No such endpoint: {path}", "INVALID_ARGUMENT")
    for route_method, route in routes:
        if route_method == method:
            return route, None
    return routes[0][1], ApiError(405, f"{method} is not allowed on {path}.")


class Emulator:
    """A local Squarespace Commerce API on loopback, for tests, demos and trial runs.

    ``with Emulator(EmulatorState.generate(100, 40, seed=1)) as emu:`` starts it on a free
    port; ``emu.url`` and ``emu.api_key`` are what a client needs.
    """

    def __init__(
        self,
        state: EmulatorState | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit_per_minute: int = 300,
        latency: float = 0.0,
    ) -> None:
        self.state = state if state is not None else EmulatorState()
        self.host = host
        self.port = port
        self.rate_limit_per_minute = rate_limit_per_minute
        self.latency = latency
        self.api_key = self.state.full_key()
        self.faults = Faults()
        self.before_request: Callable[[str, str], None] | None = None
        self.sleep: Callable[[float], None] = time.sleep
        # Seconds a fulfilment takes to apply (see slow_apply).
        self.apply_delay = 0.0
        self._windows: dict[str, deque[float]] = {}
        self._windows_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> Emulator:
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"sqsync-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        log.debug("emulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ----------------------------------------------------------------- the shop, for tests

    @property
    def stats(self) -> Stats:
        return self.state.stats

    @property
    def orders(self) -> dict[str, dict[str, Any]]:
        return self.state.orders

    @property
    def inventory(self) -> dict[str, dict[str, Any]]:
        return self.state.inventory

    def add_key(
        self,
        key: str,
        orders: str | None = "rw",
        inventory: str | None = "rw",
        expired: bool = False,
    ) -> str:
        return self.state.add_key(key, orders, inventory, expired)

    def make_order(self, **overrides: Any) -> dict[str, Any]:
        return self.state.make_order(**overrides)

    def add_order(self, order: dict[str, Any]) -> str:
        return self.state.add_order(order)

    def update_order(self, order_id: str, **fields: Any) -> None:
        self.state.update_order(order_id, **fields)

    def sell(self, variant_id: str, qty: int) -> None:
        self.state.sell(variant_id, qty)

    def set_stock(self, variant_id: str, qty: int, unlimited: bool = False) -> None:
        self.state.set_stock(variant_id, qty, unlimited)

    def add_variant(self, sku: str | None, qty: int, unlimited: bool = False, **kwargs: Any) -> str:
        return self.state.add_variant(sku, qty, unlimited, **kwargs)

    def set_fault_rate(
        self,
        rate: float,
        seed: int,
        kinds: tuple[str, ...] = FAULT_KINDS,
        after_apply: float = 0.5,
    ) -> None:
        self.faults.set_rate(rate, seed, kinds, after_apply)

    def slow_apply(self, seconds: float) -> None:
        """Make each adjustment and fulfilment take ``seconds`` to apply, for rehearsing a
        client that times out while Squarespace is still at work.

        An adjustment waits while its Idempotency-Key is claimed, so a retry meanwhile is
        answered 409 in progress, as Squarespace does; a fulfilment (no key) waits before
        it is applied, and the answer comes after both.
        """
        if seconds < 0:
            raise ValueError("seconds must be at least 0")
        self.apply_delay = seconds
        if not seconds:
            return
        earlier = self.state.during_adjustment

        def wait(key: str) -> None:
            self.sleep(seconds)
            if earlier is not None:
                earlier(key)

        self.state.during_adjustment = wait

    # ----------------------------------------------------------------- request pipeline

    def _admit(self, key: str) -> bool:
        """Sliding-window rate limit per key; a refused request does not use up the window."""
        limit = self.rate_limit_per_minute
        if not limit:
            return True
        now = self.state.clock()
        with self._windows_lock:
            window = self._windows.setdefault(key, deque())
            while window and window[0] <= now - RATE_WINDOW:
                window.popleft()
            if len(window) >= limit:
                return False
            window.append(now)
            return True

    def _check(self, method: str, headers: Any, route: _Route | None) -> None:
        authorization = headers.get("Authorization") or ""
        scheme, _, key = authorization.partition(" ")
        info = self.state.key_info(key.strip()) if scheme.lower() == "bearer" else None
        if info is None:
            raise ApiError(401, "The API key is missing or not valid.")
        if info.expired:
            raise ApiError(402, "The website's billing has lapsed.")
        if not headers.get("User-Agent"):
            raise invalid("The User-Agent header is required.", "MISSING_ARGUMENT")
        if route is None:
            return
        granted = getattr(info, route.area)
        needed = "rw" if method != "GET" else "r"
        if granted is None or (needed == "rw" and granted != "rw"):
            level = "Read and Write" if needed == "rw" else "Read"
            area = route.area.capitalize()
            raise ApiError(
                403, f"The API key lacks the {area} {level} permission.", "MISSING_SCOPE"
            )
        if not self._admit(key.strip()):
            self.stats.add("rate_limited")
            raise ApiError(429, "Rate limit exceeded.", headers={"Retry-After": "60"})


def _json_body(raw: bytes, content_type: str | None) -> Any:
    if not (content_type or "").split(";")[0].strip().lower() == "application/json":
        raise invalid("Content-Type must be application/json.", "INVALID_CONTENT_TYPE")
    try:
        return json.loads(raw or b"null")
    except ValueError:
        raise invalid("The request body is not valid JSON.") from None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SquarespaceEmulator/1.0"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle plus delayed ACKs
        # add ~40 ms to every kept-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("emulator: " + format, *args)

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header tells Squarespace's time: the shop's clock, which a test may set
        # apart from the machine's to play a client whose clock is wrong.
        return formatdate(self.server.emulator.state.now().timestamp(), usegmt=True)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    # ----------------------------------------------------------------- the pipeline

    def _handle(self, method: str) -> None:
        emu = self.server.emulator
        split = urlsplit(self.path)
        path = split.path
        try:
            length = max(0, int(self.headers.get("Content-Length") or 0))
        except ValueError:
            self.close_connection = True
            self._send(*_error_answer(invalid("The Content-Length header is not a number.")))
            return
        raw = self.rfile.read(length) if length else b""
        if len(raw) < length:
            # The client hung up mid-request: half a body must never be applied.
            log.debug("emulator: %s %s: the client hung up mid-request", method, path)
            self.close_connection = True
            return
        if path.startswith(ADMIN_PREFIX):
            self._send(*admin_answer(emu.state, method, path, raw))
            return
        route, route_error = _resolve(method, path)
        emu.stats.record_request(method, route.template if route else "(unknown)")
        try:
            if emu.before_request is not None:
                emu.before_request(method, path)
            if emu.latency:
                emu.sleep(emu.latency)
            emu._check(method, self.headers, route)
            if route_error is not None:
                raise route_error
            assert route is not None
            fault = emu.faults.take(method, path)
            if fault is not None:
                emu.stats.add("faults_injected")
            if fault is not None and not fault.after_apply:
                self._answer_fault(fault.kind)
                return
            handler = getattr(self, "_" + route.handler)
            answer: Answer = handler(
                parse_qs(split.query, keep_blank_values=True), raw, *route.args
            )
            if fault is not None:
                self._answer_fault(fault.kind)
                return
        except ApiError as error:
            answer = _error_answer(error)
        except Exception:
            log.exception("emulator: %s %s failed", method, path)
            answer = _error_answer(ApiError(500, "Internal server error."))
        self._send(*answer)

    def _answer_fault(self, kind: str) -> None:
        if kind == "drop":
            # No status line at all: the client sees the connection close under it.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        status = int(kind)
        self._send(*_error_answer(ApiError(status, f"Injected fault: HTTP {status}.")))

    def _send(self, status: int, body: bytes | None, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body is not None:
            self.wfile.write(body)

    def _base_url(self) -> str:
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        return f"http://{host}"

    def _page(self, key: str, items_json: str, path: str, cursor: str | None) -> Answer:
        pagination = {
            "hasNextPage": cursor is not None,
            "nextPageCursor": cursor,
            "nextPageUrl": f"{self._base_url()}{path}?cursor={cursor}" if cursor else None,
        }
        body = f'{{"{key}":{items_json},"pagination":{json.dumps(pagination)}}}'
        return 200, body.encode(), {}

    # ----------------------------------------------------------------- endpoints

    def _list_orders(self, params: dict[str, list[str]], raw: bytes) -> Answer:
        query, position = parse_order_query(params)
        state = self.server.emulator.state
        items, last = state.order_page(query, position)
        cursor = encode_cursor(query.cursor_data(last)) if last else None
        if cursor is None and state.endless_paging:
            # A broken walk: a new cursor every time, back over the same orders.
            state.endless_pages += 1
            data = {**query.cursor_data((0, "")), "n": state.endless_pages}
            cursor = encode_cursor(data)
        return self._page("result", items, "/1.0/commerce/orders", cursor)

    def _get_order(self, params: dict[str, list[str]], raw: bytes, order_id: str) -> Answer:
        return 200, self.server.emulator.state.order_json(order_id).encode(), {}

    def _fulfil(self, params: dict[str, list[str]], raw: bytes, order_id: str) -> Answer:
        notify, shipments = parse_fulfilment(_json_body(raw, self.headers.get("Content-Type")))
        emu = self.server.emulator
        if emu.apply_delay:
            emu.sleep(emu.apply_delay)
        emu.state.fulfil(order_id, notify, shipments)
        return 204, None, {}

    def _list_inventory(self, params: dict[str, list[str]], raw: bytes) -> Answer:
        items, last = self.server.emulator.state.inventory_page(parse_inventory_cursor(params))
        cursor = encode_cursor({"v": last}) if last else None
        return self._page("inventory", items, "/1.0/commerce/inventory", cursor)

    def _get_inventory(self, params: dict[str, list[str]], raw: bytes, ids: str) -> Answer:
        items = self.server.emulator.state.inventory_json(parse_variant_ids(ids))
        return 200, f'{{"inventory":{items}}}'.encode(), {}

    def _get_website(self, params: dict[str, list[str]], raw: bytes) -> Answer:
        key = (self.headers.get("Authorization") or "").partition(" ")[2].strip()
        return 200, json.dumps(self.server.emulator.state.website(key)).encode(), {}

    def _adjust(self, params: dict[str, list[str]], raw: bytes) -> Answer:
        key = check_idempotency_key(self.headers.get("Idempotency-Key"))
        body = _json_body(raw, self.headers.get("Content-Type"))
        adjustment = parse_adjustment(body)
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        self.server.emulator.state.adjust(key, canonical, adjustment)
        return 204, None, {}


def _error_answer(error: ApiError) -> Answer:
    return error.status, json.dumps(error.envelope()).encode(), error.headers


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-request or before its answer is routine (a timeout, a
        killed job): one debug line. Anything else is logged with its traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            log.debug("emulator: client %s hung up: %s", client_address[0], error)
            return
        log.error("emulator: request from %s failed", client_address[0], exc_info=True)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """End kept-alive connections so a stopped emulator really stops answering."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
