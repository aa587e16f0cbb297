"""The Squarespace Commerce API client: orders, fulfilments and inventory.

One retry loop serves every request (as in stripe-python), each pass one attempt, one
retry decision and, when that says no, one final error. A 429 waits ``Retry-After``
or the cool-down, 500/502/503/504 and connection failures back off exponentially with
jitter, and nothing else is retried. A fulfilment is not idempotent, so once it may have
reached the server (a dropped connection, a read timeout, any 5xx) the client raises
:class:`OutcomeUnknownError` instead of sending it again; the caller re-reads the order.
Stock adjustments carry the caller's Idempotency-Key, so their retries are safe; a 409
CONCURRENT_MODIFICATION on one is retried under the same key too, since it can be our own
earlier attempt still in flight.

A :class:`~sqsync.squarespace._pacing.Pacer` keeps the client under the per-minute limit.
Sleep, clock and randomness are injected so tests never wait. Headers are never logged.
"""

from __future__ import annotations

import json
import logging
import random
import re
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypedDict, TypeVar, Unpack
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel, ValidationError

from sqsync import PROJECT_URL, __version__
from sqsync.squarespace._pacing import (
    BACKOFF_CAP,
    WINDOW,
    Pacer,
    backoff_delay,
    retry_after_seconds,
)
from sqsync.squarespace.errors import (
    InvalidRequestError,
    OutcomeUnknownError,
    SquarespaceError,
    TransportError,
    UnexpectedResponseError,
    error_for_response,
    one_line,
    parse_envelope,
)
from sqsync.squarespace.models import (
    FulfilmentShipment,
    InvalidRecord,
    InventoryItem,
    InventoryPage,
    InventoryPayload,
    Order,
    OrderPage,
    OrdersPayload,
    StockOperation,
    Website,
    format_timestamp,
)

logger = logging.getLogger("sqsync.squarespace")

USER_AGENT = f"sqsync/{__version__} (+{PROJECT_URL})"
ORDERS = "/1.0/commerce/orders"
INVENTORY = "/1.0/commerce/inventory"
MAX_IDS_PER_REQUEST = 50
MAX_OPERATIONS = 50
MAX_SHIPMENTS = 100
RETRY_STATUSES = frozenset({500, 502, 503, 504})
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")

# Failures before the request left: always safe to send again.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Failures after the request (maybe) reached the server: only idempotent requests retry.
_MAYBE_SENT = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.CloseError,
    httpx.RemoteProtocolError,
)

M = TypeVar("M", bound=BaseModel)
E = TypeVar("E", bound=SquarespaceError)
# What one attempt gives the retry loop: any answer, or the transport's exception.
_Outcome = httpx.Response | httpx.HTTPError


class OrderFilters(TypedDict, total=False):
    """The keyword filters of :meth:`Client.iter_order_pages`."""

    fulfillment_status: str | None
    modified_after: datetime | None
    modified_before: datetime | None
    payment_states: Sequence[str] | None


class _Where(TypedDict):
    """Where a request went, as every error's ``method``, ``host`` and ``path``."""

    method: str
    host: str
    path: str


class Client:
    """A typed client for one Squarespace site (one API key).

    ``request_count`` is every HTTP request attempted, retries included, for job
    summaries and benchmarks. Use as a context manager or call :meth:`close`.
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = "https://api.squarespace.com",
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        max_attempts: int = 5,
        rate_limit_per_minute: int = 300,
        rate_limit_cooldown: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("api_key is empty")
        if not _HEADER_SAFE.fullmatch(api_key):
            # httpx's own refusal would quote the header, key and all.
            raise ValueError("api_key has a space, line break or non-ASCII character")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).netloc or self.base_url
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.rate_limit_cooldown = rate_limit_cooldown
        self.request_count = 0
        # Squarespace's clock: the Date of the latest response that had one. The machine's
        # clock may be wrong; import windows are measured on this one.
        self.last_server_time: datetime | None = None
        self._api_key = api_key
        self._sleep = sleep
        # Made at the first retry: seeding one from the OS is a cost a quiet request skips.
        self._rng = rng
        self._pacer = Pacer(rate_limit_per_minute, sleep=sleep, monotonic=monotonic)
        # Every request is built whole here (headers, timeouts), so it needs nothing of an
        # httpx.Client: cookies, redirects and auth flows are not this API's, and their
        # machinery was a third of a request's CPU.
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
        }
        self._timeouts = httpx.Timeout(timeout, connect=connect_timeout).as_dict()
        # A transport passed in (a test's) brings its own TLS. Otherwise, inside a run, the
        # run's clients send through one pool (shared_pool). Either is sent to directly.
        # Outside a pool, an httpx.Client picks the transport (the proxy variables' own).
        self._transport = transport or shared_transport()
        self._http = (
            None
            if self._transport is not None
            else httpx.Client(verify=shared_ssl_context(), follow_redirects=False)
        )

    def __repr__(self) -> str:
        return f"<Client {self.base_url} requests={self.request_count}>"

    @property
    def longest_send(self) -> float:
        """Seconds one write may keep going after it is handed to this client: for every
        attempt a wait for room under the rate limit, the connect and the answer, and
        between attempts the longest pause (a 429's cool-down, or the back-off cap).

        A caller that finds a non-idempotent write unfinished (its process was killed)
        knows that, this long after it began, no attempt of it can still be on its way
        from here. A 429 whose Retry-After exceeds the cool-down stretches it.
        """
        pacing = WINDOW if self._pacer.per_minute else 0.0
        attempt = pacing + self.connect_timeout + self.timeout
        pause = max(self.rate_limit_cooldown, BACKOFF_CAP)
        return self.max_attempts * attempt + (self.max_attempts - 1) * pause

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        elif self._transport is not None:
            self._transport.close()  # the shared pool's stays open for the others

    def recent_request_ages(self) -> list[float]:
        """Seconds since each of this client's requests of the last minute (pacing)."""
        return self._pacer.recent_ages()

    def preload_pacing(self, ages: list[float]) -> None:
        """Count another process's requests with this key, ``ages`` seconds ago, against
        the per-minute limit (Squarespace counts the key's requests, not the process's)."""
        self._pacer.preload(ages)

    # -- orders ---------------------------------------------------------------------

    def iter_order_pages(
        self,
        *,
        fulfillment_status: str | None = None,
        modified_after: datetime | None = None,
        modified_before: datetime | None = None,
        payment_states: Sequence[str] | None = None,
    ) -> Iterator[OrderPage]:
        """Pages of orders: the filters go on page 1 only, later pages send only ``cursor``.

        Raises ``ValueError`` at once (before any request) for a half or empty window.
        """
        params = order_filters(
            fulfillment_status=fulfillment_status,
            modified_after=modified_after,
            modified_before=modified_before,
            payment_states=payment_states,
        )
        return self._walk(ORDERS, params, self._order_page)

    def iter_orders(self, **filters: Unpack[OrderFilters]) -> Iterator[Order]:
        """Every valid order across pages (filters as :meth:`iter_order_pages`);
        records that fail validation are logged and skipped."""
        pages = self.iter_order_pages(**filters)
        return (order for page in pages for order in _logged(page.orders, page.invalid))

    def get_order(self, order_id: str) -> Order:
        path = f"{ORDERS}/{_segment(order_id, 'order_id')}"
        return self._validate_one(Order, self._decode(self._get(path), path), path)

    def fulfil_order(
        self,
        order_id: str,
        shipments: Sequence[FulfilmentShipment],
        *,
        send_notification: bool,
    ) -> None:
        """Add shipments and mark the order FULFILLED (an empty list: no tracking).

        Checked before sending (:class:`InvalidRequestError`, nothing sent). Never sent
        twice: if it may have reached Squarespace without a clear answer, raises
        :class:`OutcomeUnknownError` so the caller can re-read the order.
        """
        path = f"{ORDERS}/{_segment(order_id, 'order_id')}/fulfillments"
        problems = [
            f"shipment {number}: {problem}"
            for number, shipment in enumerate(shipments, 1)
            for problem in shipment.problems()
        ]
        if len(shipments) > MAX_SHIPMENTS:
            problems.append(f"{len(shipments)} shipments (at most {MAX_SHIPMENTS} per call)")
        if problems:
            raise InvalidRequestError(
                f"fulfilment not sent: {'; '.join(problems)}",
                method="POST",
                host=self.host,
                path=path,
            )
        body = {
            "shouldSendNotification": bool(send_notification),
            "shipments": [shipment.to_api() for shipment in shipments],
        }
        self._request("POST", path, body=body, idempotent=False)

    # -- inventory ------------------------------------------------------------------

    def iter_inventory_pages(self) -> Iterator[InventoryPage]:
        return self._walk(INVENTORY, {}, self._inventory_page)

    def iter_inventory(self) -> Iterator[InventoryItem]:
        pages = self.iter_inventory_pages()
        return (item for page in pages for item in _logged(page.items, page.invalid))

    def get_inventory(self, variant_ids: Sequence[str]) -> list[InventoryItem]:
        """Items for these variants, 50 ids per request. A record failing validation is
        logged and left out. Squarespace answers 404 if any id is unknown."""
        if isinstance(variant_ids, str):
            raise TypeError("variant_ids must be a sequence of ids, not one string")
        ids = [_segment(variant_id, "variant id") for variant_id in variant_ids]
        items: list[InventoryItem] = []
        for start in range(0, len(ids), MAX_IDS_PER_REQUEST):
            path = f"{INVENTORY}/{','.join(ids[start : start + MAX_IDS_PER_REQUEST])}"
            page = self._inventory_page(self._get(path), path)
            items.extend(_logged(page.items, page.invalid))
        return items

    def adjust_inventory(
        self,
        *,
        idempotency_key: str,
        increments: Sequence[StockOperation] = (),
        decrements: Sequence[StockOperation] = (),
        set_finite: Sequence[StockOperation] = (),
        set_unlimited: Sequence[str] = (),
    ) -> None:
        """Apply stock operations atomically under the caller's Idempotency-Key.

        Refuses (``ValueError``, nothing sent) a bad key, no operations, more than 50,
        a variant named twice, or a quantity out of range. Retries reuse the same key,
        so Squarespace applies the adjustment at most once.
        """
        if not isinstance(idempotency_key, str) or not _IDEMPOTENCY_KEY.fullmatch(idempotency_key):
            raise ValueError("idempotency_key must be 1-64 characters of A-Z a-z 0-9 _ -")
        body = adjustment_body(increments, decrements, set_finite, set_unlimited)
        self._request(
            "POST",
            f"{INVENTORY}/adjustments",
            body=body,
            headers={"Idempotency-Key": idempotency_key},
            retry_in_flight=True,
        )

    # -- the site -------------------------------------------------------------------

    def get_website(self) -> Website:
        """The site this key opens (``GET /1.0/authorization/website``), every field
        optional. Not confirmed by Squarespace's docs: callers treat a 404 or 403 as unknown."""
        path = "/1.0/authorization/website"
        return self._validate_one(Website, self._decode(self._get(path), path), path)

    # -- paging and parsing ---------------------------------------------------------

    def _walk(
        self, path: str, params: dict[str, str], parse: Callable[[bytes, str], Any]
    ) -> Iterator[Any]:
        seen: set[str] = set()
        while True:
            page = parse(self._get(path, params), path)
            if hasattr(page, "server_time"):
                page.server_time = self.last_server_time
            yield page
            if not page.has_next_page:
                return
            cursor = page.next_page_cursor
            if not cursor or cursor in seen:
                problem = "no nextPageCursor" if not cursor else "a cursor already used"
                raise UnexpectedResponseError(
                    f"Squarespace said there is another page but gave {problem}; stopped paging",
                    method="GET",
                    host=self.host,
                    path=path,
                )
            seen.add(cursor)
            params = {"cursor": cursor}

    def _order_page(self, content: bytes, path: str) -> OrderPage:
        return OrderPage(*self._page(content, path, OrdersPayload, Order, "result", "id"))

    def _inventory_page(self, content: bytes, path: str) -> InventoryPage:
        return InventoryPage(
            *self._page(content, path, InventoryPayload, InventoryItem, "inventory", "variantId")
        )

    def _page(
        self,
        content: bytes,
        path: str,
        payload: type[BaseModel],
        model: type[M],
        key: str,
        id_key: str,
    ) -> tuple[list[M], list[InvalidRecord], bool, str | None]:
        """(valid records, invalid records, hasNextPage, nextPageCursor) of one page.

        A page with no records (a quiet tick's) is read as plain JSON. Any other page is
        validated straight from the bytes in one pass (the fast path); only when that
        fails is it taken apart record by record, so one bad record lands in ``invalid``
        instead of stopping the page.
        """
        empty = _empty_page(content, key)
        if empty is not None:
            return [], [], *empty
        try:
            fast = payload.model_validate_json(content)
        except ValidationError:
            pass
        else:
            paging = getattr(fast, "pagination", None)
            more = bool(paging and paging.has_next_page)
            return (
                getattr(fast, key),
                [],
                more,
                (paging.next_page_cursor or None) if paging else None,
            )
        records, more, cursor = self._envelope(self._decode(content, path), key, path)
        valid, invalid = _validate_each(model, records, id_key)
        return valid, invalid, more, cursor

    def _envelope(self, data: Any, key: str, path: str) -> tuple[list[Any], bool, str | None]:
        records = data.get(key) if isinstance(data, dict) else None
        if records is None and isinstance(data, dict) and key in data:
            records = []
        if not isinstance(records, list):
            raise self._unexpected(f"the answer has no {key!r} list", path)
        pagination = data.get("pagination") or {}
        if not isinstance(pagination, dict):
            raise self._unexpected("the answer's pagination is not an object", path)
        cursor = pagination.get("nextPageCursor")
        return records, bool(pagination.get("hasNextPage")), str(cursor) if cursor else None

    def _validate_one(self, model: type[M], data: Any, path: str) -> M:
        try:
            return model.model_validate(data)
        except ValidationError as error:
            raise self._unexpected(f"invalid {model.__name__}: {describe(error)}", path) from None

    def _unexpected(self, problem: str, path: str) -> UnexpectedResponseError:
        return UnexpectedResponseError(
            f"unexpected answer from Squarespace: {problem}",
            method="GET",
            host=self.host,
            path=path,
        )

    def _get(self, path: str, params: dict[str, str] | None = None) -> bytes:
        return self._request("GET", path, params=params).content

    def _decode(self, content: bytes, path: str) -> Any:
        try:
            return json.loads(content)
        except ValueError:
            raise self._unexpected("the body is not JSON", path) from None

    # -- the one request loop -------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool = True,
        retry_in_flight: bool = False,
    ) -> httpx.Response:
        content = None
        request_headers = dict(headers or {})
        if body is not None:
            content = json.dumps(body, separators=(",", ":")).encode()
            request_headers["Content-Type"] = "application/json"
        attempt = 0
        while True:
            attempt += 1
            outcome = self._attempt(method, path, params, content, request_headers)
            if isinstance(outcome, httpx.Response):
                status = outcome.status_code
                logger.debug("%s %s -> %d (attempt %d)", method, path, status, attempt)
                if 200 <= status < 300:
                    return outcome
            retry = self._should_retry(
                outcome, attempt, idempotent=idempotent, retry_in_flight=retry_in_flight
            )
            if not retry:
                raise self._final_error(outcome, attempt, method, path, idempotent=idempotent)
            delay = self._retry_delay(outcome, attempt)
            self._pause(method, path, self._describe(outcome), attempt, delay)

    def _attempt(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None,
        content: bytes | None,
        headers: dict[str, str],
    ) -> _Outcome:
        """Send the request once: its response (any status) or the transport failure.

        Anything that is not an :class:`httpx.HTTPError` (a bug, Ctrl-C) propagates.
        """
        self._pacer.wait()
        self.request_count += 1
        try:
            request = httpx.Request(
                method,
                self.base_url + path,
                params=params,
                content=content,
                headers={**self._headers, **headers},
                extensions={"timeout": self._timeouts},
            )
            response = self._send(request)
        except httpx.HTTPError as error:
            return error
        else:
            self.last_server_time = _server_time(response) or self.last_server_time
            return response
        finally:
            # A failed request still counts against the limit, from when it ended.
            self._pacer.completed()

    def _send(self, request: httpx.Request) -> httpx.Response:
        """One request, its body read whole, through the transport or the httpx.Client."""
        if self._http is not None:
            return self._http.send(request)
        assert self._transport is not None
        response = self._transport.handle_request(request)
        try:
            response.read()
        finally:
            response.close()  # the connection goes back to the pool
        response.request = request
        return response

    def _should_retry(
        self, outcome: _Outcome, attempt: int, *, idempotent: bool, retry_in_flight: bool
    ) -> bool:
        """Whether to send a failed attempt again (never past ``max_attempts``)."""
        if isinstance(outcome, httpx.Response):
            status = outcome.status_code
            if status >= 500 and not idempotent:
                # The write may have been applied before the server failed.
                return False
            retryable = (
                status == 429
                or status in RETRY_STATUSES
                or (retry_in_flight and _in_flight(outcome))
            )
        elif isinstance(outcome, _NOT_SENT):
            retryable = True
        elif isinstance(outcome, _MAYBE_SENT):
            retryable = idempotent
        else:
            # Not a network hiccup (a bad URL, an unsupported protocol): it would fail again.
            retryable = False
        return retryable and attempt < self.max_attempts

    def _retry_delay(self, outcome: _Outcome, attempt: int) -> float:
        """Seconds to wait before retrying after attempt number ``attempt``."""
        if isinstance(outcome, httpx.Response) and outcome.status_code == 429:
            delay = retry_after_seconds(outcome.headers.get("Retry-After"))
            return self.rate_limit_cooldown if delay is None else delay
        if self._rng is None:
            self._rng = random.Random()
        return backoff_delay(attempt, self._rng)

    def _final_error(
        self, outcome: _Outcome, attempt: int, method: str, path: str, *, idempotent: bool
    ) -> SquarespaceError:
        """The error to raise for the last attempt's outcome, when it is not retried."""
        where: _Where = {"method": method, "host": self.host, "path": path}
        if isinstance(outcome, httpx.Response):
            if outcome.status_code >= 500 and not idempotent:
                return self._outcome_unknown(f"HTTP {outcome.status_code}", where, outcome)
            return self._error(outcome, path)
        reason = self._reason(outcome)
        if isinstance(outcome, _NOT_SENT) or (isinstance(outcome, _MAYBE_SENT) and idempotent):
            return TransportError(
                f"no answer from Squarespace after {attempt} attempts: {reason}", **where
            )
        if isinstance(outcome, _MAYBE_SENT):
            return _caused_by(self._outcome_unknown(reason, where), outcome)
        return _caused_by(TransportError(f"request failed: {reason}", **where), outcome)

    def _describe(self, outcome: _Outcome) -> str:
        if isinstance(outcome, httpx.Response):
            return f"HTTP {outcome.status_code}"
        return self._reason(outcome)

    def _pause(self, method: str, path: str, reason: str, attempt: int, delay: float) -> None:
        logger.info(
            "%s %s: %s on attempt %d of %d; retrying in %.1f s",
            method,
            path,
            reason,
            attempt,
            self.max_attempts,
            delay,
        )
        self._sleep(delay)

    def _outcome_unknown(
        self, reason: str, where: _Where, response: httpx.Response | None = None
    ) -> OutcomeUnknownError:
        fields: dict[str, Any] = {}
        if response is not None:
            content_type = response.headers.get("Content-Type", "")
            fields = parse_envelope(response.content, content_type, secret=self._api_key)
            fields["status"] = response.status_code
        return OutcomeUnknownError(
            f"the outcome is unknown ({reason}): the change may have been applied, "
            "so read the current state before trying again",
            **fields,
            **where,
        )

    def _reason(self, error: Exception) -> str:
        """The exception's name and text, scrubbed of the key (transports may echo it)."""
        detail = one_line(str(error).replace(self._api_key, "***"), limit=120)
        return f"{type(error).__name__}: {detail}" if detail else type(error).__name__

    def _error(self, response: httpx.Response, path: str) -> SquarespaceError:
        return error_for_response(
            response.status_code,
            response.content,
            content_type=response.headers.get("Content-Type", ""),
            method=response.request.method,
            host=self.host,
            path=path,
            secret=self._api_key,
        )


def _server_time(response: httpx.Response) -> datetime | None:
    """The response's ``Date`` header as an aware UTC datetime; None when absent or bad."""
    text = response.headers.get("date")
    if not text:
        return None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # "-0000": UTC by RFC 5322's convention
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _caused_by(error: E, cause: httpx.HTTPError) -> E:
    """Chain ``error`` to ``cause`` as ``raise error from cause`` in its handler would.

    The attempt catches the exception and the loop raises later, outside any handler, so
    without this the traceback would lose the transport failure behind the error.
    """
    error.__cause__ = cause
    error.__context__ = cause
    return error


_ssl_lock = threading.Lock()
_ssl_context: ssl.SSLContext | None = None


def shared_ssl_context() -> ssl.SSLContext:
    """The verifying TLS context every client of this process shares.

    Building one loads the whole CA bundle, about 25 ms of CPU: half of a quiet job's cost,
    paid per connection when each client built its own. One SSLContext serves any number
    of connections and threads; the verification it does is httpx's default (certifi's
    bundle, SSL_CERT_FILE / SSL_CERT_DIR honoured).
    """
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            _ssl_context = httpx.create_ssl_context()
        return _ssl_context


def prepare_workers(*, tls: bool = True) -> None:
    """Build now what every client of this process will share, before it forks workers:
    httpcore (httpx imports it with its first transport), the idna codec (the socket
    module's, for a host name's first connection: 5-6 ms) and, when a connection is over
    ``tls`` (https), the TLS context (the CA bundle's parsing). Each forked child then
    inherits them instead of paying for them itself, about 40 ms of CPU a child."""
    import codecs

    import httpcore  # noqa: F401  (imported for the children to inherit)

    codecs.lookup("idna")
    if tls:
        shared_ssl_context()


class _SharedTransport(httpx.BaseTransport):
    """The process's connection pool, lent to each client: a client's ``close`` leaves it
    open for the others (it ends with the process).

    One pool per scheme, each built with its first request: the https one with the shared
    verifying TLS context, the plain http one (the emulator, a local mock) with a context
    that trusts no certificate, so a run with no https connection never loads the CA
    bundle (38 ms of a run's start) and nothing sent to it could go out unverified.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pools: dict[str, httpx.HTTPTransport] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        scheme = request.url.scheme
        pool = self._pools.get(scheme)
        if pool is None:
            pool = self._pool(scheme)
        return pool.handle_request(request)

    def _pool(self, scheme: str) -> httpx.HTTPTransport:
        with self._lock:
            pool = self._pools.get(scheme)
            if pool is None:
                trust = shared_ssl_context() if scheme != "http" else _trusting_nothing()
                pool = self._pools[scheme] = httpx.HTTPTransport(verify=trust)
            return pool

    def close(self) -> None:
        pass  # one client is done; the pool serves the others

    def close_pool(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()


def _trusting_nothing() -> ssl.SSLContext:
    """A verifying context with no CA loaded: any certificate fails (about 0.1 ms)."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, host names checked


_transport_lock = threading.Lock()
_transport: _SharedTransport | None = None
_transport_users = 0
_proxied: bool | None = None  # proxy variables set: looked up once per process


@contextmanager
def shared_pool() -> Iterator[None]:
    """While inside, every default client of the process sends through one HTTP transport
    (connection pool), closed when the last user leaves: ``run`` wraps its workers in it.

    A ``run`` over many connections would otherwise pay per client for httpx reading the
    proxy environment (about 0.7 ms) and for a new TCP and TLS connection. Sharing is safe:
    the pool is thread-safe, a pooled connection carries no key (every request sends its
    own Authorization header) and cookies stay per client. Scoped to the run, not the
    process, so no idle connection outlives the run that opened it. With proxy variables
    set nothing is shared: each client builds its own transport, honouring them.
    """
    global _transport, _transport_users, _proxied
    with _transport_lock:
        if _proxied is None:
            _proxied = bool(urllib.request.getproxies())
        _transport_users += 1
    try:
        yield
    finally:
        with _transport_lock:
            _transport_users -= 1
            done, _transport = (_transport, None) if _transport_users == 0 else (None, _transport)
        if done is not None:
            done.close_pool()


def shared_transport() -> httpx.BaseTransport | None:
    """The pool of the current :func:`shared_pool`, or None (outside one, or proxied)."""
    global _transport
    with _transport_lock:
        if _transport_users == 0 or _proxied:
            return None
        if _transport is None:
            _transport = _SharedTransport()
        return _transport


def _in_flight(response: httpx.Response) -> bool:
    """A 409 CONCURRENT_MODIFICATION: our own key may still be in flight.

    After a timed-out attempt, the retry under the same Idempotency-Key can meet the first
    attempt still running. Treating that as "the stock moved" and re-planning under a new
    key would apply the change twice once the first attempt lands; waiting and resending
    the same key gets the first attempt's answer instead.
    """
    if response.status_code != 409:
        return False
    try:
        return response.json().get("subtype") == "CONCURRENT_MODIFICATION"
    except (ValueError, AttributeError):
        return False


def order_filters(
    *,
    fulfillment_status: str | None,
    modified_after: datetime | None,
    modified_before: datetime | None,
    payment_states: Sequence[str] | None,
) -> dict[str, str]:
    """Page-1 query parameters for the orders listing, checked as the API would."""
    params: dict[str, str] = {}
    if fulfillment_status:
        params["fulfillmentStatus"] = fulfillment_status
    if (modified_after is None) != (modified_before is None):
        raise ValueError("modified_after and modified_before must be given together")
    if modified_after is not None and modified_before is not None:
        after, before = format_timestamp(modified_after), format_timestamp(modified_before)
        if before <= after:
            raise ValueError(
                f"modified_before ({before}) must be later than modified_after ({after})"
            )
        params["modifiedAfter"], params["modifiedBefore"] = after, before
    if isinstance(payment_states, str):
        raise TypeError("payment_states must be a sequence of states, not one string")
    if payment_states:
        params["paymentStates"] = ",".join(payment_states)
    return params


def adjustment_body(
    increments: Sequence[StockOperation],
    decrements: Sequence[StockOperation],
    set_finite: Sequence[StockOperation],
    set_unlimited: Sequence[str],
) -> dict[str, Any]:
    """The adjustments request body, refusing (ValueError) what Squarespace would refuse."""
    if isinstance(set_unlimited, str):
        raise TypeError("set_unlimited must be a sequence of variant ids, not one string")
    body: dict[str, Any] = {}
    named: list[str] = []
    for key, operations, least in (
        ("incrementOperations", increments, 1),
        ("decrementOperations", decrements, 1),
        ("setFiniteOperations", set_finite, 0),
    ):
        for operation in operations:
            if operation.quantity < least:
                raise ValueError(
                    f"{key}: quantity for variant {operation.variant_id} must be at least "
                    f"{least}, not {operation.quantity}"
                )
            named.append(operation.variant_id)
        if operations:
            body[key] = [{"variantId": op.variant_id, "quantity": op.quantity} for op in operations]
    if set_unlimited:
        body["setUnlimitedOperations"] = list(set_unlimited)
        named.extend(set_unlimited)
    if not named:
        raise ValueError("no stock operations to send")
    if len(named) > MAX_OPERATIONS:
        raise ValueError(f"{len(named)} stock operations (at most {MAX_OPERATIONS} per call)")
    if not all(isinstance(variant_id, str) and variant_id for variant_id in named):
        raise ValueError("every variant id must be a non-empty string")
    repeated = sorted({variant_id for variant_id in named if named.count(variant_id) > 1})
    if repeated:
        raise ValueError(f"variant named in more than one operation: {', '.join(repeated)}")
    return body


# An empty page is a few dozen bytes; a larger one goes to the models, decoded once.
_EMPTY_PAGE_MOST = 1024


def _empty_page(content: bytes, key: str) -> tuple[bool, str | None] | None:
    """(hasNextPage, nextPageCursor) when ``content`` is a page with no records in a shape
    the models would read the same way, else None (the models read it).

    A quiet import reads one such page per connection; reading it without the models
    means a ``run`` whose connections are all quiet never builds them (their schemas are
    built on first use, about 25 ms of the start that every worker would inherit).
    """
    if len(content) > _EMPTY_PAGE_MOST:
        return None
    try:
        data = json.loads(content)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get(key, ()) not in ([], None):
        return None
    paging = data.get("pagination")
    if paging is None:
        return False, None
    if not isinstance(paging, dict):
        return None
    more = paging.get("hasNextPage", False)
    cursor = paging.get("nextPageCursor")
    if not isinstance(more, bool) or not (cursor is None or isinstance(cursor, str)):
        return None
    return more, cursor or None


def describe(error: ValidationError, *, most: int = 3) -> str:
    """A validation error on one line: ``field.path: message; ...`` (never the input)."""
    problems = [
        f"{'.'.join(str(part) for part in item['loc']) or 'record'}: {item['msg']}"
        for item in error.errors(include_url=False, include_input=False)
    ]
    extra = f"; and {len(problems) - most} more" if len(problems) > most else ""
    return one_line("; ".join(problems[:most]) + extra, limit=300)


def _validate_each(
    model: type[M], records: list[Any], id_key: str
) -> tuple[list[M], list[InvalidRecord]]:
    valid: list[M] = []
    invalid: list[InvalidRecord] = []
    validate = model.model_validate
    for record in records:
        try:
            valid.append(validate(record))
        except ValidationError as error:
            ident = record.get(id_key) if isinstance(record, dict) else None
            invalid.append(
                InvalidRecord(ident if isinstance(ident, str) else None, describe(error))
            )
    return valid, invalid


def _logged(records: list[M], invalid: list[InvalidRecord]) -> list[M]:
    for record in invalid:
        logger.warning("skipped an invalid record %s: %s", record.id or "(no id)", record.error)
    return records


def _segment(value: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string")
    return quote(value, safe="")
