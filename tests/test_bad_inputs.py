"""The bad-input catalogue: every way a person, a feed or Squarespace can hand sqsync garbage.

Each case drives the real CLI (click's CliRunner) and asserts the same five things:

* the exit code (2: usage or config, 1: the job or the input failed);
* ONE line on stderr, naming what is wrong, and no traceback;
* the store is unchanged (a dump of every table before and after);
* the API key never appears: not on stdout or stderr (also rerun with ``-vv``, so debug
  logs are checked too), and not in the bytes of the store files.

Squarespace's answers come from an ``httpx.MockTransport`` client, given to the CLI as its
``client_factory``, so the whole command path runs without a server.
Click's own usage errors (an unknown option, a value outside a choice) print click's
"Usage:/Try/Error:" block; for those the check is one ``Error:`` line and no traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from factories import (
    DEFAULT_CONNECTION,
    config_text,
    insert_order,
    record_import,
    table_names,
    write_config,
)
from sqsync.cli import cli
from sqsync.config import load_config
from sqsync.squarespace import Client
from sqsync.store import Store

KEY = "sk-SECRET-DO-NOT-PRINT-123"
KEY_ENV = "ACME_KEY"
Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class Shop:
    """A config (key in $ACME_KEY), a store holding one order and some stock, and a way to
    run the CLI against them."""

    folder: Path
    config: Path
    handler: Handler | None = None
    client_factory: Any = None
    ignored_tables: frozenset[str] = field(default_factory=frozenset)

    @property
    def store_path(self) -> Path:
        return self.folder / "sqsync.db"

    def invoke(self, args: Sequence[str], input: bytes | str | None = None) -> Result:
        return CliRunner().invoke(
            cli,
            ["--config", str(self.config), *args],
            input=input,
            obj={"client_factory": self.client_factory},
        )

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table (run_log left out where a failed run is recorded)."""
        store = Store.open(self.store_path)
        conn = store.conn
        try:
            names = table_names(store)
            # Pacing notes when the key's requests were answered (issue 15): bookkeeping
            # of what was sent, like the run log, not a change to the warehouse.
            skip = " WHERE key != 'pacing.recent'"
            return {
                name: sorted(
                    map(
                        tuple,
                        conn.execute(f"SELECT * FROM {name}{skip if name == 'sync_state' else ''}"),
                    ),
                    key=repr,
                )
                for name in sorted(names)
                if name not in self.ignored_tables and name != "schema_migrations"
            }
        finally:
            store.close()

    def store_bytes(self) -> bytes:
        return b"".join(
            path.read_bytes() for path in self.folder.glob("sqsync.db*") if path.is_file()
        )


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Shop:
    monkeypatch.setenv(KEY_ENV, KEY)
    config = write_config(tmp_path, api_url="https://api.squarespace.com", stock_sync=True)
    with Store.open(load_config(config).store_path) as store:
        insert_order(store, order_number="SQ-1001", items=[("RED-S", 2)])
        record_import(store)
        with store.transaction() as conn:
            conn.execute(
                "INSERT INTO stock_levels (client_id, warehouse_id, sku, on_hand, updated_at)"
                " SELECT c.id, w.id, 'RED-S', 7, '2026-01-01T00:00:00.000Z'"
                " FROM clients c, warehouses w"
            )
    made = Shop(tmp_path, config)

    def fake_client(connection: Any, **_: Any) -> Client:
        assert made.handler is not None, "this case was not meant to reach Squarespace"
        return Client(
            connection.api_key(),
            base_url=connection.api_url,
            transport=httpx.MockTransport(made.handler),
            sleep=lambda seconds: None,
            max_attempts=1,  # retries are the client's tests; here one failed answer suffices
        )

    made.client_factory = fake_client
    return made


def assert_refused(
    shop: Shop,
    args: Sequence[str],
    exit_code: int,
    expect: str,
    input: bytes | str | None = None,
    *,
    click_usage: bool = False,
) -> str:
    """Run ``args`` and check the catalogue's promises; return the error line."""
    before = shop.dump()
    result = shop.invoke(args, input=input)
    assert result.exit_code == exit_code, (result.exit_code, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if click_usage:
        lines = [line for line in lines if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    assert expect in lines[0], lines[0]
    assert shop.dump() == before
    # The same again with debug logging: no log line may carry the key either.
    verbose = shop.invoke(["-vv", *args], input=input)
    for output in (result.stdout, result.stderr, verbose.stdout, verbose.stderr):
        assert KEY not in output
    assert KEY.encode() not in shop.store_bytes()
    return lines[0]


# --------------------------------------------------------------------------- config files


def config_with(**overrides: Any) -> str:
    """The default connection with some keys changed (None removes a key)."""
    merged = {**DEFAULT_CONNECTION, "api_url": "https://api.squarespace.com", **overrides}
    return config_text([{k: v for k, v in merged.items() if v is not None}])


TWIN = {**DEFAULT_CONNECTION, "name": "twin", "api_url": "https://api.squarespace.com"}
ACME = {**DEFAULT_CONNECTION, "api_url": "https://api.squarespace.com"}

CONFIG_CASES = [
    pytest.param("[[connections]\nname = 'acme'\n", "invalid TOML", id="bad-toml"),
    pytest.param('[store]\npath = "sqsync.db"\ncolour = "blue"\n', "unknown key", id="unknown-top"),
    pytest.param(config_with(stock_synk=True), "stock_synk: unknown key", id="unknown-key"),
    pytest.param(config_with(frequency="soon"), "frequency", id="bad-frequency"),
    pytest.param(config_with(frequency=0), "at least 1 minute", id="zero-frequency"),
    pytest.param(config_with(stock_sync="yes"), "stock_sync", id="wrong-type-bool"),
    pytest.param(config_with(stock_buffer="5"), "stock_buffer", id="wrong-type-int"),
    pytest.param(config_with(stock_buffer=-1), "stock_buffer", id="negative-buffer"),
    pytest.param(config_with(warehouse=None), "warehouse: required", id="missing-warehouse"),
    pytest.param(config_with(name="ACME Shop"), "name", id="bad-name"),
    pytest.param(
        config_text([ACME, {**ACME, "client": "OTHER"}]), "another connection", id="duplicate-name"
    ),
    pytest.param(config_text([ACME, TWIN]), "order_prefix", id="duplicate-prefix"),
    pytest.param(config_with(api_url="http://example.com"), "https", id="http-remote"),
    pytest.param(config_with(api_url="ftp://127.0.0.1/"), "http(s) URL", id="not-http"),
    pytest.param(config_with(shipping_zone="EU"), "shipping_zone", id="unknown-zone"),
    pytest.param(
        '[shipping_zones]\nEU = ["fr"]\n' + config_with(), "shipping_zones", id="bad-country"
    ),
    pytest.param(config_with(payment_states=["PAYED"]), "PAYED", id="bad-payment-state"),
    pytest.param(config_with(import_from="2026-01-01T00:00:00"), "timezone", id="naive-import"),
    pytest.param(config_with(api_key_env=None), "exactly one of", id="no-key-source"),
    pytest.param(config_with(api_key=KEY), "exactly one of", id="two-key-sources"),
    pytest.param(config_with(api_key_env=None, api_key=[KEY]), "api_key", id="key-wrong-type"),
    pytest.param(config_with(api_key_env="SQSYNC_TEST_UNSET"), "SQSYNC_TEST_UNSET", id="unset-env"),
    pytest.param(
        config_with(api_key_env=None, api_key_file="missing.key"), "missing.key", id="no-key-file"
    ),
    pytest.param(config_with(api_key_env=None, api_key_file="."), "cannot read", id="key-file-dir"),
    pytest.param(b"\xff\xfe[store]\n", "not UTF-8", id="not-utf8"),
]


@pytest.mark.parametrize(("text", "expect"), CONFIG_CASES)
def test_bad_config_is_one_line_exit_2(shop: Shop, text: str | bytes, expect: str) -> None:
    if isinstance(text, bytes):
        shop.config.write_bytes(text)
    else:
        shop.config.write_text(text, encoding="utf-8")
    line = assert_refused(shop, ["import-orders"], 2, expect)
    assert line.startswith(f"sqsync: error: {shop.config}")


def test_missing_config_file(shop: Shop) -> None:
    shop.config = shop.folder / "nowhere.toml"
    assert_refused(shop, ["orders", "list"], 2, "config file not found")


def test_empty_key_file(shop: Shop) -> None:
    (shop.folder / "acme.key").write_text("\n", encoding="utf-8")
    shop.config.write_text(config_with(api_key_env=None, api_key_file="acme.key"), "utf-8")
    assert_refused(shop, ["push-despatch"], 2, "is empty")


# --------------------------------------------------------------------------- arguments

ADD = ["despatch", "add", "SQ-1001", "--carrier", "RM", "--service", "T48"]
ARGUMENT_CASES = [
    pytest.param(["import-orders", "--since", "yesterday"], 2, "--since", id="since-not-iso"),
    pytest.param(["import-orders", "--since", "2026-13-45"], 2, "--since", id="since-bad-date"),
    pytest.param(["import-orders", "-c", "nosuch"], 2, "nosuch", id="unknown-connection"),
    pytest.param(["push-despatch", "-c", "acme", "-c", "nosuch"], 2, "nosuch", id="one-unknown"),
    pytest.param(["despatch", "list", "-c", "nosuch"], 2, "nosuch", id="list-unknown-connection"),
    pytest.param(
        ["stock", "set", "RED-S", "4", "--client", "NOPE"], 2, "NOPE", id="unknown-client"
    ),
    pytest.param([*ADD, "--shipped-at", "soon"], 1, "shipped_at", id="despatch-bad-time"),
    pytest.param(
        [*ADD, "--shipped-at", "2026-11-27T10:00:00"], 1, "timezone", id="despatch-naive-time"
    ),
    pytest.param(
        [*ADD, "--tracking-number", "RM1", "--tracking-url", "javascript:alert(1)"],
        1,
        "tracking_url",
        id="despatch-bad-url",
    ),
    pytest.param(
        ["despatch", "add", "SQ-1001", "--carrier", "x" * 101, "--service", "T48"],
        1,
        "100",
        id="despatch-long-carrier",
    ),
    pytest.param(
        ["despatch", "add", "SQ-9999", "--carrier", "RM", "--service", "T48"],
        1,
        "SQ-9999",
        id="despatch-unknown-order",
    ),
    pytest.param(["despatch", "retry", "SQ-9999"], 1, "SQ-9999", id="retry-unknown-order"),
]


@pytest.mark.parametrize(("args", "exit_code", "expect"), ARGUMENT_CASES)
def test_bad_argument(shop: Shop, args: list[str], exit_code: int, expect: str) -> None:
    line = assert_refused(shop, args, exit_code, expect)
    assert line.startswith("sqsync: error: ")


def test_sync_stock_refuses_a_connection_without_stock_sync(shop: Shop) -> None:
    shop.config.write_text(config_with(stock_sync=False), "utf-8")
    assert_refused(shop, ["sync-stock", "-c", "acme"], 2, "stock_sync = false")


def test_since_in_the_future_is_a_usage_error(shop: Shop) -> None:
    assert_refused(shop, ["import-orders", "--since", "2999-01-01"], 2, "not in the past")


CLICK_USAGE_CASES = [
    pytest.param(["orders", "list", "--format", "xml"], "--format", id="bad-format"),
    pytest.param(["stock", "set", "--", "RED-S", "-3"], "-3", id="negative-quantity"),
    pytest.param(["stock", "set", "RED-S", "three"], "three", id="quantity-not-number"),
    pytest.param(["import-orders", "--bogus"], "--bogus", id="unknown-option"),
    pytest.param(["despatch", "list", "--state", "lost"], "lost", id="bad-state"),
]


@pytest.mark.parametrize(("args", "expect"), CLICK_USAGE_CASES)
def test_bad_usage_caught_by_click(shop: Shop, args: list[str], expect: str) -> None:
    assert_refused(shop, args, 2, expect, click_usage=True)


def test_stock_set_huge_quantity(shop: Shop) -> None:
    assert_refused(shop, ["stock", "set", "RED-S", str(10**30)], 2, "quantity")


# --------------------------------------------------------------------------- feeds

STOCK_FEED_CASES = [
    pytest.param("counts.csv", b"sku\nRED-S\n", "quantity", id="csv-missing-column"),
    pytest.param("counts.csv", b"sku,quantity\nRED-S,x\n", "line 2: quantity", id="csv-not-number"),
    pytest.param("counts.csv", b"sku,quantity\nRED-S,-1\n", "quantity", id="csv-negative"),
    pytest.param("counts.csv", b"sku,quantity\nRED-S,2.5\n", "quantity", id="csv-fraction"),
    pytest.param("counts.csv", b"sku,qty\nRED-S,1\n", "quantity", id="csv-misspelt-column"),
    pytest.param("counts.csv", b"sku,quantity,bin\nA,1,3\n", "bin", id="csv-unknown-column"),
    pytest.param("counts.csv", b"sku,quantity\nA,1,9\n", "cells", id="csv-extra-cell"),
    pytest.param("counts.csv", b"sku,quantity\nR\xe9D,1\n", "not UTF-8", id="csv-latin1"),
    pytest.param("counts.csv", b"", "empty feed", id="csv-empty"),
    pytest.param("counts.csv", b"sku,quantity\n" + b"S" * 201 + b",1\n", "sku", id="csv-long-sku"),
    pytest.param("counts.csv", b'sku,quantity\n"RED-S,1\n', "line", id="csv-unclosed-quote"),
    pytest.param(
        "counts.csv", b"sku,quantity,client\nRED-S,1,NOPE\n", "NOPE", id="csv-unknown-client"
    ),
    pytest.param("counts.ndjson", b'{"sku": "RED-S", "quantity": 1\n', "JSON", id="ndjson-bad"),
    pytest.param("counts.ndjson", b'["RED-S", 1]\n', "JSON object", id="ndjson-array"),
    pytest.param("counts.ndjson", b'{"sku": "RED-S", "quantity": true}\n', "quantity", id="bool"),
    pytest.param("counts.ndjson", b'{"sku": "RED-S"}\n', "quantity: required", id="ndjson-missing"),
    pytest.param("counts.ndjson", b'{"sku": 5, "quantity": 1}\n', "sku", id="ndjson-sku-number"),
]


@pytest.mark.parametrize(("name", "content", "expect"), STOCK_FEED_CASES)
def test_bad_stock_feed(shop: Shop, name: str, content: bytes, expect: str) -> None:
    (shop.folder / name).write_bytes(content)
    line = assert_refused(shop, ["stock", "import", str(shop.folder / name)], 1, expect)
    assert name in line


def test_bad_stock_feed_on_stdin(shop: Shop) -> None:
    line = assert_refused(
        shop, ["stock", "import", "-"], 1, "quantity", input=b"sku,quantity\nA,\n"
    )
    assert "stdin" in line


def test_stock_feed_huge_quantity(shop: Shop) -> None:
    (shop.folder / "huge.csv").write_bytes(b"sku,quantity\nRED-S," + b"9" * 30 + b"\n")
    assert_refused(shop, ["stock", "import", str(shop.folder / "huge.csv")], 1, "quantity")


DESPATCH_HEADER = b"order_number,carrier,service,tracking_number,tracking_url,shipped_at\n"
# id: (CSV rows under DESPATCH_HEADER, what the error line names)
DESPATCH_CSV = {
    "bad-url": (b"SQ-1001,RM,T48,RM1,notaurl,\n", "tracking_url"),
    "bad-time": (b"SQ-1001,RM,T48,RM1,,yesterday\n", "shipped_at"),
    "naive-time": (b"SQ-1001,RM,T48,RM1,,2026-11-27T10:00:00\n", "timezone"),
    "long-tracking": (b"SQ-1001,RM,T48," + b"9" * 101 + b",,\n", "tracking_number"),
    "unknown-order": (b"SQ-9999,RM,T48,RM1,,\n", "SQ-9999"),
    "url-without-number": (b"SQ-1001,RM,T48,,https://track.example/1,\n", "tracking"),
    "latin1": (b"SQ-1001,R\xf6yal,T48,RM1,,\n", "UTF-8"),
    "same-parcel-twice": (b"SQ-1001,RM,T48,RM1,,\n" * 2, "line"),
}
DESPATCH_FEED_CASES = [
    *(
        pytest.param("shipped.csv", DESPATCH_HEADER + rows, expect, id=name)
        for name, (rows, expect) in DESPATCH_CSV.items()
    ),
    pytest.param("shipped.csv", b"order_number,carrier\nSQ-1001,RM\n", "service", id="no-column"),
    pytest.param("shipped.ndjson", b'{"order_number": "SQ-1001",\n', "JSON", id="ndjson-bad"),
    pytest.param(
        "shipped.ndjson",
        b'{"order_number": "SQ-1001", "carrier": "RM", "service": ["T48"]}\n',
        "service",
        id="ndjson-list",
    ),
]


@pytest.mark.parametrize(("name", "content", "expect"), DESPATCH_FEED_CASES)
def test_bad_despatch_feed(shop: Shop, name: str, content: bytes, expect: str) -> None:
    (shop.folder / name).write_bytes(content)
    line = assert_refused(shop, ["despatch", "import", str(shop.folder / name)], 1, expect)
    assert line.startswith("sqsync: error: ")


# --------------------------------------------------------------------------- API answers


def envelope(message: str, subtype: str | None = None) -> dict[str, Any]:
    return {"type": "ERROR", "subtype": subtype, "message": message, "contextId": "CTX-7"}


def answer(status: int, body: Any, content_type: str = "application/json") -> Handler:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == f"Bearer {KEY}"
        return httpx.Response(status, content=raw, headers={"Content-Type": content_type})

    return handle


def inventory(*items: dict[str, Any]) -> dict[str, Any]:
    return {"inventory": list(items), "pagination": {"hasNextPage": False}}


API_CASES = [
    pytest.param("import-orders", answer(401, envelope("Unauthorized")), "401", id="401"),
    pytest.param("import-orders", answer(402, envelope("Expired")), "402", id="402"),
    pytest.param("sync-stock", answer(403, envelope("Forbidden")), "Inventory", id="403-inventory"),
    pytest.param("import-orders", answer(403, envelope("Forbidden")), "Orders", id="403-orders"),
    pytest.param("import-orders", answer(404, envelope("Not found")), "404", id="404"),
    pytest.param("import-orders", answer(200, b"{not json"), "not JSON", id="malformed-json"),
    pytest.param("import-orders", answer(200, b"\xff\xfe\x00"), "not JSON", id="binary-body"),
    pytest.param("import-orders", answer(200, {"pagination": {}}), "result", id="missing-result"),
    pytest.param("import-orders", answer(200, {"result": "x"}), "result", id="mistyped-result"),
    pytest.param(
        "import-orders",
        answer(200, {"result": [], "pagination": {"hasNextPage": True}}),
        "nextPageCursor",
        id="next-page-without-cursor",
    ),
    pytest.param("sync-stock", answer(200, b"[]"), "inventory", id="inventory-not-object"),
    pytest.param(
        "import-orders",
        answer(502, b"<html><body>Bad Gateway</body></html>", "text/html"),
        "502",
        id="html-502",
    ),
    pytest.param("import-orders", answer(503, b""), "503", id="empty-503"),
    pytest.param("sync-stock", answer(429, envelope("Slow down")), "429", id="429"),
    pytest.param(
        "import-orders", answer(400, envelope("Bad cursor", "INVALID_ARGUMENT")), "400", id="400"
    ),
]


@pytest.mark.parametrize(("job", "handler", "expect"), API_CASES)
def test_bad_api_answer(shop: Shop, job: str, handler: Handler, expect: str) -> None:
    shop.handler = handler
    shop.ignored_tables = frozenset({"run_log"})  # the failed run is recorded, by design
    line = assert_refused(shop, [job], 1, expect)
    assert line.startswith(f"acme {job}: FAILED: ")


def test_huge_inventory_quantity_is_not_sent(shop: Shop) -> None:
    """A quantity far past anything Squarespace stores is a broken answer: nothing is sent."""
    sent: list[httpx.Request] = []
    listing = answer(200, inventory({"variantId": "v1", "sku": "RED-S", "quantity": 10**40}))

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return listing(request) if request.method == "GET" else httpx.Response(204)

    shop.handler = handle
    result = shop.invoke(["sync-stock", "--json"])
    assert "Traceback" not in result.stderr
    assert [r.method for r in sent if r.method == "POST"] == [], result.stderr


def test_timeout_is_one_line(shop: Shop) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    shop.handler = handle
    shop.ignored_tables = frozenset({"run_log"})
    assert_refused(shop, ["import-orders"], 1, "import-orders: FAILED")
