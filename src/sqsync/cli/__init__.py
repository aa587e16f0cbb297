"""The ``sqsync`` command line: one module per command group, each a thin layer over
the library. ``main`` is the console-script entry point.

Why a package rather than one ``cli.py``: each command group has its own owner and
tests, and separate modules keep their changes apart.
"""

import os

# No pydantic plugins for sqsync's models: looking for them reads the entry points of every
# installed distribution, about 20 ms of each start (a cron tool starts a lot). Set before
# any model is built; a user who sets the variable keeps their choice.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

# Importing a module registers its commands on ``cli``.
from sqsync.cli import (  # noqa: F401  (registration side effects)
    connections,
    despatch,
    emulator,
    import_orders,
    init,
    inventory,
    operate,
    orders,
    stock,
    store,
    sync_stock,
)
from sqsync.cli._root import cli


def main() -> None:
    cli(prog_name="sqsync")


__all__ = ["cli", "main"]
