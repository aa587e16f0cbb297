"""Read CSV and NDJSON feeds into validated pydantic rows, each with its line number.

A feed is all-or-nothing: :func:`read_rows` validates every row before returning, and the
first bad one raises an :class:`~sqsync.errors.InputError` naming the file and the line,
e.g. ``stock.csv line 4: quantity: must be a whole number >= 0, got "x"``. Callers write
nothing until it returns. CSV needs a header row; empty cells count as missing, so optional
columns may be left blank. Row models live here too, so ``stock import`` and
``despatch import`` share one reader.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import IO, Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from sqsync.clock import utcnow
from sqsync.domain.despatch import Despatch
from sqsync.domain.limits import MAX_QUANTITY, MAX_SHIPMENT_FIELD, is_http_url
from sqsync.errors import InputError

FEED_FORMATS = ("csv", "ndjson")
Row = TypeVar("Row", bound=BaseModel)


def _whole_number(value: Any) -> Any:
    """A count: 3 or "3" (CSV cells are text); never 3.5, true, -1 or past MAX_QUANTITY."""
    text = value.strip() if isinstance(value, str) else value
    number: int | None = None
    if isinstance(text, str) and text.isascii() and text.isdigit():
        number = int(text)
    elif isinstance(text, int) and not isinstance(text, bool) and text >= 0:
        number = text
    if number is not None and number > MAX_QUANTITY:
        raise PydanticCustomError(
            "whole_number", "must be at most {most}", {"most": f"{MAX_QUANTITY:,}"}
        )
    if number is not None:
        return number
    shown = value if isinstance(value, str) else json.dumps(value)
    raise PydanticCustomError(
        "whole_number", 'must be a whole number >= 0, got "{shown}"', {"shown": shown}
    )


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]
Code = Annotated[str, BeforeValidator(_stripped), Field(min_length=1, max_length=200)]


class FeedRow(BaseModel):
    """Base for feed rows: unknown columns are refused (a misspelt column is not ignored)."""

    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)


class StockLevelRow(FeedRow):
    """A ``stock import`` row: set ``sku`` to ``quantity`` on hand."""

    sku: Code
    quantity: WholeNumber
    client: Code | None = None
    warehouse: Code | None = None


def feed_format(path: str | Path | None, given: str | None = None) -> str:
    """The format asked for, else by extension (.ndjson/.jsonl), else csv."""
    if given:
        return given
    suffix = Path(str(path)).suffix.lower() if path and str(path) != "-" else ""
    return "ndjson" if suffix in (".ndjson", ".jsonl") else "csv"


def read_rows(source: str | Path | IO[bytes], fmt: str, model: type[Row]) -> list[tuple[int, Row]]:
    """Every row of the feed as ``(line_number, row)``; InputError at the first bad row.

    ``source`` is a path, ``"-"`` for stdin, or a binary stream (named by its ``name``).
    """
    name, data = _read_bytes(source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputError(f"{name} line {line}: not UTF-8 text") from None
    if fmt == "csv":
        records = _csv_records(name, text, model)
    elif fmt == "ndjson":
        records = _ndjson_records(name, text)
    else:
        raise ValueError(f"unknown feed format {fmt!r}; choose one of {', '.join(FEED_FORMATS)}")
    rows = []
    for line, record in records:
        try:
            rows.append((line, model.model_validate(record)))
        except ValidationError as error:
            raise InputError(f"{name} line {line}: {describe_error(error)}") from None
    return rows


def _read_bytes(source: str | Path | IO[bytes]) -> tuple[str, bytes]:
    if isinstance(source, str | Path):
        if str(source) == "-":
            return "stdin", sys.stdin.buffer.read()
        try:
            return str(source), Path(source).read_bytes()
        except OSError as error:
            raise InputError(f"{source}: cannot read: {error.strerror}") from None
    return str(getattr(source, "name", "stdin")), source.read()


def _csv_records(name: str, text: str, model: type[BaseModel]) -> Iterator[tuple[int, dict]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    line_end = 0
    try:
        for cells in reader:
            line, line_end = line_end + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # blank line
            if header is None:
                header = _check_header(name, line, cells, model)
                continue
            if len(cells) > len(header):
                raise InputError(
                    f"{name} line {line}: {len(cells)} cells but the header names "
                    f"{len(header)} columns"
                )
            yield line, {col: cell for col, cell in zip(header, cells, strict=False) if cell != ""}
    except csv.Error as error:
        raise InputError(f"{name} line {reader.line_num}: malformed CSV: {error}") from None
    if header is None:
        raise InputError(f"{name}: empty feed: a header row is required")


def _check_header(name: str, line: int, cells: list[str], model: type[BaseModel]) -> list[str]:
    header = [cell.strip().lower() for cell in cells]
    known = list(model.model_fields)
    required = [f for f, info in model.model_fields.items() if info.is_required()]
    missing = [f for f in required if f not in header]
    if missing:
        raise InputError(
            f"{name} line {line}: the header row must name the columns {', '.join(required)} "
            f"(missing {', '.join(missing)}; got {', '.join(cells)})"
        )
    for column in header:
        if column not in known:
            raise InputError(
                f'{name} line {line}: unknown column "{column}"; known: {", ".join(known)}'
            )
    if len(set(header)) != len(header):
        raise InputError(f"{name} line {line}: a column is named twice")
    return header


def _ndjson_records(name: str, text: str) -> Iterator[tuple[int, Any]]:
    for line, content in enumerate(text.splitlines(), start=1):
        if not content.strip():
            continue
        try:
            record = json.loads(content)
        except json.JSONDecodeError as error:
            raise InputError(
                f"{name} line {line}: not valid JSON: {error.msg} (column {error.colno})"
            ) from None
        if not isinstance(record, dict):
            raise InputError(f"{name} line {line}: expected a JSON object")
        yield line, {k: v for k, v in record.items() if v is not None}


def describe_error(error: ValidationError) -> str:
    """One line for the first problem of a row: ``field: what is wrong, got "value"``."""
    problem = error.errors(include_url=False)[0]
    field = ".".join(str(part) for part in problem["loc"])
    kind = problem["type"]
    if kind == "missing":
        message = "required"
    elif kind == "extra_forbidden":
        message = "unknown field"
    else:
        message = problem["msg"]
        if kind != "whole_number" and isinstance(problem.get("input"), str | int | float):
            message = f'{message[:1].lower()}{message[1:]}, got "{problem["input"]}"'
    return f"{field}: {message}" if field else message


# ---------------------------------------------------------------------- despatch rows

# The fields Squarespace caps at 100 characters (checked on the row, so a feed is refused
# when it is imported, not days later when push-despatch gets a 400).
_CAPPED = ("carrier", "service", "tracking_number")


def _stripped_or_none(value: Any) -> Any:
    # NDJSON writers often emit numeric order and tracking numbers as numbers.
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _aware_time(value: Any) -> Any:
    if value is None or isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            moment = None
        if moment is None:
            raise PydanticCustomError(
                "iso_time", "must be an ISO-8601 time with a timezone, e.g. 2026-11-27T10:00:00Z"
            )
    if moment is not None and moment.tzinfo is None:
        raise PydanticCustomError(
            "naive_time", "has no timezone; add Z for UTC or an offset such as +01:00"
        )
    return moment


def _http_url(value: Any) -> Any:
    if isinstance(value, str) and not is_http_url(value):
        raise PydanticCustomError("http_url", "must be an http(s) URL")
    return value


Text = Annotated[str, BeforeValidator(_stripped_or_none), Field(min_length=1)]
OptionalText = Annotated[str | None, BeforeValidator(_stripped_or_none)]


class DespatchRow(FeedRow):
    """A ``despatch import`` row (and the checks ``despatch add`` applies to its options)."""

    order_number: Annotated[Text, Field(max_length=200)]
    # Left out (or empty): the order's mapped carrier and service (courier_map).
    carrier: OptionalText = None
    service: OptionalText = None
    tracking_number: OptionalText = None
    tracking_url: Annotated[OptionalText, BeforeValidator(_http_url)] = None
    shipped_at: Annotated[datetime | None, BeforeValidator(_aware_time)] = None
    client: Code | None = None

    @model_validator(mode="after")
    def _squarespace_limits(self) -> DespatchRow:
        # Checked here rather than per field so the message does not echo a huge value.
        for name in _CAPPED:
            value = getattr(self, name)
            if value is not None and len(value) > MAX_SHIPMENT_FIELD:
                raise PydanticCustomError(
                    "too_long",
                    "{name}: {length} characters; Squarespace takes at most {most}",
                    {"name": name, "length": len(value), "most": MAX_SHIPMENT_FIELD},
                )
        if self.tracking_url is not None and self.tracking_number is None:
            raise PydanticCustomError(
                "url_without_number",
                "tracking_url given without tracking_number; Squarespace keeps a URL only "
                "on a shipment with a tracking number",
            )
        return self


def despatch_of(where: str, row: DespatchRow, client: str | None = None) -> Despatch:
    """The row's despatch; ``client`` is the default for a row without one."""
    return Despatch(
        where,
        row.order_number,
        row.carrier,
        row.service,
        row.tracking_number,
        row.tracking_url,
        row.shipped_at,
        row.client or client,
    )


def despatches_from_feed(
    rows: Iterable[tuple[int, DespatchRow]], source: str, client: str | None = None
) -> list[Despatch]:
    """Despatches for the ``(line, row)`` pairs :func:`read_rows` returns."""
    return [despatch_of(f"{source} line {line}", row, client) for line, row in rows]


def despatch_from_options(
    where: str, *, clock: Callable[[], datetime] = utcnow, **options: Any
) -> Despatch:
    """One despatch from command options, checked exactly like a feed row.

    ``despatch add`` names one parcel shipped now (unless --shipped-at says when), so its
    time is explicit: a second trackless parcel added later is a new parcel, not a repeat.
    """
    try:
        row = DespatchRow.model_validate({k: v for k, v in options.items() if v is not None})
    except ValidationError as error:
        raise InputError(f"{where}: {describe_error(error)}") from None
    despatch = despatch_of(where, row)
    if despatch.shipped_at is None:
        despatch = replace(despatch, shipped_at=clock())
    return despatch
