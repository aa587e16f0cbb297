"""Config: every key's validation and default, one-line errors naming file/connection/key."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from factories import DEFAULT_CONNECTION, config_text, write_config
from sqsync.cli import cli
from sqsync.config import load_config
from sqsync.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def load(tmp_path: Path, **overrides):
    return load_config(write_config(tmp_path, **overrides))


def error_of(tmp_path: Path, **overrides) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, **overrides)
    return str(caught.value)


def test_defaults(tmp_path):
    config = load(tmp_path)
    (acme,) = config.connections
    assert acme.name == "acme"
    assert acme.channel == "Squarespace"
    assert acme.active is True
    assert acme.frequency == 15
    assert acme.stock_sync is False
    assert acme.stock_sync_frequency == 60
    assert acme.stock_buffer == 0
    assert acme.notify_customer is True
    assert acme.payment_states == ["PAID", "AUTHORIZED", "NOT_CHARGED"]
    assert acme.import_test_orders is False
    assert acme.import_from is None
    assert acme.order_prefix == ""
    assert acme.shipping_zone is None and acme.shipping_countries is None
    assert acme.sku_aliases == {}
    assert config.store_path == tmp_path / "sqsync.db"
    assert config.path == tmp_path / "sqsync.toml"


def test_client_and_api_url_defaults(tmp_path):
    config = load(tmp_path, client=None, api_url=None)
    assert config.connections[0].client == "default"
    assert config.connections[0].api_url == "https://api.squarespace.com"


def test_store_path_is_relative_to_the_config_folder(tmp_path, monkeypatch):
    (tmp_path / "etc").mkdir()
    write_config(tmp_path / "etc", store_path="data/shop.db")
    monkeypatch.chdir(tmp_path)
    assert load_config(Path("etc/sqsync.toml")).store_path == Path("etc/data/shop.db")


@pytest.mark.parametrize(
    ("value", "minutes"), [(15, 15), ("15m", 15), ("1h", 60), ("2h", 120), ("90m", 90)]
)
def test_frequency_forms(tmp_path, value, minutes):
    config = load(tmp_path, frequency=value, stock_sync_frequency=value)
    assert config.connections[0].frequency == minutes
    assert config.connections[0].stock_sync_frequency == minutes


@pytest.mark.parametrize("value", ["soon", "15s", 0, -5, True, 1.5, "1d"])
def test_bad_frequency_names_file_connection_and_key(tmp_path, value):
    message = error_of(tmp_path, frequency=value)
    assert message.startswith(f'{tmp_path / "sqsync.toml"}: connection "acme": frequency: ')
    assert "\n" not in message


def test_bad_frequency_message(tmp_path):
    assert error_of(tmp_path, stock_sync_frequency="soon").endswith(
        'stock_sync_frequency: must be minutes (15) or "15m"/"1h", got "soon"'
    )


@pytest.mark.parametrize(
    ("overrides", "key", "fragment"),
    [
        ({"warehouse": None}, "warehouse", "required"),
        ({"warehouse": ""}, "warehouse", "at least 1 character"),
        ({"active": "yes"}, "active", "valid boolean"),
        ({"stock_sync": 1}, "stock_sync", "valid boolean"),
        ({"notify_customer": "no"}, "notify_customer", "valid boolean"),
        ({"import_test_orders": "false"}, "import_test_orders", "valid boolean"),
        ({"stock_buffer": -1}, "stock_buffer", "greater than or equal to 0"),
        ({"stock_buffer": "3"}, "stock_buffer", "valid integer"),
        ({"order_prefix": 5}, "order_prefix", "valid string"),
        ({"payment_states": ["PAYED"]}, "payment_states", "unknown payment state 'PAYED'"),
        ({"payment_states": []}, "payment_states", "at least one"),
        ({"api_url": "http://api.squarespace.com"}, "api_url", "must use https"),
        ({"api_url": "ftp://x"}, "api_url", "http(s) URL"),
        ({"import_from": "2026-01-01T00:00:00"}, "import_from", "must include a timezone"),
        ({"import_from": "last tuesday"}, "import_from", "ISO-8601"),
        ({"sku_aliases": {"A": ""}}, "sku_aliases.A", "at least 1 character"),
        ({"shipping_zone": "eu"}, "shipping_zone", "no [shipping_zones] entry named 'eu'"),
        ({"frequncy": 15}, "frequncy", "unknown key"),
    ],
)
def test_each_key_is_validated(tmp_path, overrides, key, fragment):
    message = error_of(tmp_path, **overrides)
    assert message.startswith(f'{tmp_path / "sqsync.toml"}: connection "acme": {key}: '), message
    assert fragment in message


def test_bad_name_is_still_used_to_label_the_error(tmp_path):
    message = error_of(tmp_path, name="ACME!")
    assert 'connection "ACME!": name: string should match pattern' in message


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://127.9.9.9", "http://localhost:1", "http://[::1]:5"]
)
def test_plain_http_only_for_loopback(tmp_path, url):
    assert load(tmp_path, api_url=url).connections[0].api_url == url


def test_import_from_is_utc(tmp_path):
    config = load(tmp_path, import_from="2026-01-01T01:00:00+01:00")
    assert config.connections[0].import_from == datetime(2026, 1, 1, tzinfo=UTC)
    native = load(tmp_path, import_from=datetime(2026, 2, 1, tzinfo=UTC))  # TOML datetime
    assert native.connections[0].import_from == datetime(2026, 2, 1, tzinfo=UTC)


def test_all_keys_set(tmp_path):
    config = load(
        tmp_path,
        shipping_zones={"uk": ["GB", "IM"]},
        channel="Web",
        active=False,
        shipping_zone="uk",
        order_prefix="SQ-",
        stock_sync=True,
        stock_buffer=2,
        notify_customer=False,
        payment_states=["PAID"],
        import_test_orders=True,
        sku_aliases={"SQ-RED-S": "RED-S"},
    )
    acme = config.connections[0]
    assert acme.shipping_countries == frozenset({"GB", "IM"})
    assert (acme.channel, acme.active, acme.order_prefix) == ("Web", False, "SQ-")
    assert (acme.stock_sync, acme.stock_buffer, acme.notify_customer) == (True, 2, False)
    assert acme.payment_states == ["PAID"] and acme.import_test_orders is True
    assert acme.sku_aliases == {"SQ-RED-S": "RED-S"}
    assert config.shipping_zones == {"uk": ["GB", "IM"]}


def test_shipping_zone_countries_must_be_alpha2_uppercase(tmp_path):
    message = error_of(tmp_path, shipping_zones={"uk": ["GB", "gb"]})
    assert message.startswith(f"{tmp_path / 'sqsync.toml'}: shipping_zones.uk.1: ")


def test_unnamed_connection_is_named_by_index(tmp_path):
    second = {k: v for k, v in DEFAULT_CONNECTION.items() if k != "name"}
    message = error_of(tmp_path, connections=[DEFAULT_CONNECTION, {**second, "frequency": "x"}])
    assert ": connections[1]: " in message


def test_unknown_top_level_key(tmp_path):
    path = tmp_path / "sqsync.toml"
    path.write_text('[store]\npath = "x.db"\npaht = "y"\n')
    with pytest.raises(ConfigError, match=r"sqsync.toml: store.paht: unknown key"):
        load_config(path)


@pytest.mark.parametrize(
    "sources",
    [{}, {"api_key": "k", "api_key_env": "E"}, {"api_key_env": "E", "api_key_file": "f"}],
)
def test_exactly_one_key_source(tmp_path, sources):
    connection = {k: v for k, v in DEFAULT_CONNECTION.items() if k != "api_key_env"}
    message = error_of(tmp_path, connections=[{**connection, **sources}])
    assert 'connection "acme": api_key: give exactly one of' in message
    assert "k'" not in message


def test_duplicate_names_refused(tmp_path):
    other = {**DEFAULT_CONNECTION, "order_prefix": "B-"}
    message = error_of(tmp_path, connections=[DEFAULT_CONNECTION, other])
    assert 'connection "acme": name: another connection already uses this name' in message


def test_same_prefix_for_one_client_refused(tmp_path):
    other = {**DEFAULT_CONNECTION, "name": "acme-eu"}
    message = error_of(tmp_path, connections=[DEFAULT_CONNECTION, other])
    assert 'connection "acme-eu": order_prefix:' in message
    assert "unique per client" in message


def test_same_prefix_for_different_clients_allowed(tmp_path):
    other = {**DEFAULT_CONNECTION, "name": "beta", "client": "BETA", "api_key_env": "BETA_KEY"}
    assert len(load(tmp_path, connections=[DEFAULT_CONNECTION, other]).connections) == 2


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nope.toml: config file not found"):
        load_config(tmp_path / "nope.toml")


def test_toml_syntax_error_names_line(tmp_path):
    path = tmp_path / "sqsync.toml"
    path.write_text('[store]\npath = "x.db"\n[[connections]]\nname = acme\n')
    with pytest.raises(ConfigError, match=r"sqsync.toml: invalid TOML: .*line 4"):
        load_config(path)


# --- API keys -------------------------------------------------------------------------------


def test_key_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_KEY", "  env-secret \n")
    assert load(tmp_path).connections[0].api_key() == "env-secret"


@pytest.mark.parametrize("value", [None, ""])
def test_unset_env_key_names_variable_and_connection(tmp_path, monkeypatch, value):
    if value is None:
        monkeypatch.delenv("ACME_KEY", raising=False)
    else:
        monkeypatch.setenv("ACME_KEY", value)
    connection = load(tmp_path).connections[0]
    with pytest.raises(ConfigError, match=r'connection "acme": api_key_env: .*ACME_KEY'):
        connection.api_key()


@pytest.mark.parametrize(
    "key", ["sk-SECRET\nX-Other: 1", "sk-SECRET\u00a0tail", "sk-SECRET \u200b", "sk SECRET"]
)
def test_a_key_that_cannot_be_a_header_is_refused_without_showing_it(tmp_path, monkeypatch, key):
    # httpx would refuse such a header with an error that quotes it, key and all.
    monkeypatch.setenv("ACME_KEY", key)
    connection = load(tmp_path).connections[0]
    with pytest.raises(ConfigError, match="api_key_env: ACME_KEY: the API key contains") as info:
        connection.api_key()
    assert "SECRET" not in str(info.value)


def test_key_from_file_relative_to_config(tmp_path):
    (tmp_path / "acme.key").write_text("file-secret\n")
    assert load(tmp_path, api_key_file="acme.key").connections[0].api_key() == "file-secret"


def test_missing_key_file_names_file(tmp_path):
    connection = load(tmp_path, api_key_file="missing.key").connections[0]
    with pytest.raises(ConfigError, match=r'connection "acme": api_key_file: .*missing.key'):
        connection.api_key()


def test_inline_key_never_in_repr_or_str(tmp_path):
    config = load(tmp_path, api_key="sk-very-secret")
    connection = config.connections[0]
    assert connection.api_key() == "sk-very-secret"
    for text in (repr(connection), str(connection), repr(config), str(config)):
        assert "sk-very-secret" not in text


def test_inline_key_in_readable_file_warns(tmp_path, caplog):
    path = write_config(tmp_path, api_key="sk-very-secret")
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="sqsync.config"):
        load_config(path)
    (record,) = [r for r in caplog.records if r.name == "sqsync.config"]
    assert str(path) in record.getMessage() and "chmod 600" in record.getMessage()
    assert "sk-very-secret" not in record.getMessage()


def test_inline_key_in_private_file_does_not_warn(tmp_path, caplog):
    path = write_config(tmp_path, api_key="sk-very-secret")  # written 0600
    with caplog.at_level(logging.WARNING, logger="sqsync.config"):
        load_config(path)
    assert not [r for r in caplog.records if r.name == "sqsync.config"]


def test_key_env_in_readable_file_does_not_warn(tmp_path, caplog):
    write_config(tmp_path).chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="sqsync.config"):
        load_config(tmp_path / "sqsync.toml")
    assert not caplog.records


def test_bad_key_value_is_not_echoed(tmp_path):
    connection = {k: v for k, v in DEFAULT_CONNECTION.items() if k != "api_key_env"}
    path = tmp_path / "sqsync.toml"
    path.write_text(config_text([{**connection, "api_key": ["sk-very-secret"]}]))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "api_key" in str(caught.value) and "sk-very-secret" not in str(caught.value)


# --- selecting connections ------------------------------------------------------------------


def three(tmp_path):
    return load(
        tmp_path,
        connections=[
            {**DEFAULT_CONNECTION, "stock_sync": True},
            {**DEFAULT_CONNECTION, "name": "beta", "order_prefix": "B-", "api_key_env": "B_KEY"},
            {
                **DEFAULT_CONNECTION,
                "name": "old",
                "order_prefix": "O-",
                "active": False,
                "api_key_env": "OLD_KEY",
            },
        ],
    )


def test_select_defaults_to_active(tmp_path):
    assert [c.name for c in three(tmp_path).select()] == ["acme", "beta"]


def test_select_stock_sync_only(tmp_path):
    assert [c.name for c in three(tmp_path).select(stock_sync_only=True)] == ["acme"]


def test_select_named_includes_inactive(tmp_path):
    assert [c.name for c in three(tmp_path).select(["old", "beta"])] == ["old", "beta"]


def test_select_unknown_name(tmp_path):
    with pytest.raises(ConfigError, match=r"no connection named 'nope' \(configured: acme"):
        three(tmp_path).select(["nope"])


def test_select_stock_sync_off_refused(tmp_path):
    with pytest.raises(ConfigError, match="connection beta has stock_sync = false"):
        three(tmp_path).select(["beta"], stock_sync_only=True)


def test_clients_and_warehouses(tmp_path):
    other = {
        **DEFAULT_CONNECTION,
        "name": "b",
        "client": "BETA",
        "warehouse": "EAST",
        "api_key_env": "B_KEY",
    }
    config = load(tmp_path, connections=[DEFAULT_CONNECTION, other])
    assert config.clients() == ["ACME", "BETA"]
    assert config.warehouses() == ["EAST", "MAIN"]


# --- the CLI and the example ----------------------------------------------------------------


def test_cli_config_error_exits_2_with_one_line(tmp_path):
    path = write_config(tmp_path, frequency="soon")
    result = CliRunner().invoke(cli, ["--config", str(path), "orders", "list"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f'sqsync: error: {path}: connection "acme": frequency:')
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", [["run"], ["run", "--force", "--json"], ["check"]])
def test_an_unset_key_variable_exits_2_before_any_request(tmp_path, monkeypatch, command):
    # Issue 12 rule 2: `run` and `check` resolve every selected key first, as the job
    # commands do, so a missing variable is one line on stderr and exit 2.
    requests = []

    def factory(connection, **overrides):  # never reached: no client is made
        requests.append(connection.name)
        raise AssertionError("a client was made")

    monkeypatch.delenv("ACME_KEY", raising=False)
    path = write_config(tmp_path)
    result = CliRunner().invoke(
        cli, ["--config", str(path), *command], obj={"client_factory": factory}
    )
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr == (
        f'sqsync: error: {path}: connection "acme": api_key_env: environment variable '
        "ACME_KEY is not set or empty\n"
    )
    assert requests == []


@pytest.mark.parametrize("command", [["run", "--force"], ["check"]])
def test_two_connections_with_one_key_exit_2_naming_both(tmp_path, monkeypatch, command):
    # Issue 12 rule 3: different variables, the same key: one site, two connections.
    monkeypatch.setenv("ACME_KEY", "sk-shared-SECRET-1234")
    monkeypatch.setenv("BETA_KEY", "sk-shared-SECRET-1234")
    beta = {**DEFAULT_CONNECTION, "name": "beta", "order_prefix": "B-", "api_key_env": "BETA_KEY"}
    path = write_config(tmp_path, connections=[DEFAULT_CONNECTION, beta])
    result = CliRunner().invoke(cli, ["--config", str(path), *command, "-c", "acme"])
    assert result.exit_code == 2, result.output
    assert 'connections "acme" and "beta" use the same API key' in result.stderr
    assert "SECRET" not in result.output


def test_cli_finds_config_through_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SQSYNC_CONFIG", str(tmp_path / "missing.toml"))
    result = CliRunner().invoke(cli, ["orders", "list"])
    assert result.exit_code == 2
    assert "missing.toml: config file not found" in result.stderr


def test_cli_default_config_is_local_sqsync_toml(tmp_path, monkeypatch):
    monkeypatch.delenv("SQSYNC_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["orders", "list"])
    assert result.exit_code == 2
    assert "sqsync.toml: config file not found" in result.stderr


def test_example_config_is_valid_and_documents_every_key(monkeypatch):
    example = ROOT / "config.example.toml"
    config = load_config(example)
    connection = config.connections[0]
    assert connection.api_key_env
    monkeypatch.setenv(connection.api_key_env, "example-key")
    assert connection.api_key() == "example-key"
    text = example.read_text()
    keys = set(type(connection).model_fields) - {"inline_key"} | {"api_key"}
    for key in keys:
        documented = re.search(rf"^(#\s*)?(\[connections\.)?{key}\b", text, re.MULTILINE)
        assert documented, f"config.example.toml does not document {key}"
