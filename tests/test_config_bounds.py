"""Issue 12 rules 1 and 3: job intervals are bounded, and one Squarespace site is one
connection (no two connections read their key from one place)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from factories import DEFAULT_CONNECTION, write_config
from sqsync.cli import cli
from sqsync.config import MAX_MINUTES, load_config
from sqsync.errors import ConfigError


def error_of(tmp_path: Path, **overrides) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, **overrides))
    return str(caught.value)


# --- rule 1: frequency and stock_sync_frequency: 1 minute to 7 days ----------------------


@pytest.mark.parametrize("key", ["frequency", "stock_sync_frequency"])
@pytest.mark.parametrize(
    ("value", "minutes"), [(1, 1), ("1m", 1), (MAX_MINUTES, 10080), ("168h", 10080)]
)
def test_one_minute_to_seven_days_is_accepted(tmp_path, key, value, minutes):
    config = load_config(write_config(tmp_path, **{key: value}))
    assert getattr(config.connections[0], key) == minutes


@pytest.mark.parametrize("key", ["frequency", "stock_sync_frequency"])
@pytest.mark.parametrize(
    "value", [0, -1, 10**13, MAX_MINUTES + 1, "10081m", "169h", "0m", 1.5, 15.0, "15", "soon"]
)
def test_anything_else_is_a_config_error_naming_file_connection_and_key(tmp_path, key, value):
    message = error_of(tmp_path, **{key: value})
    assert message.startswith(f'{tmp_path / "sqsync.toml"}: connection "acme": {key}: ')
    assert "\n" not in message


def test_the_message_says_the_bounds(tmp_path):
    assert error_of(tmp_path, frequency=10**13).endswith(
        "frequency: must be at least 1 minute and at most 7 days (10080 minutes), "
        "got 10000000000000"
    )


@pytest.mark.parametrize("command", [["run"], ["run", "--force"], ["status"], ["cron"], ["check"]])
def test_a_huge_frequency_no_longer_crashes_run_and_status(tmp_path, monkeypatch, command):
    # Before, frequency = 10**13 loaded, then every run and status died on a timedelta.
    monkeypatch.setenv("ACME_KEY", "sk-test-key")
    path = write_config(tmp_path, frequency=10**13)
    result = CliRunner().invoke(cli, ["--config", str(path), *command])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert f'{path}: connection "acme": frequency: must be at least 1 minute' in result.stderr


# --- rule 3 at load time: no two connections read their key from one place --------------


def two(first: dict, second: dict) -> list[dict]:
    beta = {**DEFAULT_CONNECTION, "name": "beta", "order_prefix": "B-", **second}
    return [{**DEFAULT_CONNECTION, **first}, beta]


def only(source: dict, **fields) -> dict:
    """A connection reading its key from ``source`` (e.g. api_key_file) instead of the env."""
    merged = {**DEFAULT_CONNECTION, **fields}
    return {**{k: v for k, v in merged.items() if k != "api_key_env"}, **source}


def test_the_same_api_key_env_in_two_connections_is_refused(tmp_path):
    message = error_of(tmp_path, connections=two({}, {}), own_keys=False)
    assert message.startswith(f'{tmp_path / "sqsync.toml"}: connection "beta": api_key_env: ')
    assert 'connection "acme" reads its key from the same place' in message
    assert "one Squarespace site is one connection" in message


def test_the_same_api_key_file_in_two_connections_is_refused(tmp_path):
    (tmp_path / "keys").mkdir()
    first = only({"api_key_file": "keys/acme.key"})
    second = only({"api_key_file": "./keys/../keys/acme.key"}, name="beta", order_prefix="B-")
    message = error_of(tmp_path, connections=[first, second])
    assert 'connection "beta": api_key_file: connection "acme" reads its key' in message


def test_different_key_sources_are_fine(tmp_path):
    config = load_config(write_config(tmp_path, connections=two({}, {"api_key_env": "BETA_KEY"})))
    assert [c.name for c in config.connections] == ["acme", "beta"]


# --- rule 3 once keys are resolved: two connections with one key ---------------------------


def test_resolve_keys_refuses_two_connections_with_one_key_naming_both(tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_KEY", "sk-shared-SECRET")
    monkeypatch.setenv("BETA_KEY", "sk-shared-SECRET")
    config = load_config(write_config(tmp_path, connections=two({}, {"api_key_env": "BETA_KEY"})))
    with pytest.raises(ConfigError) as caught:
        config.resolve_keys(config.select(["acme"]))
    message = str(caught.value)
    assert 'connections "acme" and "beta" use the same API key' in message
    assert "SECRET" not in message


def test_resolve_keys_needs_the_selected_keys_only(tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_KEY", "sk-acme")
    monkeypatch.delenv("BETA_KEY", raising=False)
    config = load_config(write_config(tmp_path, connections=two({}, {"api_key_env": "BETA_KEY"})))
    config.resolve_keys(config.select(["acme"]))  # beta's key is not needed: no error
    with pytest.raises(ConfigError, match=r'connection "beta": api_key_env: .*BETA_KEY'):
        config.resolve_keys(config.select(["beta"]))


def test_an_inline_key_equal_to_another_connections_key_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_KEY", "sk-shared-SECRET")
    inline = only({"api_key": "sk-shared-SECRET"}, name="beta", order_prefix="B-")
    config = load_config(write_config(tmp_path, connections=[DEFAULT_CONNECTION, inline]))
    with pytest.raises(ConfigError, match='"acme" and "beta" use the same API key'):
        config.resolve_keys(config.select())
