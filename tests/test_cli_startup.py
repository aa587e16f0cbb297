"""What a start of the CLI skips (issue 15: a run with nothing due under 0.3 s): with
pydantic's plugins disabled, the module that would look them up is stood in for, so
building the first model never imports importlib.metadata; a user who wants plugins, or a
pydantic that asks the module for more, gets the real one. httpx's own command line is
stood in for until it is run. A program start makes no pass of the cyclic collector until
the command's work begins. A run with nothing due imports no HTTP client, job, order
record or output format."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types

import pytest

from factories import write_config


def _in_a_fresh_python(code: str, **env: str) -> list[str]:
    """Run ``code`` in a new interpreter (sys.modules as at a real start); its printed lines."""
    import os

    environment = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    environment.update(env)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=environment,
        check=True,
    )
    return done.stdout.split()


LOAD_CONFIG = """
    import sys
    import sqsync.cli
    from sqsync import config  # builds every config model
    stood_in = (sys.modules["pydantic.plugin._loader"].__doc__ or "").startswith("pydantic's")
    print("importlib.metadata" in sys.modules, stood_in)
"""


def test_a_start_builds_its_models_without_importing_importlib_metadata():
    assert _in_a_fresh_python(LOAD_CONFIG) == ["False", "True"]


@pytest.mark.parametrize("choice", ["", "some_plugin"])
def test_a_user_who_sets_the_plugin_variable_gets_pydantics_own_loader(choice):
    imported, stood_in = _in_a_fresh_python(LOAD_CONFIG, PYDANTIC_DISABLE_PLUGINS=choice)
    assert (imported, stood_in) == ("True", "False")


def test_any_other_name_asked_of_the_stand_in_comes_from_the_real_loader():
    printed = _in_a_fresh_python(
        """
        import sys
        import sqsync.cli
        stand_in = sys.modules["pydantic.plugin._loader"]
        print(list(stand_in.get_plugins()), stand_in.PYDANTIC_ENTRY_POINT_GROUP)
        real = sys.modules["pydantic.plugin._loader"]
        print(real is not stand_in, list(real.get_plugins()))
        """
    )
    assert printed == ["[]", "pydantic", "True", "[]"]


def test_the_stand_in_obeys_the_variable_as_it_is_when_asked():
    printed = _in_a_fresh_python(
        """
        import os, sys
        import sqsync.cli
        stand_in = sys.modules["pydantic.plugin._loader"]
        os.environ["PYDANTIC_DISABLE_PLUGINS"] = "none_of_them"
        plugins = stand_in.get_plugins()
        print(type(plugins).__name__, sys.modules["pydantic.plugin._loader"] is stand_in)
        """
    )
    assert printed == ["dict_values", "False"]  # the real loader's answer, from the real module


PROGRAM = """
    import atexit, gc, sys
    passes = []
    gc.callbacks.append(lambda phase, info: phase == "start" and passes.append(info))
    atexit.register(lambda: print("collector", len(passes), gc.isenabled()))
    sys.argv = ["sqsync", "--config", sys.argv[1], *sys.argv[2:]]
    from sqsync.__main__ import main
    passes.clear()  # from here on: what the program's own start does
    main()
"""


def _program(config, *args: str) -> list[str]:
    """The collector's passes in a program start of ``sqsync ARGS``, and whether it was
    on at the end."""
    import os

    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PROGRAM), str(config), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "ACME_KEY": "test-key"},
        cwd=config.parent,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[-3:]


def test_a_program_start_reads_the_config_and_schedules_with_the_collector_off(tmp_path):
    # nothing due (the connection is off): the whole start, config and store included,
    # makes no pass over the objects it makes, which all live as long as the process
    config = write_config(tmp_path, active=False)
    assert _program(config, "run") == ["collector", "0", "False"]


def test_any_other_command_turns_the_collector_on_as_its_work_begins(tmp_path):
    config = write_config(tmp_path)
    said, _, on = _program(config, "status")
    assert (said, on) == ("collector", "True")


# What a run with nothing due never needs: it reads the config and the run log, no more.
NOT_FOR_NOTHING_DUE = (
    "httpx",
    "sqsync.squarespace",
    "sqsync.jobs.import_orders",
    "sqsync.jobs.push_despatch",
    "sqsync.domain.orders",
    "sqsync.output",
)


def test_a_run_with_nothing_due_imports_no_http_client_job_or_output_format(tmp_path):
    from datetime import UTC, datetime

    from sqsync.store import Store
    from sqsync.store.runlog import finish_run, start_run

    config = write_config(tmp_path)  # due every 15 minutes; both jobs ran just now
    now = datetime.now(UTC)
    with Store.open(tmp_path / "sqsync.db") as store:
        for job in ("import-orders", "push-despatch"):
            ending = {"counts": {}, "requests": 1, "error": None, "context_id": None}
            finish_run(
                store, start_run(store, "acme", job, now), outcome="ok", finished_at=now, **ending
            )
    code = f"""
        import atexit, sys
        names = {NOT_FOR_NOTHING_DUE!r}
        atexit.register(lambda: print(*[n for n in names if n in sys.modules] or ["none"]))
        sys.argv = ["sqsync", "--config", {str(config)!r}, "run"]
        from sqsync.__main__ import main
        main()
    """
    assert _in_a_fresh_python(code, ACME_KEY="test-key") == ["none"]


def test_a_start_imports_httpx_without_its_command_line():
    printed = _in_a_fresh_python(
        """
        import sys
        import sqsync.cli
        import httpx
        stand_in = sys.modules["httpx._main"]
        print("pygments" in sys.modules, "rich" in sys.modules, httpx.main is stand_in.main)
        """
    )
    assert printed == ["False", "False", "True"]


def test_httpxs_command_line_is_loaded_when_it_is_run(monkeypatch):
    from sqsync.cli import _startup

    ran: list[tuple] = []
    real = types.SimpleNamespace(main=lambda *args: ran.append(args) or "ran")
    monkeypatch.setattr(
        _startup.importlib, "import_module", lambda name: real if name == "httpx._main" else None
    )
    assert _startup._httpx_main("--help") == "ran" and ran == [("--help",)]


def test_httpxs_command_line_missing_its_extras_says_so_as_httpx_does(monkeypatch, capsys):
    from sqsync.cli import _startup

    def missing(name):
        raise ModuleNotFoundError("No module named 'rich'", name="rich")

    monkeypatch.setattr(_startup.importlib, "import_module", missing)
    with pytest.raises(SystemExit) as exited:
        _startup._httpx_main()
    assert exited.value.code == 1 and "pip install 'httpx[cli]'" in capsys.readouterr().out
