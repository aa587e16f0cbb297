"""`sqsync init [PATH]`: the commented example config, shipped inside the package."""

from __future__ import annotations

import re
import stat
from importlib import resources
from pathlib import Path

from click.testing import CliRunner

from sqsync.cli import cli
from sqsync.config import load_config

ROOT = Path(__file__).resolve().parent.parent
PACKAGED = resources.files("sqsync") / "config.example.toml"


def init(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, [*args], env=env)


def test_init_writes_the_packaged_example_which_loads(tmp_path, monkeypatch):
    target = tmp_path / "shop.toml"
    result = init("init", str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert f"wrote {target}" in result.stderr and "check" in result.stderr
    assert target.read_text() == PACKAGED.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    config = load_config(target)
    assert [c.name for c in config.connections] == ["acme"]


def test_init_defaults_to_the_config_sqsync_would_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SQSYNC_CONFIG", raising=False)
    assert init("init").exit_code == 0
    assert (tmp_path / "sqsync.toml").exists()
    assert init("--config", str(tmp_path / "other.toml"), "init").exit_code == 0
    assert (tmp_path / "other.toml").exists()
    result = init("init", env={"SQSYNC_CONFIG": str(tmp_path / "env.toml")})
    assert result.exit_code == 0
    assert (tmp_path / "env.toml").exists()


def test_init_refuses_to_overwrite_in_one_line_unless_forced(tmp_path):
    target = tmp_path / "sqsync.toml"
    target.write_text("# mine\n")
    result = init("init", str(target))
    assert result.exit_code == 2
    assert (
        result.stderr == f"sqsync: error: {target} already exists; give --force to overwrite it\n"
    )
    assert target.read_text() == "# mine\n"

    target.chmod(0o644)
    result = init("init", str(target), "--force")
    assert result.exit_code == 0, result.output
    assert target.read_text() == PACKAGED.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_folder_that_does_not_exist_is_one_line(tmp_path):
    result = init("init", str(tmp_path / "missing" / "sqsync.toml"))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "cannot write" in result.stderr and "Traceback" not in result.output


def test_the_repository_copy_is_the_packaged_one():
    # README and older tests point at the repository root's config.example.toml.
    assert (ROOT / "config.example.toml").read_text() == PACKAGED.read_text()


def test_the_example_documents_the_newer_connection_settings():
    text = PACKAGED.read_text()
    for key in ("stock_cap", "stock_zero_below"):
        assert re.search(rf"^(# )?{key} = ", text, re.MULTILINE), key
    assert '# [connections.stock_rules."RED-S"]' in text
    assert "# [connections.courier_map]" in text
    assert '# "Express" = { carrier = "DPD", service = "Next Day" }' in text


def test_the_courier_map_example_is_valid_toml_when_uncommented(tmp_path):
    import tomllib

    text = PACKAGED.read_text()
    block = text[text.index("# [connections.courier_map]") :].split("\n\n")[0]
    table = tomllib.loads(re.sub(r"^# ", "", block, flags=re.MULTILINE))
    assert table["connections"]["courier_map"]["default"] == {
        "carrier": "Royal Mail",
        "service": "Tracked 48",
    }
