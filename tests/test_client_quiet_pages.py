"""A page with no records is read without the API models (issue 15): a quiet `run` then
never builds them. Every page shape is read exactly as the models read it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from sqsync.squarespace import client as client_module
from sqsync.squarespace.client import Client
from sqsync.squarespace.errors import UnexpectedResponseError
from sqsync.squarespace.models import InventoryItem, InventoryPayload, Order, OrdersPayload

SHAPES = [
    {"result": [], "pagination": {"hasNextPage": False, "nextPageCursor": None}},
    {"result": [], "pagination": {"hasNextPage": True, "nextPageCursor": "c2"}},
    {"result": [], "pagination": {"hasNextPage": False, "nextPageCursor": ""}},
    {"result": [], "pagination": {"nextPageUrl": None}},
    {"result": [], "pagination": None},
    {"result": []},
    {"result": None, "pagination": {"hasNextPage": False}},
    {"result": [], "pagination": {"hasNextPage": "true", "nextPageCursor": "c2"}},
    {"result": [], "pagination": {"hasNextPage": True, "nextPageCursor": 7}},
    {"result": [], "pagination": []},
    {"result": [], "pagination": "none"},
    {"result": {}},
    {"orders": []},
    [],
    {"result": [], "extra": {"result": [1]}},
]


def _read(client: Client, body: bytes, *, models_only: bool, monkeypatch) -> object:
    if models_only:
        monkeypatch.setattr(client_module, "_empty_page", lambda content, key: None)
    try:
        page = client._page(body, "/1.0/commerce/orders", OrdersPayload, Order, "result", "id")
    except UnexpectedResponseError as error:
        return ("unexpected", str(error))
    finally:
        monkeypatch.undo()
    return page


@pytest.mark.parametrize("shape", SHAPES, ids=range(len(SHAPES)))
def test_a_page_reads_the_same_with_or_without_the_empty_page_path(shape, monkeypatch):
    client = Client("key", base_url="https://api.example.test")
    body = json.dumps(shape).encode()
    quick = _read(client, body, models_only=False, monkeypatch=monkeypatch)
    models = _read(client, body, models_only=True, monkeypatch=monkeypatch)
    assert quick == models


def test_an_empty_inventory_answer_reads_the_same_way(monkeypatch):
    client = Client("key", base_url="https://api.example.test")
    body = b'{"inventory": [], "pagination": {"hasNextPage": false}}'
    quick = client._page(body, "/x", InventoryPayload, InventoryItem, "inventory", "variantId")
    assert quick == ([], [], False, None)


def test_a_page_with_records_is_read_by_the_models_only(monkeypatch):
    seen = []
    real = client_module._empty_page
    monkeypatch.setattr(
        client_module, "_empty_page", lambda c, k: seen.append(real(c, k)) or seen[-1]
    )
    client = Client("key", base_url="https://api.example.test")
    body = json.dumps({"result": [{"id": "o1"}], "pagination": None}).encode()
    client._page(body, "/1.0/commerce/orders", OrdersPayload, Order, "result", "id")
    assert seen == [None]


def test_a_quiet_import_builds_none_of_the_api_models(tmp_path, emulator):
    config = tmp_path / "sqsync.toml"
    config.write_text(
        f'[store]\npath = "quiet.db"\n\n[[connections]]\nname = "shop"\nclient = "C"\n'
        f'warehouse = "W"\napi_url = "{emulator.url}"\napi_key = "{emulator.api_key}"\n',
        encoding="utf-8",
    )
    code = textwrap.dedent(
        f"""
        import sys
        from sqsync.cli import cli
        from sqsync.squarespace import models
        for _ in range(2):  # the first run imports; the second is a quiet tick
            cli.main(["--config", {str(config)!r}, "run", "--force"], standalone_mode=False)
        built = [name for name, model in vars(models).items()
                 if isinstance(model, type) and issubclass(model, models.ApiModel)
                 and model.__pydantic_complete__]
        print("built:", *built)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-800:]
    assert done.stdout.split() == ["built:"]
