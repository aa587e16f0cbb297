"""What every request carries: headers, timeouts, the base URL, the request count."""

from __future__ import annotations

import httpx
import pytest

from sqsync import PROJECT_URL, __version__
from sqsync.squarespace import Client, StockOperation
from sqsync.squarespace.testing import FakeApi, json_response, order_json, scripted


def get_then_post() -> FakeApi:
    """One GET (no body) and one POST (a JSON body), recorded."""
    api = FakeApi(scripted(json_response(200, order_json()), json_response(204)))
    with api.client() as client:
        client.get_order("order00000001")
        client.adjust_inventory(
            idempotency_key="k1", increments=[StockOperation(variant_id="v", quantity=1)]
        )
    return api


def test_every_request_carries_auth_user_agent_and_accept() -> None:
    api = get_then_post()
    assert len(api.requests) == 2
    for request in api.requests:
        assert request.headers["Authorization"] == f"Bearer {api.api_key}"
        assert request.headers["User-Agent"] == f"sqsync/{__version__} (+{PROJECT_URL})"
        assert request.headers["Accept"] == "application/json"


def test_a_compressed_answer_is_asked_for_and_read() -> None:
    # Requests go to the transport whole, with no httpx.Client to add its defaults: the
    # client asks for gzip itself (order pages are large) and decodes what comes back.
    import gzip
    import json

    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Accept-Encoding", ""))
        body = gzip.compress(json.dumps(order_json(id="zipped")).encode())
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        return httpx.Response(200, content=body, headers=headers)

    with FakeApi(handler).client() as client:
        assert client.get_order("zipped").id == "zipped"
    assert "gzip" in seen[0]


def test_content_type_json_only_on_requests_with_a_body() -> None:
    get, post = get_then_post().requests
    assert "Content-Type" not in get.headers
    assert post.headers["Content-Type"] == "application/json"


def test_connect_and_read_timeouts_are_set() -> None:
    seen: list[dict[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return json_response(200, order_json())

    with FakeApi(handler).client(timeout=12.0, connect_timeout=3.0) as client:
        client.get_order("x")
    assert seen == [{"connect": 3.0, "read": 12.0, "write": 12.0, "pool": 12.0}]


@pytest.mark.parametrize("base_url", ["https://api.example.test", "https://api.example.test/"])
def test_base_url_with_or_without_trailing_slash(base_url: str) -> None:
    api = FakeApi(scripted(json_response(200, order_json())))
    with api.client(base_url=base_url) as client:
        client.get_order("abc")
    assert str(api.requests[0].url) == "https://api.example.test/1.0/commerce/orders/abc"


def test_path_segments_are_quoted() -> None:
    api = FakeApi(scripted(json_response(200, order_json())))
    with api.client() as client:
        client.get_order("a/b?c")
    assert api.requests[0].url.raw_path == b"/1.0/commerce/orders/a%2Fb%3Fc"


def test_request_count_counts_every_attempt() -> None:
    api = FakeApi(scripted(json_response(503), json_response(200, order_json())))
    with api.client() as client:
        assert client.request_count == 0
        client.get_order("x")
        assert client.request_count == 2


def test_repr_and_client_never_show_the_key() -> None:
    client = FakeApi(scripted()).client()
    assert "SECRET" not in repr(client)
    client.close()


def test_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="api_key"):
        Client("")
