"""The ``sqsync`` command line: one module per command group, each a thin layer over
the library. ``main`` is the console-script entry point.

Why a package rather than one ``cli.py``: each command group has its own owner and
tests, and separate modules keep their changes apart.
"""

# _startup first: it sets up what the start skips, before any model is built. Importing
# each other module registers its commands on ``cli``.
from sqsync.cli import (  # noqa: F401  (side effects)
    _startup,
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
