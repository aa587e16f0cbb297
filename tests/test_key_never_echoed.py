"""Issue 12 rule 6: the API key is never echoed, not when it is pasted where a variable's
name belongs, and not when Squarespace echoes it back in any field of an error envelope."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from factories import record_import, write_config
from sqsync.cli import cli
from sqsync.config import load_config
from sqsync.errors import ConfigError
from sqsync.squarespace import Client
from sqsync.squarespace.errors import parse_envelope
from sqsync.squarespace.testing import json_response
from sqsync.store import Store

KEY = "sk-live-3f9a7c21-SECRET-b04e"


def everything_written(folder: Path) -> bytes:
    """The bytes of every file sqsync left in ``folder`` (the store, its WAL, ...)."""
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def assert_not_echoed(result, folder: Path) -> None:
    for text in (result.stdout, result.stderr):
        assert KEY not in text and "SECRET" not in text, text
    assert KEY.encode() not in everything_written(folder)
    assert b"SECRET" not in everything_written(folder)


# --- a key pasted where the variable's name belongs ---------------------------------------


@pytest.mark.parametrize(
    "pasted", [KEY, "3f9a7c21-5d0e-4b1a-SECRET", "sqsp SECRET", "SECRET=abc", "1SECRET"]
)
def test_a_key_in_api_key_env_is_refused_without_showing_it(tmp_path, pasted):
    path = write_config(tmp_path, api_key_env=pasted)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f'{path}: connection "acme": api_key_env: must be the name of')
    assert "not a key" in message and "SECRET" not in message

    result = CliRunner().invoke(cli, ["--config", str(path), "check"])
    assert result.exit_code == 2
    assert "SECRET" not in result.output


def test_a_variable_name_is_accepted(tmp_path, monkeypatch):
    monkeypatch.setenv("_acme_key_2", "k")
    assert load_config(write_config(tmp_path, api_key_env="_acme_key_2")).connections[0].api_key()


# --- a key echoed back by Squarespace ------------------------------------------------------


def echoing(status: int):
    """Answer every request with an error envelope echoing the key in every field."""

    def handler(request: httpx.Request) -> httpx.Response:
        sent = request.headers["Authorization"].removeprefix("Bearer ")
        body = {
            "type": f"AUTH_{sent}",
            "subtype": f"BAD_{sent}",
            "message": f"key {sent} is not valid",
            "contextId": f"CTX{sent}",
            "details": {sent: [f"field {sent}"], "key": sent},
        }
        return json_response(status, body)

    return handler


def factory_for(handler):
    def factory(connection, **overrides):
        overrides.pop("max_attempts", None)
        return Client(
            connection.api_key(),
            base_url=connection.api_url,
            transport=httpx.MockTransport(handler),
            sleep=lambda seconds: None,
            max_attempts=1,
        )

    return factory


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 500])
@pytest.mark.parametrize(
    "command",
    [
        ["import-orders", "--json"],
        ["import-orders"],
        ["run", "--force", "--json"],
        ["sync-stock", "--json"],
        ["check", "--json"],
        ["check"],
    ],
)
def test_an_echoed_key_reaches_no_output_log_or_file(tmp_path, monkeypatch, status, command):
    monkeypatch.setenv("ACME_KEY", KEY)
    path = write_config(tmp_path, stock_sync=True)
    with Store.open(load_config(path).store_path) as store:
        record_import(store)  # so sync-stock gets as far as Squarespace
    result = CliRunner().invoke(
        cli,
        ["--config", str(path), "-vv", *command],
        obj={"client_factory": factory_for(echoing(status))},
    )
    assert result.exit_code == 1, result.output
    if command != ["check"]:  # (check explains 401 and 403 in its own words)
        assert "***" in result.output  # the error was reported, with the key scrubbed
    assert_not_echoed(result, tmp_path)
    if command[0] != "check":
        status_result = CliRunner().invoke(cli, ["--config", str(path), "status", "--json"])
        assert "***" in status_result.stdout
        assert_not_echoed(status_result, tmp_path)


def test_a_non_json_answer_echoing_the_key_at_the_cut_is_scrubbed_whole():
    # The text of a non-JSON body is shortened to 120 characters: scrubbing after the cut
    # would leave the start of a key that straddles it.
    body = ("x" * 110 + KEY + " tail").encode()
    fields = parse_envelope(body, "text/html", secret=KEY)
    assert "sk-live" not in fields["message"] and "***" in fields["message"]


def test_every_envelope_field_is_scrubbed():
    body = (
        b'{"type": "T_%(k)s", "subtype": "S_%(k)s", "message": "M_%(k)s", '
        b'"contextId": "C_%(k)s", "details": [{"%(k)s": ["%(k)s"]}]}' % {b"k": KEY.encode()}
    )
    fields = parse_envelope(body, "application/json", secret=KEY)
    assert fields == {
        "type": "T_***",
        "subtype": "S_***",
        "message": "M_***",
        "context_id": "C_***",
        "details": [{"***": ["***"]}],
    }
