"""What a start of the CLI skips (issue 15: a run with nothing due under 0.3 s): with
pydantic's plugins disabled, the module that would look them up is stood in for, so
building the first model never imports importlib.metadata; a user who wants plugins, or a
pydantic that asks the module for more, gets the real one."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


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
