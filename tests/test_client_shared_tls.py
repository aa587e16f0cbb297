"""Every client of a process shares one verifying TLS context (issue 15): building one
loads the CA bundle, and a run over hundreds of connections paid that per client."""

from __future__ import annotations

import ssl

import httpx

from sqsync.squarespace import client as client_module
from sqsync.squarespace.client import Client


def test_clients_share_one_tls_context_built_once(monkeypatch):
    built: list[ssl.SSLContext] = []
    real = httpx.create_ssl_context

    def counting(*args, **kwargs):
        built.append(real(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(client_module, "_ssl_context", None)
    monkeypatch.setattr(httpx, "create_ssl_context", counting)

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
