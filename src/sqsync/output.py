"""Render rows as a table, JSON, NDJSON or CSV: one place for every listing command.

Rows are plain dicts. NDJSON and CSV stream row by row, so a large listing piped into
``jq`` or a spreadsheet never has to fit in memory; the table and JSON array need all
rows and collect them. CSV cells are made safe for spreadsheets, unless ``raw`` (for a
machine reading the file: cells exactly as stored).

Output is flushed before :func:`render` returns, so a reader that closed the pipe early
(``| head``) shows up as a ``BrokenPipeError`` while the command runs, where the command
line ends it quietly, never as an error in the interpreter's final flush.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TextIO

FORMATS = ("table", "json", "ndjson", "csv")

# A spreadsheet treats a cell starting with one of these as a formula. Customer-controlled
# text (names, addresses) must never run in the warehouse's spreadsheet, so such cells are
# prefixed with a quote, which spreadsheets show as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def to_json(value: Any, **kwargs: Any) -> str:
    """JSON with Decimals as strings and datetimes as ISO-8601 UTC."""
    return json.dumps(value, default=_default, ensure_ascii=False, **kwargs)


def neutralise_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will show as text, never evaluate."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        text = to_json(value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(_default(value)) if isinstance(value, Decimal | datetime | date) else str(value)
    if text.startswith(_FORMULA_START) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    # A negative quantity such as "-3" is data, not a formula; keep it usable.
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return text.strip() == text and not text.startswith(("=", "+", "@"))


def raw_cell(value: Any) -> str:
    """A CSV cell as stored, for a machine: no quote before a leading ``=``, ``-``..."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return to_json(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal | datetime | date):
        return str(_default(value))
    return str(value)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return to_json(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal | datetime | date):
        return str(_default(value))
    return str(value)


def render(
    rows: Iterable[dict[str, Any]],
    fmt: str = "table",
    columns: Sequence[str] | None = None,
    stream: TextIO | None = None,
    *,
    raw: bool = False,
) -> int:
    """Write rows to ``stream`` in ``fmt``; return how many rows were written.

    ``columns`` picks and orders the table and CSV columns (JSON keeps every key);
    without it the first row's keys are used. ``raw`` writes CSV cells as stored.
    """
    out = stream or sys.stdout
    # Checked as a str first so an unhashable fmt is refused as unknown, not a TypeError.
    writer = _WRITERS.get(fmt) if isinstance(fmt, str) else None
    if writer is None:
        raise ValueError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if raw and fmt == "csv":
        writer = _write_raw_csv
    count = writer(rows, columns, out)
    out.flush()
    return count


def _write_ndjson(
    rows: Iterable[dict[str, Any]], columns: Sequence[str] | None, out: TextIO
) -> int:
    count = 0
    for row in rows:
        out.write(to_json(row) + "\n")
        count += 1
    return count


def _write_json(rows: Iterable[dict[str, Any]], columns: Sequence[str] | None, out: TextIO) -> int:
    collected = list(rows)
    out.write(to_json(collected, indent=2) + "\n")
    return len(collected)


def _write_csv(
    rows: Iterable[dict[str, Any]],
    columns: Sequence[str] | None,
    out: TextIO,
    cell: Callable[[Any], str] = neutralise_cell,
) -> int:
    count = 0
    writer = None
    for row in rows:
        if writer is None:
            cols = list(columns or row.keys())
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(cols)
        writer.writerow([cell(row.get(c)) for c in cols])
        count += 1
    if writer is None and columns:
        # An empty listing still tells a spreadsheet (or the next import) its columns.
        csv.writer(out, lineterminator="\n").writerow(columns)
    return count


def _write_raw_csv(
    rows: Iterable[dict[str, Any]], columns: Sequence[str] | None, out: TextIO
) -> int:
    return _write_csv(rows, columns, out, raw_cell)


def _write_table(rows: Iterable[dict[str, Any]], columns: Sequence[str] | None, out: TextIO) -> int:
    collected = list(rows)
    cols = list(columns or (collected[0].keys() if collected else []))
    if not cols:
        return 0
    cells = [[_cell_text(r.get(c)).replace("\n", " ") for c in cols] for r in collected]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    out.write("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip() + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for row in cells:
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n")
    return len(collected)


_Writer = Callable[[Iterable[dict[str, Any]], Sequence[str] | None, TextIO], int]

_WRITERS: dict[str, _Writer] = {
    "table": _write_table,
    "json": _write_json,
    "ndjson": _write_ndjson,
    "csv": _write_csv,
}
