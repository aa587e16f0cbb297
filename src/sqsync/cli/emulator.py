"""Command: ``sqsync emulator``, a local Squarespace Commerce API for trial runs and the demo."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from sqsync.cli._root import cli

_GENERATOR_OPTIONS = ("orders", "variants", "seed")
_ANSWERED_FAULTS = ("500", "502", "503", "504", "429")


@cli.group("emulator", invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8400,
    show_default=True,
    help="Port to listen on; 0 picks a free one (the URL printed says which).",
)
@click.option(
    "--orders",
    type=click.IntRange(min=0),
    default=200,
    show_default=True,
    help="Orders to generate.",
)
@click.option(
    "--variants",
    type=click.IntRange(min=0),
    default=60,
    show_default=True,
    help="Product variants (inventory items) to generate.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same shop.")
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False),
    help='Serve this JSON shop {"orders": [...], "inventory": [...], "keys": {...}} instead.',
)
@click.option(
    "--rate-limit",
    type=click.IntRange(min=0),
    default=300,
    show_default=True,
    help="Requests per minute per key before 429 (0: no limit).",
)
@click.option(
    "--latency",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Milliseconds added to every request.",
)
@click.option(
    "--failure-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    metavar="SHARE",
    help="Share of API requests answered 500, 502, 503, 504 or 429, at random.",
)
@click.option(
    "--drop-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    metavar="SHARE",
    help="Share of the other API requests whose connection is closed without an answer.",
)
@click.option(
    "--after-apply",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    metavar="SHARE",
    help="Of the failed or dropped POSTs, the share failed after the change was made "
    "(0: always before, 1: always after).",
)
@click.option(
    "--slow-apply",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds each stock adjustment and fulfilment takes to apply.",
)
@click.pass_context
def emulator_command(
    ctx: click.Context,
    host: str,
    port: int,
    orders: int,
    variants: int,
    seed: int,
    state_file: str | None,
    rate_limit: int,
    latency: float,
    failure_rate: float,
    drop_rate: float,
    after_apply: float,
    slow_apply: float,
) -> None:
    """Serve a local Squarespace Commerce API until interrupted.

    It answers the orders, fulfilment and inventory endpoints with the real API's
    validation and errors, over HTTP on this machine, from a generated shop (the same
    for the same --seed) or a JSON file. Point a connection's api_url at the printed URL
    and give it the printed key. Ctrl-C (or SIGTERM) stops it.

    To rehearse the hard cases: --failure-rate and --drop-rate fail requests at
    random, --after-apply says how many failed writes were made all the same
    ("Squarespace did it, the client never heard"), --slow-apply keeps writes
    in flight; `sqsync emulator order ...` has a customer place an order or
    the merchant cancel, refund or fulfil one while it serves.

    \b
    Example:
      sqsync emulator --port 8400 --orders 200 --variants 60 --seed 1
      sqsync emulator --port 0 --state my-shop.json --rate-limit 0
      sqsync emulator --failure-rate 0.1 --drop-rate 0.05 --after-apply 1 --slow-apply 3
    """
    import logging
    import signal
    import threading

    from sqsync.errors import InputError, UsageError

    log = logging.getLogger("sqsync.emulator")
    given = [
        name
        for name in ctx.params
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
    ]
    if ctx.invoked_subcommand is not None:
        if given:
            options = ", ".join("--" + name.replace("_", "-") for name in given)
            raise UsageError(f"{options} only apply when serving, not to `emulator order`")
        return

    from sqsync.emulator import Emulator, EmulatorState

    explicit = [
        f"--{name}"
        for name in _GENERATOR_OPTIONS
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
    ]
    if state_file and explicit:
        raise UsageError(
            f"--state serves a saved shop; {', '.join(explicit)} only shape a generated one"
        )
    if state_file:
        try:
            state = EmulatorState.load(state_file)
        except InputError as error:
            # A shop it cannot serve is a bad argument: nothing was started.
            raise UsageError(str(error)) from None
    else:
        state = EmulatorState.generate(orders=orders, variants=variants, seed=seed)
    emulator = Emulator(
        state, host=host, port=port, rate_limit_per_minute=rate_limit, latency=latency / 1000
    )
    # Injected failures answer 5xx or 429; dropped connections are their own share.
    emulator.faults.set_rate(failure_rate, seed, _ANSWERED_FAULTS, after_apply)
    emulator.faults.set_drop_rate(drop_rate, after_apply)
    emulator.slow_apply(slow_apply)
    try:
        emulator.start()
    except OSError as error:
        raise UsageError(
            f"cannot listen on {host}:{port}: {error.strerror}; choose another --port (0: any free)"
        ) from None

    stop = threading.Event()
    # SIGINT too, explicitly: a shell starting us in the background (`&`, a CI step) may
    # have it ignored, and Python then never raises KeyboardInterrupt for Ctrl-C.
    handlers = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        click.echo(f"Squarespace emulator on {emulator.url}")
        # An emulator key guards nothing real: printing it is what makes the emulator usable.
        click.echo(f"API key: {emulator.api_key}")
        counts = state.counts()
        log.info("%d orders, %d variants; Ctrl-C to stop", counts["orders"], counts["variants"])
        stop.wait()
    finally:
        emulator.stop()
        for sig, previous in handlers.items():
            signal.signal(sig, previous)
    log.info("stopped after %d requests", state.stats.requests)


def _admin_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--url`` (the emulator's, as it printed it) and ``--json`` for an order command."""
    func = click.option(
        "--json", "as_json", is_flag=True, help="Print the order as one JSON object."
    )(func)
    return click.option(
        "--url",
        default="http://127.0.0.1:8400",
        show_default=True,
        envvar="SQSYNC_EMULATOR_URL",
        show_envvar=True,
        help="The running emulator's URL, as it printed it.",
    )(func)


def _show(order: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(order))
        return
    click.echo(
        f"order {order.get('orderNumber')} (id {order.get('id')}): "
        f"{order.get('fulfillmentStatus')}, payment {order.get('paymentState')}"
    )


@emulator_command.group("order")
def emulator_order() -> None:
    """Change an order in a running emulator, as a customer or the merchant would.

    ORDER is the Squarespace order id or its order number. The emulator's
    next answers show the change (a new modifiedOn), as Squarespace's would.

    \b
    Example:
      sqsync emulator order add --sku TEE-RED-M --quantity 2
      sqsync emulator order cancel 1001 --url http://127.0.0.1:8400
    """


@emulator_order.command("add")
@click.option("--sku", help="The SKU ordered (default: the first variant's).")
@click.option("--quantity", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--shipping-method", metavar="NAME", help='Shipping line, e.g. "Express".')
@_admin_options
def order_add(
    sku: str | None, quantity: int, shipping_method: str | None, url: str, as_json: bool
) -> None:
    """A customer places a paid order to GB with one line.

    \b
    Example:
      sqsync emulator order add --sku TEE-RED-M --quantity 2 --shipping-method Express
      ID=$(sqsync emulator order add --json | jq -r .id)
    """
    from sqsync.emulator.admin import EmulatorAdmin

    _show(EmulatorAdmin(url).add_order(sku, quantity, shipping_method), as_json)


@emulator_order.command("cancel")
@click.argument("order")
@_admin_options
def order_cancel(order: str, url: str, as_json: bool) -> None:
    """The merchant cancels an order (fulfillmentStatus CANCELED).

    \b
    Example:
      sqsync emulator order cancel 1001
    """
    from sqsync.emulator.admin import EmulatorAdmin

    _show(EmulatorAdmin(url).act(order, "cancel"), as_json)


@emulator_order.command("refund")
@click.argument("order")
@_admin_options
def order_refund(order: str, url: str, as_json: bool) -> None:
    """The merchant refunds an order in full (paymentState REFUNDED).

    \b
    Example:
      sqsync emulator order refund 1001
    """
    from sqsync.emulator.admin import EmulatorAdmin

    _show(EmulatorAdmin(url).act(order, "refund"), as_json)


@emulator_order.command("fulfil")
@click.argument("order")
@click.option("--carrier", help="Carrier of the shipment added (none: no shipment).")
@click.option("--service", help="Service of the shipment added.")
@click.option("--tracking-number", help="Tracking number of the shipment added.")
@click.option("--tracking-url", help="Tracking URL of the shipment added.")
@_admin_options
def order_fulfil(
    order: str,
    carrier: str | None,
    service: str | None,
    tracking_number: str | None,
    tracking_url: str | None,
    url: str,
    as_json: bool,
) -> None:
    """The merchant marks an order fulfilled in Squarespace (not through the API).

    \b
    Example:
      sqsync emulator order fulfil 1001 --carrier "Royal Mail" --tracking-number RM1GB
    """
    from sqsync.emulator.admin import EmulatorAdmin

    shipment = {
        "carrierName": carrier,
        "service": service,
        "trackingNumber": tracking_number,
        "trackingUrl": tracking_url,
    }
    _show(EmulatorAdmin(url).act(order, "fulfil", **shipment), as_json)
