"""Every client of a process shares one verifying TLS context (issue 15): building one
loads the CA bundle, and a run over hundreds of connections paid that per client. A run
whose connections are all plain http (the emulator) never builds it."""

from __future__ import annotations

import ssl

import httpx

from sqsync.squarespace import client as client_module
from sqsync.squarespace.client import Client


def _counting_contexts(monkeypatch) -> list[ssl.SSLContext]:
    built: list[ssl.SSLContext] = []
    real = httpx.create_ssl_context

    def counting(*args, **kwargs):
        built.append(real(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(client_module, "_ssl_context", None)
    monkeypatch.setattr(httpx, "create_ssl_context", counting)
    monkeypatch.setattr(client_module, "_proxied", False)
    return built


def test_clients_share_one_tls_context_built_once(monkeypatch):
    built = _counting_contexts(monkeypatch)
    clients = [Client("key", base_url="https://api.example.test") for _ in range(3)]
    for client in clients:
        client.close()

    assert len(built) == 1
    context = client_module.shared_ssl_context()
    assert context is built[0]
    # still verifying: certificates required and host names checked
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_a_transport_passed_in_needs_no_tls_context(monkeypatch):
    monkeypatch.setattr(client_module, "_ssl_context", None)
    transport = httpx.MockTransport(lambda request: httpx.Response(204))
    Client("key", base_url="https://api.example.test", transport=transport).close()
    assert client_module._ssl_context is None


def test_a_runs_pool_sends_plain_http_without_loading_the_ca_bundle(monkeypatch, emulator):
    built = _counting_contexts(monkeypatch)
    with client_module.shared_pool():
        client = Client(emulator.api_key, base_url=emulator.url)
        assert client.get_website().id
        client.close()
    assert built == [] and client_module._ssl_context is None


def test_a_runs_pool_verifies_https_with_the_shared_context(monkeypatch):
    built = _counting_contexts(monkeypatch)
    with client_module.shared_pool():
        shared = client_module.shared_transport()
        assert shared is not None
        tls = shared._pool("https")._pool._ssl_context
        plain = shared._pool("http")._pool._ssl_context
    assert built == [tls]  # https: the verifying context, built once
    # plain http needs no certificate; its context trusts none, should one be asked for
    assert plain is not tls and plain.verify_mode == ssl.CERT_REQUIRED and plain.check_hostname
    assert plain.cert_store_stats()["x509_ca"] == 0
