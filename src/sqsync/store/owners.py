"""Which client or warehouse a command means: decided here, once, for every command.

An order number is unique per client, not across clients, and a stock count needs its
client and warehouse. When a command names none and several fit, the answer is the same
everywhere: :class:`~sqsync.errors.AmbiguousError` (exit 2), listing what fits. A name
that fits nothing is refused too, so a typo never creates a phantom client.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqsync.errors import AmbiguousError, InputError, UsageError
from sqsync.store.despatches import Db, OrderRef, find_order_refs


def choose(given: str | None, choices: Sequence[str], what: str) -> str:
    """The client (or warehouse) a command means: the one given, else the only one.

    ``choices`` are the codes configured or already in the store.
    """
    listed = ", ".join(choices)
    if given is not None:
        if choices and given not in choices:
            raise UsageError(f"unknown {what} {given!r}; known: {listed}")
        return given
    if len(choices) == 1:
        return choices[0]
    if not choices:
        raise AmbiguousError(f"no {what} is configured", what)
    raise AmbiguousError(f"several {what}s are configured ({listed})", what)


def row_code(
    value: str | None,
    default: str | None,
    choices: Sequence[str],
    what: str,
    where: str,
) -> str:
    """The client (or warehouse) of one feed row: its column, else the command's default."""
    if value is None:
        if default is None:
            raise AmbiguousError(
                f"{where}: {what}: missing, and several {what}s are configured "
                f"({', '.join(choices)})",
                what,
                in_feed=True,
            )
        return default
    if choices and value not in choices:
        raise InputError(f'{where}: {what}: unknown {what} "{value}"; known: {", ".join(choices)}')
    return value


def resolve_order(
    db: Db, order_number: str, client: str | None = None, *, where: str | None = None
) -> OrderRef:
    """The one order ``order_number`` names (for ``client`` when given).

    Unknown: :class:`InputError` (exit 1). Held by several clients: AmbiguousError.
    ``where`` prefixes the message for a feed row ("shipped.csv line 4").
    """
    found = find_order_refs(db, order_number, client)
    prefix = f"{where}: " if where else ""
    if not found:
        owner = f" for client {client}" if client else ""
        raise InputError(f"{prefix}order {order_number} not found{owner}")
    if len(found) > 1:
        clients = ", ".join(order.client for order in found)
        raise AmbiguousError(
            f"{prefix}order {order_number} exists for several clients ({clients})",
            "client",
        )
    return found[0]
