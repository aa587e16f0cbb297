"""What a start of the CLI skips: work a cron tool would pay on every tick for nothing.
Imported first by :mod:`sqsync.cli`, before any model is built."""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
import types
from typing import Any

_LOADER = "pydantic.plugin._loader"
_HTTPX_CLI = "httpx._main"


def skip_pydantic_plugin_lookup() -> None:
    """With pydantic's plugins disabled (``PYDANTIC_DISABLE_PLUGINS=__all__``), stand in
    for the module that finds them, so building the first model does not import it.

    pydantic imports ``pydantic.plugin._loader`` to build its first model, and that module
    imports ``importlib.metadata`` (email, zipfile, csv ...) for a lookup that the variable
    then skips: 36 ms of a 0.3 s ``sqsync run``. The stand-in's ``get_plugins`` answers as
    the real one does with the variable set, no plugins; any other name it is asked for
    loads the real module and answers from it, so a pydantic that wants more of the module
    still gets it. Nothing is done when the variable has another value (the user wants
    plugins) or the real module is already imported.
    """
    if os.environ.get("PYDANTIC_DISABLE_PLUGINS") != "__all__" or _LOADER in sys.modules:
        return
    stand_in = types.ModuleType(_LOADER, "pydantic's plugin loader, plugins disabled")
    stand_in.get_plugins = _no_plugins  # type: ignore[attr-defined]
    stand_in.__getattr__ = _from_the_real_loader  # type: ignore[method-assign]
    sys.modules[_LOADER] = stand_in


def _no_plugins() -> Any:
    # pydantic reads the variable on each call: a value changed since the start is obeyed
    if os.environ.get("PYDANTIC_DISABLE_PLUGINS") in ("__all__", "1", "true"):
        return ()
    return _from_the_real_loader("get_plugins")()


def _from_the_real_loader(name: str) -> Any:
    if name.startswith("__"):  # import machinery probing (__path__, __spec__ ...)
        raise AttributeError(name)
    import pydantic.plugin

    spec = importlib.machinery.PathFinder.find_spec(_LOADER, pydantic.plugin.__path__)
    if spec is None or spec.loader is None:
        raise AttributeError(name)
    real = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(real)
    sys.modules[_LOADER] = real
    return getattr(real, name)


def skip_httpx_command_line() -> None:
    """Stand in for httpx's own command line (``httpx._main``) until it is called.

    ``import httpx`` imports it to offer ``httpx.main``, and with click installed (always,
    for sqsync) and pygments (pytest's, among others) that is 9 ms of pygments and rich in
    every start, for a function sqsync never calls. The stand-in's ``main`` loads the real
    module and runs it. Nothing is done once httpx is imported.
    """
    if "httpx" in sys.modules or _HTTPX_CLI in sys.modules:
        return
    stand_in = types.ModuleType(_HTTPX_CLI, "httpx's command line, loaded when it is run")
    stand_in.main = _httpx_main  # type: ignore[attr-defined]
    sys.modules[_HTTPX_CLI] = stand_in


def _httpx_main(*args: Any, **kwargs: Any) -> Any:
    if getattr(sys.modules.get(_HTTPX_CLI), "main", None) is _httpx_main:
        del sys.modules[_HTTPX_CLI]
    try:
        real = importlib.import_module(_HTTPX_CLI)
    except ImportError:  # as httpx's own stand-in answers then
        print(
            "The httpx command line client could not run because the required dependencies"
            " were not installed.\nMake sure you've installed everything with:"
            " pip install 'httpx[cli]'"
        )
        sys.exit(1)
    return real.main(*args, **kwargs)


# No pydantic plugins for sqsync's models: looking for them reads the entry points of every
# installed distribution, about 20 ms of each start (a cron tool starts a lot). A user who
# sets the variable keeps their choice.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
skip_pydantic_plugin_lookup()
skip_httpx_command_line()
