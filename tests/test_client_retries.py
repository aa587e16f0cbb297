"""The one retry loop, the no-blind-retry rule for fulfilments, and client-side pacing.

Sleeps go to a FakeClock, so these tests assert the delays asked for without waiting.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import httpx
import pytest

from sqsync.squarespace import (
    ConflictError,
    FulfilmentShipment,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitedError,
    ServerError,
    SquarespaceError,
    StockOperation,
    TransportError,
)
from sqsync.squarespace._pacing import backoff_delay, retry_after_seconds
from sqsync.squarespace.testing import (
    FakeApi,
    error_json,
    json_response,
    order_json,
    scripted,
)

OK_ORDER = json_response(200, order_json())
SHIPMENT = FulfilmentShipment(
    ship_date=datetime(2024, 3, 13, tzinfo=UTC),
    carrier_name="DPD",
    service="Next day",
    tracking_number="15501234",
)


class TopRng(random.Random):
    """Jitter always at its top (100 %), so delays are the plain capped doubling."""

    def uniform(self, a: float, b: float) -> float:
        return b


def connect_error() -> httpx.ConnectError:
    return httpx.ConnectError("[Errno 111] Connection refused")


def fulfil(api: FakeApi, **options: object) -> None:
    with api.client(**options) as client:
        client.fulfil_order("o1", [SHIPMENT], send_notification=True)


def test_429_waits_retry_after_when_sent() -> None:
    api = FakeApi(
        scripted(
            json_response(429, error_json("TOO_MANY_REQUESTS"), **{"Retry-After": "7"}), OK_ORDER
        )
    )
    with api.client() as client:
        client.get_order("x")
    assert api.clock.sleeps == [7.0]


def test_429_without_retry_after_waits_the_cooldown() -> None:
    api = FakeApi(scripted(json_response(429), json_response(429), OK_ORDER))
    with api.client() as client:
        client.get_order("x")
    assert api.clock.sleeps == [60.0, 60.0]

    api = FakeApi(scripted(json_response(429), OK_ORDER))
    with api.client(rate_limit_cooldown=5.0) as client:
        client.get_order("x")
    assert api.clock.sleeps == [5.0]


def test_429_on_every_attempt_raises_rate_limited() -> None:
    api = FakeApi(scripted(*[json_response(429, error_json("TOO_MANY_REQUESTS"))] * 3))
    with api.client(max_attempts=3) as client, pytest.raises(RateLimitedError) as caught:
        client.get_order("x")
    assert caught.value.status == 429
    assert len(api.requests) == 3
    assert api.clock.sleeps == [60.0, 60.0]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_retries_with_capped_doubling_backoff(status: int) -> None:
    api = FakeApi(scripted(*[json_response(status)] * 7))
    with api.client(max_attempts=7, rng=TopRng()) as client, pytest.raises(ServerError):
        client.get_order("x")
    assert len(api.requests) == 7
    assert api.clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_backoff_is_jittered_between_half_and_all_of_the_ceiling() -> None:
    rng = random.Random(4)
    delays = [backoff_delay(retry, rng) for retry in (1, 2, 3, 4, 5, 6) for _ in range(50)]
    ceilings = [min(8.0, 0.5 * 2 ** (retry - 1)) for retry in (1, 2, 3, 4, 5, 6) for _ in range(50)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) > 100  # really random, not a constant


def test_connection_errors_retry_then_succeed() -> None:
    api = FakeApi(scripted(connect_error(), httpx.ReadTimeout("slow"), OK_ORDER))
    with api.client(rng=TopRng()) as client:
        assert client.get_order("x").id == "order00000001"
        assert client.request_count == 3
    assert api.clock.sleeps == [0.5, 1.0]


def test_connection_errors_on_every_attempt_raise_transport_error() -> None:
    api = FakeApi(scripted(*[connect_error()] * 5))
    with api.client() as client, pytest.raises(TransportError, match="after 5 attempts"):
        client.get_order("x")
    assert len(api.requests) == 5


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 409, 501])
def test_other_errors_are_never_retried(status: int) -> None:
    api = FakeApi(scripted(json_response(status, error_json("X"))))
    with api.client() as client, pytest.raises(SquarespaceError) as caught:
        client.get_order("x")
    assert caught.value.status == status
    assert len(api.requests) == 1
    assert api.clock.sleeps == []


def test_max_attempts_one_means_no_retry() -> None:
    api = FakeApi(scripted(json_response(503)))
    with api.client(max_attempts=1) as client, pytest.raises(ServerError):
        client.get_order("x")
    assert len(api.requests) == 1


def test_each_retry_is_logged_with_its_attempt_number(caplog: pytest.LogCaptureFixture) -> None:
    api = FakeApi(scripted(json_response(503), json_response(429), OK_ORDER))
    with api.client() as client, caplog.at_level("DEBUG", logger="sqsync"):
        client.get_order("x")
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == 2
    assert "HTTP 503 on attempt 1 of 5" in retries[0]
    assert "HTTP 429 on attempt 2 of 5" in retries[1]
    assert api.api_key not in caplog.text
    assert "Bearer" not in caplog.text


def test_adjustment_retries_reuse_the_same_idempotency_key() -> None:
    api = FakeApi(
        scripted(json_response(503), connect_error(), httpx.ReadError("reset"), json_response(204))
    )
    with api.client() as client:
        client.adjust_inventory(
            idempotency_key="adj-1", increments=[StockOperation(variant_id="v", quantity=2)]
        )
    assert len(api.requests) == 4
    assert {r.headers["Idempotency-Key"] for r in api.requests} == {"adj-1"}
    assert len({r.content for r in api.requests}) == 1


def test_adjustment_meeting_its_own_attempt_in_flight_resends_the_same_key() -> None:
    # A timed-out first attempt may still be running when the retry arrives: Squarespace
    # answers 409 CONCURRENT_MODIFICATION, and only the same key can be safely resent.
    busy = json_response(409, error_json("CONFLICT", "CONCURRENT_MODIFICATION"))
    api = FakeApi(scripted(httpx.ReadTimeout("timed out"), busy, json_response(204)))
    with api.client() as client:
        client.adjust_inventory(
            idempotency_key="adj-2", increments=[StockOperation(variant_id="v", quantity=1)]
        )
    assert len(api.requests) == 3
    assert {r.headers["Idempotency-Key"] for r in api.requests} == {"adj-2"}


def test_other_conflicts_on_an_adjustment_are_not_retried() -> None:
    api = FakeApi(scripted(json_response(409, error_json("CONFLICT", "INSUFFICIENT_STOCK"))))
    with api.client() as client, pytest.raises(ConflictError):
        client.adjust_inventory(
            idempotency_key="adj-3", decrements=[StockOperation(variant_id="v", quantity=9)]
        )
    assert len(api.requests) == 1


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("timed out"),
        httpx.ReadError("connection reset"),
        httpx.RemoteProtocolError("server disconnected without sending a response"),
        httpx.WriteError("broken pipe"),
    ],
)
def test_fulfilment_possibly_sent_raises_outcome_unknown_without_retry(failure: Exception) -> None:
    api = FakeApi(scripted(failure))
    with pytest.raises(OutcomeUnknownError) as caught:
        fulfil(api)
    assert len(api.requests) == 1
    assert api.clock.sleeps == []
    assert "POST api.example.test/1.0/commerce/orders/o1/fulfillments" in str(caught.value)
    assert type(failure).__name__ in str(caught.value)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 507])
def test_fulfilment_answered_5xx_raises_outcome_unknown_without_retry(status: int) -> None:
    api = FakeApi(scripted(json_response(status, error_json("SERVER_ERROR", context_id="CTX5"))))
    with pytest.raises(OutcomeUnknownError) as caught:
        fulfil(api)
    assert len(api.requests) == 1
    assert caught.value.status == status
    assert caught.value.context_id == "CTX5"


def test_fulfilment_never_sent_or_rate_limited_is_retried() -> None:
    api = FakeApi(
        scripted(
            connect_error(),
            httpx.ConnectTimeout("connect timed out"),
            json_response(429),
            json_response(204),
        )
    )
    fulfil(api, rng=TopRng())
    assert len(api.requests) == 4
    assert api.clock.sleeps == [0.5, 1.0, 60.0]


def test_fulfilment_4xx_is_its_own_error_not_outcome_unknown() -> None:
    api = FakeApi(scripted(json_response(404, error_json("INVALID_REQUEST_ERROR"))))
    with pytest.raises(NotFoundError):
        fulfil(api)
    assert len(api.requests) == 1


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("5", 5.0),
        ("0.5", 0.5),
        ("soon", None),
        ("-3", None),
        ("nan", None),
        ("99999", 600.0),
    ],
)
def test_retry_after_parsing(header: str | None, expected: float | None) -> None:
    assert retry_after_seconds(header) == expected


def test_pacing_the_301st_request_in_a_minute_waits_for_the_window() -> None:
    api = FakeApi(lambda request: OK_ORDER)
    clock = api.clock
    with api.client() as client:
        start = clock.now
        for _ in range(300):
            client.get_order("x")
            clock.advance(0.1)  # 300 requests over 30 s
        assert clock.sleeps == []
        client.get_order("x")
    # The first request left at `start`; the window frees 60 s after it.
    assert clock.sleeps == [pytest.approx(60.0 - 30.0)]
    assert clock.now == pytest.approx(start + 60.0)
    assert len(api.requests) == 301


def test_pacing_limit_is_configurable_and_sliding() -> None:
    api = FakeApi(lambda request: OK_ORDER)
    clock = api.clock
    with api.client(rate_limit_per_minute=2) as client:
        client.get_order("x")
        clock.advance(10)
        client.get_order("x")
        client.get_order("x")  # waits until the first send is 60 s old
        assert clock.sleeps == [pytest.approx(50.0)]
        client.get_order("x")  # then until the second one is
        assert clock.sleeps == [pytest.approx(50.0), pytest.approx(10.0)]


def test_pacing_counts_a_slow_request_from_its_answer_not_its_send() -> None:
    # The server counts arrivals, which may be as late as the answer: the window must
    # start from there, or jitter lets one request too many into the server's minute.
    def slow(request: httpx.Request) -> httpx.Response:
        api.clock.advance(5)
        return OK_ORDER

    api = FakeApi(slow)
    with api.client(rate_limit_per_minute=2) as client:
        client.get_order("x")  # sent at 0, answered at 5
        client.get_order("x")  # sent at 5, answered at 10
        client.get_order("x")  # must wait until 5 + 60, not 0 + 60
        assert api.clock.sleeps == [pytest.approx(55.0)]


def test_pacing_does_not_spin_when_the_clock_stands_still() -> None:
    sleeps: list[float] = []
    api = FakeApi(lambda request: OK_ORDER)
    with api.client(rate_limit_per_minute=1, sleep=sleeps.append, monotonic=lambda: 5.0) as client:
        client.get_order("x")
        client.get_order("x")
    assert sleeps == [60.0]


def test_pacing_zero_is_off_and_negative_is_refused() -> None:
    api = FakeApi(lambda request: OK_ORDER)
    with api.client(rate_limit_per_minute=0, monotonic=lambda: 5.0) as client:
        for _ in range(400):
            client.get_order("x")
    assert api.clock.sleeps == []
    with pytest.raises(ValueError, match="rate_limit_per_minute"):
        FakeApi(scripted()).client(rate_limit_per_minute=-1)
