"""``python -m sqsync`` and the ``sqsync`` console script: :func:`main`."""

import gc


def main() -> None:
    """Start the CLI with the cyclic garbage collector off until its work begins.

    Importing the CLI (click, pydantic, httpx, the models), reading the config and, for
    ``run``, importing the jobs make a few hundred thousand objects that live as long as
    the process, and next to no garbage: the collector's passes over them while they are
    made were 24 ms of a ``run`` start (97 passes). The command turns it back on as its
    work begins (:class:`sqsync.cli._root.SqsyncGroup`; ``run`` as its jobs start, in
    :mod:`sqsync.jobs.runner`).
    """
    gc.disable()
    from sqsync.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
