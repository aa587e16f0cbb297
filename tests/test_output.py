"""The shared renderer: every listing format, and CSV cells safe for spreadsheets."""

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from sqsync.output import neutralise_cell, render

ROWS = [
    {"sku": "TEE-M", "qty": 3, "price": Decimal("12.50"), "at": datetime(2026, 1, 2, tzinfo=UTC)},
    {"sku": "=1+1", "qty": -2, "price": None, "at": None},
]


def _render(fmt, rows=ROWS, columns=None):
    out = io.StringIO()
    count = render(rows, fmt, columns, out)
    return count, out.getvalue()


def test_ndjson_one_object_per_line_with_decimal_strings():
    count, text = _render("ndjson")
    lines = [json.loads(line) for line in text.splitlines()]
    assert count == 2
    assert lines[0] == {"sku": "TEE-M", "qty": 3, "price": "12.50", "at": "2026-01-02T00:00:00Z"}


def test_json_is_an_array():
    _, text = _render("json")
    assert [r["sku"] for r in json.loads(text)] == ["TEE-M", "=1+1"]


def test_csv_neutralises_formulas_but_keeps_negative_numbers():
    _, text = _render("csv")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["sku", "qty", "price", "at"]
    assert rows[2][0] == "'=1+1"
    assert rows[2][1] == "-2"


@pytest.mark.parametrize("cell", ['=HYPERLINK("x")', "+SUM(A1)", "-A1", "@cmd", "\t=1"])
def test_formula_cells_become_text(cell):
    assert neutralise_cell(cell).startswith("'")


def test_table_aligns_columns_and_honours_column_choice():
    _, text = _render("table", columns=["qty", "sku"])
    lines = text.splitlines()
    assert lines[0].split() == ["qty", "sku"]
    assert lines[2].split() == ["3", "TEE-M"]


def test_empty_listing_writes_header_only_for_csv():
    count, text = _render("csv", rows=[], columns=["a", "b"])
    assert count == 0 and text == "a,b\n"


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="unknown output format"):
        _render("xml")
