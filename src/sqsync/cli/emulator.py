"""Command: ``sqsync emulator``, a local Squarespace Commerce API for trial runs and the demo."""

from __future__ import annotations

import click

from sqsync.cli._root import cli

_GENERATOR_OPTIONS = ("orders", "variants", "seed")


@cli.command("emulator")
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
) -> None:
    """Serve a local Squarespace Commerce API until interrupted.

    It answers the orders, fulfilment and inventory endpoints with the real API's
    validation and errors, over HTTP on this machine, from a generated shop (the same
    for the same --seed) or a JSON file. Point a connection's api_url at the printed URL
    and give it the printed key. Ctrl-C (or SIGTERM) stops it.

    \b
    Example:
      sqsync emulator --port 8400 --orders 200 --variants 60 --seed 1
      sqsync emulator --port 0 --state my-shop.json --rate-limit 0
    """
    import logging
    import signal
    import threading

    from sqsync.emulator import Emulator, EmulatorState
    from sqsync.errors import UsageError

    log = logging.getLogger("sqsync.emulator")

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
        state = EmulatorState.load(state_file)
    else:
        state = EmulatorState.generate(orders=orders, variants=variants, seed=seed)
    emulator = Emulator(
        state, host=host, port=port, rate_limit_per_minute=rate_limit, latency=latency / 1000
    )
    try:
        emulator.start()
    except OSError as error:
        raise UsageError(
            f"cannot listen on {host}:{port}: {error.strerror}; choose another --port (0: any free)"
        ) from None

    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        click.echo(f"Squarespace emulator on {emulator.url}")
        # An emulator key guards nothing real: printing it is what makes the emulator usable.
        click.echo(f"API key: {emulator.api_key}")
        counts = state.counts()
        log.info("%d orders, %d variants; Ctrl-C to stop", counts["orders"], counts["variants"])
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
        signal.signal(signal.SIGTERM, previous)
    log.info("stopped after %d requests", state.stats.requests)
