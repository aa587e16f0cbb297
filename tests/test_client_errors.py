"""Error answers map to typed exceptions with one-line messages that never hold the key."""

from __future__ import annotations

import logging

import httpx
import pytest

from sqsync.errors import SqsyncError
from sqsync.squarespace import (
    AuthenticationError,
    ConflictError,
    FulfilmentShipment,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    SquarespaceError,
    StockOperation,
    TransportError,
    UnexpectedResponseError,
    WebsiteExpiredError,
    errors,
)
from sqsync.squarespace.client import Client
from sqsync.squarespace.testing import FakeApi, error_json, json_response, scripted

ORDER_PATH = "/1.0/commerce/orders/o1"
ADJUST_PATH = "/1.0/commerce/inventory/adjustments"


def call(api: FakeApi, path: str, **options: object) -> None:
    """GET an order, or POST an adjustment, depending on the path under test."""
    with api.client(max_attempts=2, **options) as client:
        if path == ADJUST_PATH:
            client.adjust_inventory(
                idempotency_key="k", increments=[StockOperation(variant_id="v", quantity=1)]
            )
        else:
            client.get_order("o1")


def failure(response: httpx.Response, path: str = ORDER_PATH) -> SquarespaceError:
    api = FakeApi(scripted(response, response))
    with pytest.raises(SquarespaceError) as caught:
        call(api, path)
    return caught.value


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (402, WebsiteExpiredError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (405, SquarespaceError),
        (409, ConflictError),
        (429, RateLimitedError),
        (500, ServerError),
        (503, ServerError),
    ],
)
def test_status_maps_to_its_exception_with_the_envelope(status: int, cls: type) -> None:
    body = error_json("SOME_TYPE", "SOME_SUBTYPE", "Developer text", context_id="RUPSUSPOW")
    error = failure(json_response(status, body))
    assert type(error) is cls
    assert (error.status, error.type, error.subtype) == (status, "SOME_TYPE", "SOME_SUBTYPE")
    assert (error.message, error.context_id) == ("Developer text", "RUPSUSPOW")
    line = str(error)
    assert "\n" not in line
    assert "GET api.example.test/1.0/commerce/orders/o1" in line
    assert "contextId RUPSUSPOW" in line


def test_401_says_the_key_was_refused_and_where() -> None:
    error = failure(json_response(401, error_json("AUTHORIZATION_ERROR")))
    assert str(error).startswith("the API key was refused (401) by api.example.test")
    assert "check the key" in str(error)


def test_402_says_billing_has_lapsed() -> None:
    error = failure(json_response(402, error_json("WEBSITE_EXPIRED")))
    assert "the Squarespace site's billing has lapsed" in str(error)


@pytest.mark.parametrize(
    ("path", "permission"), [(ORDER_PATH, "Orders"), (ADJUST_PATH, "Inventory")]
)
def test_403_names_the_missing_permission_and_the_way_out(path: str, permission: str) -> None:
    error = failure(json_response(403, error_json("AUTHORIZATION_ERROR", "MISSING_SCOPE")), path)
    assert isinstance(error, PermissionDeniedError)
    assert error.permission == permission
    assert f"lacks the {permission} permission" in str(error)
    assert "cannot be changed" in str(error)
    assert f"new key with {permission} Read & Write" in str(error)


def test_409_carries_its_subtype() -> None:
    body = error_json("CONFLICT", "INSUFFICIENT_STOCK", "Variant v has insufficient stock")
    error = failure(json_response(409, body), ADJUST_PATH)
    assert isinstance(error, ConflictError)
    assert error.subtype == "INSUFFICIENT_STOCK"
    assert "CONFLICT/INSUFFICIENT_STOCK" in str(error)
    assert "POST api.example.test/1.0/commerce/inventory/adjustments" in str(error)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(
            502,
            content=b"<html><body><h1>502 Bad\nGateway</h1></body></html>",
            headers={"Content-Type": "text/html"},
        ),
        httpx.Response(500, content=b""),
        httpx.Response(400, content=b"{not json"),
        json_response(400, ["a", "list"]),
        json_response(400, {"unrelated": 1}),
    ],
)
def test_non_json_html_and_partial_bodies_are_tolerated(response: httpx.Response) -> None:
    error = failure(response)
    assert error.status == response.status_code
    assert error.context_id is None
    assert "\n" not in str(error)
    assert "<" not in str(error)


def test_html_body_text_is_summarised() -> None:
    html = httpx.Response(
        502, content=b"<html><h1>Bad Gateway</h1></html>", headers={"Content-Type": "text/html"}
    )
    assert "non-JSON body (text/html): Bad Gateway" in str(failure(html))


def test_long_messages_are_capped_on_one_line() -> None:
    error = failure(json_response(400, error_json("X", message="word\n" * 500)))
    assert len(str(error)) <= 400
    assert "\n" not in str(error)


KEY = FakeApi(scripted()).api_key


def every_error() -> list[SquarespaceError]:
    """One of each error the client raises, each provoked through a real client call."""
    echo = error_json("AUTHORIZATION_ERROR", message=f"bad token Bearer {KEY}")
    made: list[SquarespaceError] = [
        failure(json_response(status, echo)) for status in (400, 401, 402, 403, 404, 409, 429, 503)
    ]
    shipment = FulfilmentShipment(
        ship_date="2024-03-13T00:00:00Z", carrier_name="x" * 101, service="s", tracking_number="t"
    )
    for handler, action in [
        (scripted(), lambda c: c.fulfil_order("o1", [shipment], send_notification=True)),
        (
            scripted(json_response(503, echo)),
            lambda c: c.fulfil_order("o1", [], send_notification=True),
        ),
        (
            scripted(httpx.ReadTimeout(f"x {KEY}")),
            lambda c: c.fulfil_order("o1", [], send_notification=True),
        ),
        (scripted(*[httpx.ConnectError("refused")] * 2), lambda c: c.get_order("o1")),
        (scripted(httpx.UnsupportedProtocol("nope")), lambda c: c.get_order("o1")),
        (scripted(httpx.Response(200, content=b"junk")), lambda c: c.get_order("o1")),
    ]:
        with (
            pytest.raises(SquarespaceError) as caught,
            FakeApi(handler).client(max_attempts=2) as client,
        ):
            action(client)
        made.append(caught.value)
    return made


def test_the_key_never_appears_in_any_error_or_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        made = every_error()
    kinds = {type(error) for error in made}
    assert {
        OutcomeUnknownError,
        TransportError,
        UnexpectedResponseError,
        InvalidRequestError,
    } <= kinds
    for error in made:
        for text in (str(error), repr(error), repr(error.args), str(error.message)):
            assert KEY not in text, type(error).__name__
    assert KEY not in caplog.text
    assert "Bearer sk" not in caplog.text


def test_a_server_echoing_the_key_is_redacted() -> None:
    echo = error_json("AUTHORIZATION_ERROR", message=f"token {KEY} unknown")
    error = failure(json_response(401, echo))
    assert error.message == "token *** unknown"


def test_errors_are_sqsync_errors_with_exit_code_1() -> None:
    # The CLI root catches SqsyncError; its fallback by module name must keep working too.
    assert issubclass(SquarespaceError, SqsyncError)
    assert SquarespaceError.exit_code == 1
    assert SquarespaceError.__module__ == "sqsync.squarespace.errors"


def test_str_and_attributes_are_the_envelope_and_where() -> None:
    body = error_json("INVALID_REQUEST", message="bad cursor", context_id="ctx-1")
    error = failure(json_response(400, body))
    assert isinstance(error, InvalidRequestError)
    assert (error.status, error.type, error.context_id) == (400, "INVALID_REQUEST", "ctx-1")
    line = (
        "Squarespace refused the request as invalid (400 INVALID_REQUEST): bad cursor "
        "(GET api.example.test/1.0/commerce/orders/o1, contextId ctx-1)"
    )
    assert str(error) == error.args[0] == line


def test_the_tree_is_drawn_in_the_module_docstring() -> None:
    for cls in (
        InvalidRequestError, AuthenticationError, WebsiteExpiredError, PermissionDeniedError,
        NotFoundError, ConflictError, RateLimitedError, ServerError, OutcomeUnknownError,
        TransportError, UnexpectedResponseError,
    ):  # fmt: skip
        assert issubclass(cls, SquarespaceError)
        assert cls.__name__ in (errors.__doc__ or "")


def test_unsupported_protocol_is_not_retried() -> None:
    api = FakeApi(scripted(httpx.UnsupportedProtocol("nope")))
    with api.client() as client, pytest.raises(TransportError, match="request failed"):
        client.get_order("o1")
    assert len(api.requests) == 1


def test_client_type_is_exported() -> None:
    assert Client.__module__ == "sqsync.squarespace.client"


@pytest.mark.parametrize("key", ["sk-SECRET\nX: 1", "sk-SECRET\u00a0", "sk SECRET"])
def test_a_key_that_cannot_be_a_header_is_refused_without_quoting_it(key: str) -> None:
    with pytest.raises(ValueError) as info:
        Client(key)
    assert "SECRET" not in str(info.value)
