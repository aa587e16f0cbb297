"""``python -m sqsync``: the same as the ``sqsync`` console script."""

from sqsync.cli import main

if __name__ == "__main__":
    main()
