"""Library exceptions that the command line turns into one-line messages.

    SqsyncError            exit 1: a job or command failed
    ├── ConfigError        exit 2: the config file, a key source or a connection name is wrong
    ├── UsageError         exit 2: an argument the command line could not check by itself
    │   └── AmbiguousError exit 2: a client or warehouse must be named (several fit)
    └── InputError         exit 1: a feed (CSV/NDJSON) or store precondition was refused;
                                   nothing was written

Squarespace API failures have their own tree in :mod:`sqsync.squarespace.errors`, below
SqsyncError (exit 1).
Messages never contain an API key.
"""


class SqsyncError(Exception):
    """A failure a person can act on; ``str(error)`` is the whole message."""

    exit_code = 1


class ConfigError(SqsyncError):
    """The configuration is invalid; the message names the file, connection and key."""

    exit_code = 2


class UsageError(SqsyncError):
    """The command was called wrongly in a way click could not see."""

    exit_code = 2


class AmbiguousError(UsageError):
    """Several clients (or warehouses) fit and none was named.

    The library's message never names a command-line flag; the command line adds how to
    name one (``; give --client``). ``in_feed`` is true for a feed row, which may also
    name it in a column.
    """

    def __init__(self, message: str, what: str, *, in_feed: bool = False) -> None:
        super().__init__(message)
        self.what = what
        self.in_feed = in_feed


class InputError(SqsyncError):
    """Input data was refused (a bad feed row, an unknown order); nothing was written."""

    exit_code = 1
