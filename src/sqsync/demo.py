"""``make demo``: the whole loop against a local Squarespace emulator, no network, no account.

    python -m sqsync.demo [--orders 120] [--variants 40] [--seed 7] [--dir DIR]

It starts the emulator with a seeded shop, writes a config in a fresh folder, loads the
warehouse's stock, imports orders and syncs stock with ``sqsync run --force``, despatches
some orders, pushes the despatches back to Squarespace, shows ``sqsync status`` and stops
the emulator. Every step is a real ``sqsync`` command run in a subprocess and printed as
you would type it, so the output doubles as a tour of the command line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqsync.emulator import Emulator, EmulatorState
from sqsync.output import render

KEY_VARIABLE = "SQSYNC_DEMO_KEY"
CARRIERS = (("Royal Mail", "Tracked 48", "RM{:09d}GB"), ("DPD", "Next Day", "155{:011d}"))


class DemoFailed(Exception):
    """A step of the demo did not do what it should; the message says which."""


class Demo:
    """Runs sqsync commands against one emulator and config, printing them readably."""

    def __init__(self, folder: Path, emulator: Emulator, *, color: bool) -> None:
        self.folder = folder
        self.emulator = emulator
        self.color = color
        self.env = {
            **os.environ,
            "SQSYNC_CONFIG": str(folder / "sqsync.toml"),
            KEY_VARIABLE: emulator.api_key,
            "PYTHONUNBUFFERED": "1",
        }

    def heading(self, number: int, title: str) -> None:
        text = f"{number}. {title}"
        print()
        print(f"\033[1m{text}\033[0m" if self.color else text)
        print("-" * len(text))

    def say(self, text: str) -> None:
        print(text)

    def sqsync(self, *args: str, show: int | None = 40, quiet: bool = False) -> str:
        """Run ``sqsync ARGS`` in the demo folder; print it and up to ``show`` lines of output."""
        if not quiet:
            print(f"\n$ sqsync {' '.join(_quote(a) for a in args)}")
        done = subprocess.run(
            [sys.executable, "-m", "sqsync", *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if not quiet:
            lines = (done.stdout + done.stderr).rstrip("\n").splitlines()
            for line in lines[:show] if show is not None else lines:
                print(f"  {line}")
            if show is not None and len(lines) > show:
                print(f"  ... ({len(lines) - show} more lines)")
        if done.returncode != 0:
            raise DemoFailed(
                f"`sqsync {' '.join(args)}` exited {done.returncode}: "
                + (done.stderr.strip() or done.stdout.strip())
            )
        return done.stdout

    def table(self, rows: list[dict[str, Any]], columns: list[str]) -> None:
        sys.stdout.flush()
        render(rows, "table", columns)
        sys.stdout.flush()


def _quote(arg: str) -> str:
    return f"'{arg}'" if not arg or any(c in arg for c in " \"'$&|;") else arg


def write_config(folder: Path, url: str) -> Path:
    path = folder / "sqsync.toml"
    path.write_text(
        f"""# The demo's config: one Squarespace site (the local emulator) feeding one warehouse.
[store]
path = "sqsync.db"

[[connections]]
name = "demo"
client = "DEMO"
warehouse = "MAIN"
api_url = "{url}"
api_key_env = "{KEY_VARIABLE}"
order_prefix = "SQ-"
frequency = 15
stock_sync = true
stock_sync_frequency = 60
""",
        encoding="utf-8",
    )
    return path


def write_stock_csv(folder: Path, inventory: dict[str, dict[str, Any]], rng: random.Random) -> Path:
    """Warehouse counts for the shop's SKUs, leaving two out (their orders will be HOLDING)."""
    skus = sorted({item["sku"] for item in inventory.values() if item.get("sku")})
    missing = set(skus[-2:]) if len(skus) > 4 else set()
    lines = ["sku,quantity"]
    lines += [f"{sku},{rng.randint(5, 80)}" for sku in skus if sku not in missing]
    path = folder / "stock.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_despatch_csv(folder: Path, orders: list[dict[str, Any]], rng: random.Random) -> Path:
    lines = ["order_number,carrier,service,tracking_number"]
    for order in orders:
        carrier, service, pattern = rng.choice(CARRIERS)
        tracking = pattern.format(rng.randrange(10**8))
        lines.append(f"{order['order_number']},{carrier},{service},{tracking}")
    path = folder / "despatched.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def stock_changes(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    rows = []
    for variant_id, item in sorted(after.items(), key=lambda kv: kv[1].get("sku") or ""):
        old = before.get(variant_id, {})
        if not item.get("isUnlimited") and old.get("quantity") != item.get("quantity"):
            rows.append(
                {
                    "sku": item.get("sku"),
                    "product": item.get("descriptor"),
                    "squarespace_before": old.get("quantity"),
                    "squarespace_now": item.get("quantity"),
                }
            )
    return rows


def run_demo(demo: Demo, rng: random.Random, despatch_count: int) -> None:
    emu = demo.emulator
    pending = sum(1 for o in emu.orders.values() if o.get("fulfillmentStatus") == "PENDING")

    demo.heading(1, "A Squarespace shop, served locally by the emulator")
    demo.say(f"{len(emu.orders)} orders ({pending} awaiting fulfilment) and")
    demo.say(f"{len(emu.inventory)} product variants at {emu.url}")
    demo.say("(the same shop is available any time with `sqsync emulator --orders 120`)")

    demo.heading(2, "A config for it")
    config = write_config(demo.folder, emu.url)
    for line in config.read_text(encoding="utf-8").splitlines():
        demo.say(f"  {line}")
    demo.sqsync("check")

    demo.heading(3, "The warehouse counts its stock")
    stock_csv = write_stock_csv(demo.folder, emu.inventory, rng)
    demo.say(f"{stock_csv.name}: {len(stock_csv.read_text().splitlines()) - 1} SKUs counted;")
    demo.say("two of the shop's SKUs are left out, so their orders wait as HOLDING.")
    demo.sqsync("stock", "import", stock_csv.name)

    demo.heading(4, "Import orders and sync stock: what cron runs every few minutes")
    before = {vid: dict(item) for vid, item in emu.inventory.items()}
    demo.sqsync("run", "--force")

    demo.heading(5, "The orders the warehouse will now pick")
    demo.sqsync("orders", "list", "--status", "NEW", show=12)
    demo.say("\nOrders with a SKU the warehouse does not know wait for a person:")
    demo.sqsync("orders", "list", "--status", "HOLDING", show=6)
    holding = demo.sqsync("orders", "list", "--status", "HOLDING", "--format", "ndjson", quiet=True)
    problems = sorted({p for line in holding.splitlines() for p in json.loads(line)["problems"]})
    if problems:
        demo.say(f"\nTheir problems: {', '.join(problems)}.")
        sku = problems[0].removeprefix("unknown_sku:")
        demo.say(f"Once the warehouse stocks {sku}, the next import releases its orders:")
        demo.sqsync("stock", "set", sku, "25")
        demo.sqsync("import-orders")

    demo.heading(6, "Squarespace stock now follows the warehouse")
    demo.say("available = on hand - allocated to open orders; sent as relative adjustments")
    changes = stock_changes(before, emu.inventory)
    demo.table(changes[:12], ["sku", "product", "squarespace_before", "squarespace_now"])
    if len(changes) > 12:
        demo.say(f"... and {len(changes) - 12} more variants adjusted")
    demo.sqsync("stock", "list", show=8)

    demo.heading(7, "The warehouse ships some orders")
    listing = demo.sqsync("orders", "list", "--status", "NEW", "--format", "ndjson", quiet=True)
    orders = [json.loads(line) for line in listing.splitlines()][:despatch_count]
    if not orders:
        raise DemoFailed("no NEW order was imported, so there is nothing to despatch")
    despatch_csv = write_despatch_csv(demo.folder, orders, rng)
    demo.say(f"{despatch_csv.name} (the kind of file a carrier's software exports):")
    for line in despatch_csv.read_text(encoding="utf-8").splitlines()[:4]:
        demo.say(f"  {line}")
    demo.sqsync("despatch", "import", despatch_csv.name)

    demo.heading(8, "Push the despatches to Squarespace (customers get their tracking)")
    demo.sqsync("push-despatch")
    rows = []
    for order in orders:
        remote = emu.orders[order["squarespace_id"]]
        tracking = [s.get("trackingNumber") for s in remote.get("fulfillments") or []]
        rows.append(
            {
                "order_number": order["order_number"],
                "in_squarespace": remote.get("fulfillmentStatus"),
                "tracking": " ".join(t for t in tracking if t),
            }
        )
    demo.say("\nIn Squarespace now:")
    demo.table(rows, ["order_number", "in_squarespace", "tracking"])
    if any(row["in_squarespace"] != "FULFILLED" for row in rows):
        raise DemoFailed("a despatched order is not FULFILLED in Squarespace")

    demo.heading(9, "Status: what ran, what is due, what waits")
    demo.sqsync("status")

    demo.heading(10, "For real: a Squarespace API key, then one crontab line")
    demo.say("`run` does only what is due, so cron can call it every few minutes:")
    demo.sqsync("cron")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sqsync.demo", description=__doc__)
    parser.add_argument("--orders", type=int, default=120, help="orders in the shop (120)")
    parser.add_argument("--variants", type=int, default=40, help="product variants (40)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated shop (7)")
    parser.add_argument("--despatch", type=int, default=8, help="orders to despatch (8)")
    parser.add_argument("--dir", type=Path, help="folder for the config and store (new temp)")
    args = parser.parse_args(argv)

    folder = args.dir or Path(tempfile.mkdtemp(prefix="sqsync-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    state = EmulatorState.generate(orders=args.orders, variants=args.variants, seed=args.seed)
    demo_color = sys.stdout.isatty()
    print("sqsync demo: Squarespace <-> warehouse, against a local emulator (no network)")
    try:
        with Emulator(state) as emulator:
            run_demo(
                Demo(folder, emulator, color=demo_color), random.Random(args.seed), args.despatch
            )
    except DemoFailed as failure:
        print(f"\nsqsync demo: FAILED: {failure}", file=sys.stderr)
        return 1
    print("\nThe emulator is stopped. The demo's config and store are in")
    print(f"  {folder}")
    # The sqsync next to this Python (e.g. .venv/bin/sqsync), which may not be on PATH.
    beside = Path(sys.executable).parent / "sqsync"
    program = str(beside) if beside.is_file() else f"{sys.executable} -m sqsync"
    print(f"Look around: cd {folder} && {program} orders list --status DESPATCHED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
