"""`sqsync check` (issue 6 rule 5) against the emulator over loopback HTTP."""

import json

import pytest
from click.testing import CliRunner

from factories import write_config
from sqsync.cli import cli


@pytest.fixture
def check(tmp_path, emulator, monkeypatch):
    def invoke(key: str | None = None, *args: str, **overrides):
        overrides.setdefault("stock_sync", True)
        path = write_config(tmp_path, api_url=emulator.url, **overrides)
        if key is None:
            monkeypatch.delenv("ACME_KEY", raising=False)
        else:
            monkeypatch.setenv("ACME_KEY", key)
        return CliRunner().invoke(cli, ["--config", str(path), "check", *args])

    return invoke


def test_a_full_key_passes_reading_orders_and_inventory(check, emulator):
    result = check(emulator.api_key)
    assert result.exit_code == 0, result.output
    assert "acme" in result.output and ": OK" in result.output
    assert "orders: ok" in result.output and "inventory: ok" in result.output
    assert emulator.stats.count("GET", "/1.0/commerce/orders") == 1
    assert emulator.stats.count("GET", "/1.0/commerce/inventory") == 1
    assert emulator.api_key not in result.output


def test_key_without_inventory_permission_says_to_create_a_new_key(check, emulator):
    emulator.add_key("orders-only-key", orders="rw", inventory=None)
    result = check("orders-only-key")
    assert result.exit_code == 1
    line = next(ln for ln in result.output.splitlines() if "inventory:" in ln)
    assert "FAILED" in line and "Inventory permission (403)" in line
    assert "cannot gain permissions" in line
    assert "new key with Orders and Inventory Read & Write" in line
    assert "orders: ok" in result.output


def test_missing_inventory_permission_is_a_warning_when_stock_sync_is_off(check, emulator):
    emulator.add_key("orders-only-key", orders="rw", inventory=None)
    result = check("orders-only-key", stock_sync=False)
    assert result.exit_code == 0, result.output
    assert "inventory: warning:" in result.output
    assert "stock_sync is off" in result.output


def test_refused_key_mentions_the_advanced_plan(check):
    result = check("not-a-key-the-site-knows")
    assert result.exit_code == 1
    assert "refused (401)" in result.output and "Advanced plan" in result.output
    assert "not-a-key-the-site-knows" not in result.output


def test_402_is_reported_as_the_sites_billing_having_lapsed(check, emulator):
    emulator.add_key("expired-site-key", expired=True)
    result = check("expired-site-key")
    assert result.exit_code == 1
    assert "billing has lapsed (402)" in result.output


def test_unset_key_variable_is_a_config_error_before_any_request(check, emulator):
    # Issue 12 rule 2: as for every command, an unset key variable exits 2 in one line.
    result = check(None)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("sqsync: error: ")
    assert 'connection "acme": api_key_env' in result.stderr
    assert "ACME_KEY is not set" in result.stderr
    assert emulator.stats.requests == 0


def test_invalid_config_exits_2_with_one_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[[connections]]\nname = "acme"\nfrequency = "soon"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(path), "check"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "sqsync: error:" in result.output


def test_json_reports_each_check(check, emulator):
    emulator.add_key("orders-only-key", orders="rw", inventory=None)
    result = check("orders-only-key", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["connection"] == "acme" and report["ok"] is False
    checks = {c["check"]: c for c in report["checks"]}
    assert list(checks) == ["key", "orders", "inventory", "site"]
    assert checks["key"]["ok"] and checks["orders"]["ok"]
    assert checks["inventory"] == {
        "check": "inventory",
        "ok": False,
        "required": True,
        "detail": checks["inventory"]["detail"],
        "context_id": checks["inventory"]["context_id"],
    }
    assert checks["inventory"]["context_id"]
