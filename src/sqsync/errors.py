"""Library exceptions that the command line turns into one-line messages.

    SqsyncError            exit 1: a job or command failed
    ├── ConfigError        exit 2: the config file, a key source or a connection name is wrong
    ├── UsageError         exit 2: an argument the command line could not check by itself
    └── InputError         exit 1: a feed (CSV/NDJSON) or store precondition was refused;
                                   nothing was written

Squarespace API failures have their own tree in :mod:`sqsync.squarespace.errors`.
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


class InputError(SqsyncError):
    """Input data was refused (a bad feed row, an unknown order); nothing was written."""

    exit_code = 1
