"""Issue 12 rules 4 and 5 in `sqsync check`: which site each key opens (one Squarespace
site is one connection), and orders stored under a connection no longer in the config."""

from __future__ import annotations

import json

import httpx
import pytest
from click.testing import CliRunner

from factories import DEFAULT_CONNECTION, insert_order, write_config
from sqsync.cli import cli
from sqsync.config import load_config
from sqsync.squarespace import Client, NotFoundError
from sqsync.squarespace.testing import FakeApi, error_json, json_response, scripted
from sqsync.store import Store

WEBSITE = "/1.0/authorization/website"


def connection(name: str, url: str, **fields) -> dict:
    key_env = f"{name.upper()}_KEY"
    return {
        **DEFAULT_CONNECTION,
        "name": name,
        "order_prefix": f"{name}-",
        "api_url": url,
        "api_key_env": key_env,
        "stock_sync": True,
        **fields,
    }


def check(path, *args, **invoke):
    return CliRunner().invoke(cli, ["--config", str(path), "check", *args], **invoke)


# --- the client and the emulator ---------------------------------------------------------


def test_get_website_reads_the_site_tolerantly():
    body = {"id": 42, "websiteTitle": "Acme", "websiteUrl": "https://acme.example", "x": 1}
    api = FakeApi(scripted(json_response(200, {**body, "createdOn": "not a time"})))
    site = api.client().get_website()
    assert (site.id, site.website_title, site.website_url) == ("42", "Acme", "https://acme.example")
    assert site.created_on is None and site.time_zone is None
    assert api.requests[0].url.path == WEBSITE


def test_get_website_404_is_not_found():
    api = FakeApi(scripted(json_response(404, error_json("INVALID_REQUEST_ERROR"))))
    with pytest.raises(NotFoundError):
        api.client().get_website()


def test_the_emulator_names_one_site_for_all_its_keys_unless_told(make_emulator):
    emulator = make_emulator()
    second = emulator.add_key("second-key")
    other = emulator.state.add_key("other-key", site="elsewhere")

    def site(key):
        with Client(key, base_url=emulator.url, rate_limit_per_minute=0) as client:
            return client.get_website()

    mine = site(emulator.api_key)
    assert mine.id and mine.website_title and mine.website_url and mine.time_zone
    assert site(second).id == mine.id
    assert site(other).id == "elsewhere"
    assert make_emulator().state.site_id != emulator.state.site_id  # one site per emulator


# --- check shows each site --------------------------------------------------------------


def test_check_shows_the_site_of_each_key(tmp_path, make_emulator, monkeypatch):
    emulator = make_emulator()
    monkeypatch.setenv("ACME_KEY", emulator.api_key)
    path = write_config(tmp_path, connections=[connection("acme", emulator.url)])
    result = check(path)
    assert result.exit_code == 0, result.output
    assert f"  site: ok: {emulator.state.site_title} (https://" in result.stdout
    assert emulator.stats.count("GET", WEBSITE) == 1

    [line] = check(path, "--json").stdout.splitlines()
    report = json.loads(line)
    assert report["ok"] is True
    assert report["site"] == {
        "id": emulator.state.site_id,
        "title": emulator.state.site_title,
        "url": "https://emulated-shop.squarespace.com",
    }
    probe = next(c for c in report["checks"] if c["check"] == "site")
    assert sorted(probe) == ["check", "context_id", "detail", "ok", "required"]
    assert probe["ok"] is True and probe["required"] is False


def test_two_connections_whose_keys_open_one_site_fail_naming_both(
    tmp_path, make_emulator, monkeypatch
):
    emulator = make_emulator()
    monkeypatch.setenv("ACME_KEY", emulator.api_key)
    monkeypatch.setenv("BETA_KEY", emulator.add_key("a-second-key-of-the-same-site"))
    conns = [connection("acme", emulator.url), connection("beta", emulator.url)]
    path = write_config(tmp_path, connections=conns)

    result = check(path)
    assert result.exit_code == 1, result.output
    assert "acme (http" in result.stdout and ": OK" in result.stdout
    assert "beta (" in result.stdout and ": FAILED" in result.stdout
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("  site: FAILED"))
    assert 'connection "acme" opens the same Squarespace site' in line
    assert '"beta"' in line and "one site is one connection" in line
    assert "a-second-key-of-the-same-site" not in result.output

    reports = [json.loads(ln) for ln in check(path, "--json").stdout.splitlines()]
    beta = next(r for r in reports if r["connection"] == "beta")
    assert beta["ok"] is False
    site = next(c for c in beta["checks"] if c["check"] == "site")
    assert site["ok"] is False and site["required"] is True


def test_connections_of_different_sites_pass(tmp_path, make_emulator, monkeypatch):
    acme, beta = make_emulator(seed=1), make_emulator(seed=2)
    monkeypatch.setenv("ACME_KEY", acme.api_key)
    monkeypatch.setenv("BETA_KEY", beta.api_key)
    path = write_config(
        tmp_path, connections=[connection("acme", acme.url), connection("beta", beta.url)]
    )
    result = check(path, "--json")
    assert result.exit_code == 0, result.output
    reports = [json.loads(ln) for ln in result.stdout.splitlines()]
    assert len({r["site"]["id"] for r in reports}) == 2


def test_a_key_refused_the_site_endpoint_still_passes(tmp_path, make_emulator, monkeypatch):
    emulator = make_emulator()
    monkeypatch.setenv("ACME_KEY", emulator.state.add_key("no-site-key", website=None))
    path = write_config(tmp_path, connections=[connection("acme", emulator.url)])
    result = check(path)
    assert result.exit_code == 0, result.output
    assert "  site: unknown: Squarespace did not say which site this key opens (403)" in (
        result.stdout
    )
    report = json.loads(check(path, "--json").stdout)
    assert report["ok"] is True and report["site"] is None
    probe = next(c for c in report["checks"] if c["check"] == "site")
    assert probe["ok"] is False and probe["required"] is False


def test_a_404_from_the_site_endpoint_still_passes(tmp_path, monkeypatch):
    # Squarespace may not serve the (unconfirmed) endpoint at all.
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == WEBSITE:
            return json_response(404, error_json("INVALID_REQUEST_ERROR", "INVALID_ARGUMENT"))
        key = "result" if "orders" in request.url.path else "inventory"
        return json_response(200, {key: [], "pagination": {"hasNextPage": False}})

    def factory(connection, **overrides):
        transport = httpx.MockTransport(handler)
        return Client(connection.api_key(), base_url=connection.api_url, transport=transport)

    monkeypatch.setenv("ACME_KEY", "sk-test-key")
    path = write_config(tmp_path, stock_sync=True)
    result = check(path, obj={"client_factory": factory})
    assert result.exit_code == 0, result.output
    assert "  site: unknown: Squarespace did not say which site this key opens (404)" in (
        result.stdout
    )


# --- check reports orders stored under a connection that is not configured ---------------


def test_orders_under_a_connection_not_in_the_config_fail_check(
    tmp_path, make_emulator, monkeypatch
):
    emulator = make_emulator()
    monkeypatch.setenv("ACME_KEY", emulator.api_key)
    path = write_config(tmp_path, connections=[connection("acme", emulator.url)])
    store = Store.open(load_config(path).store_path)
    for _ in range(3):
        insert_order(store, connection="old-acme")
    insert_order(store, connection="acme")
    store.close()

    result = check(path)
    assert result.exit_code == 1, result.output
    assert "old-acme (not in the config): FAILED" in result.stdout
    assert "3 orders are stored under connection old-acme, which is not in the config" in (
        result.stdout
    )
    assert "sqsync connections rename old-acme NEW_NAME" in result.stdout

    lines = [json.loads(ln) for ln in check(path, "--json").stdout.splitlines()]
    orphan = next(r for r in lines if r["connection"] == "old-acme")
    assert orphan["ok"] is False and orphan["site"] is None
    assert orphan["checks"][0]["check"] == "configured"


def test_check_does_not_create_the_store(tmp_path, make_emulator, monkeypatch):
    emulator = make_emulator()
    monkeypatch.setenv("ACME_KEY", emulator.api_key)
    path = write_config(tmp_path, connections=[connection("acme", emulator.url)])
    assert check(path).exit_code == 0
    assert not load_config(path).store_path.exists()
