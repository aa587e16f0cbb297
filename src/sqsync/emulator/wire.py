"""What crosses the wire: error answers, timestamps and opaque cursors.

Squarespace answers every failure with the same envelope ``{type, subtype, message,
details, contextId}``; :class:`ApiError` carries one from wherever it is raised to the
HTTP handler. Timestamps are ISO-8601 UTC with milliseconds (``2024-03-12T09:15:02.417Z``)
and are compared as integer epoch milliseconds. Cursors are unpadded base64url JSON, like
the real ones, so clients cannot (and must not) read anything into them.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
import string
from datetime import UTC, datetime, timedelta
from typing import Any

_EPOCH = datetime(1970, 1, 1)
_CONTEXT_CHARS = string.ascii_uppercase + string.digits
# Seconds may carry any number of fraction digits; only Z (or an explicit +00:00) is UTC.
_ISO_UTC = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:Z|\+00:00)$"
)

STATUS_TYPES = {
    400: "INVALID_REQUEST_ERROR",
    401: "AUTHORIZATION_ERROR",
    402: "WEBSITE_EXPIRED",
    403: "AUTHORIZATION_ERROR",
    404: "INVALID_REQUEST_ERROR",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    429: "TOO_MANY_REQUESTS",
    500: "SERVER_ERROR",
    502: "SERVER_ERROR",
    503: "SERVICE_UNAVAILABLE",
    504: "SERVER_ERROR",
}


class ApiError(Exception):
    """An API failure answered as ``status`` with the Squarespace error envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        subtype: str | None = None,
        *,
        type_: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.subtype = subtype
        self.type = type_ or STATUS_TYPES.get(status, "SERVER_ERROR")
        self.headers = headers or {}

    def envelope(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "subtype": self.subtype,
            "message": self.message,
            "details": None,
            "contextId": new_context_id(),
        }


def invalid(message: str, subtype: str = "INVALID_ARGUMENT") -> ApiError:
    """A 400 INVALID_REQUEST_ERROR: the most common answer, so it gets a short name."""
    return ApiError(400, message, subtype)


def new_context_id() -> str:
    return "".join(random.choices(_CONTEXT_CHARS, k=9))


def ms_to_iso(ms: int) -> str:
    """Epoch milliseconds -> ``YYYY-MM-DDThh:mm:ss.mmmZ``."""
    return (_EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds") + "Z"


def iso_to_ms(text: object) -> int | None:
    """A strict ISO-8601 UTC timestamp -> epoch milliseconds, or None when it isn't one."""
    if not isinstance(text, str):
        return None
    match = _ISO_UTC.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    except ValueError:
        return None
    millis = int((fraction or "0")[:3].ljust(3, "0"))
    return int((moment - _EPOCH) // timedelta(milliseconds=1)) + millis


def datetime_to_ms(moment: datetime) -> int:
    """An aware datetime -> epoch milliseconds (naive ones are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int((moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1))


def encode_cursor(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> dict[str, Any]:
    """The JSON object inside a cursor; a 400 for anything that isn't one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise invalid("The cursor is not valid.") from None
    if not isinstance(data, dict):
        raise invalid("The cursor is not valid.")
    return data
