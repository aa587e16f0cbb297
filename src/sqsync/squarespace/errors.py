"""Exceptions raised by the Squarespace client, each one line a person can act on.

    SqsyncError                       exit 1, in sqsync.errors; catching it catches all below
    └── SquarespaceError              .status .type .subtype .message .context_id .method .path
        ├── InvalidRequestError       400, or refused client-side before sending (status None)
        ├── AuthenticationError       401: the API key was refused
        ├── WebsiteExpiredError       402: the site's billing has lapsed
        ├── PermissionDeniedError     403: the key lacks Orders / Inventory permission
        ├── NotFoundError             404
        ├── ConflictError             409: see .subtype (INSUFFICIENT_STOCK, STOCK_NOT_TRACKED, ...)
        ├── RateLimitedError          429 still answered after every allowed attempt
        ├── ServerError               5xx still answered after every allowed attempt
        ├── OutcomeUnknownError       a non-idempotent write may or may not have been applied
        ├── TransportError            no answer (connection failed) after every allowed attempt
        └── UnexpectedResponseError   a 2xx answer the client cannot use (bad JSON, broken paging)

``str(error)`` is what happened, where (method, host and path) and Squarespace's
``contextId`` when there is one. The API key is never part of any message: the client
never puts headers into errors, and redacts the key from every field of the error envelope
(type, subtype, message, contextId, details) should a server ever echo it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqsync.errors import SqsyncError

_MAX_MESSAGE = 200
_TAG = re.compile(r"<[^>]*>")


class SquarespaceError(SqsyncError):
    """A Squarespace API call failed. Attributes mirror the API's error envelope.

    ``exit_code`` is SqsyncError's 1: a failed call is a failed command, never a usage error.
    """

    def __init__(
        self,
        summary: str,
        *,
        status: int | None = None,
        type: str | None = None,
        subtype: str | None = None,
        message: str | None = None,
        context_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        host: str | None = None,
        details: Any = None,
    ) -> None:
        self.summary = summary
        self.status = status
        self.type = type
        self.subtype = subtype
        self.message = message
        self.context_id = context_id
        self.method = method
        self.path = path
        self.host = host
        self.details = details
        super().__init__(self._line())

    def _line(self) -> str:
        line = self.summary
        if self.message and self.message not in line:
            line = f"{line}: {self.message}"
        where = []
        if self.method and self.path:
            where.append(f"{self.method} {self.host or ''}{self.path}")
        if self.context_id:
            where.append(f"contextId {self.context_id}")
        if where:
            line = f"{line} ({', '.join(where)})"
        return one_line(line, limit=400)

    def __str__(self) -> str:
        return self._line()


class InvalidRequestError(SquarespaceError):
    """400, or a request the client refused to send because it would be invalid."""


class AuthenticationError(SquarespaceError):
    """401: the key is missing, wrong, revoked or expired."""


class WebsiteExpiredError(SquarespaceError):
    """402: the Squarespace site's billing has lapsed; nothing works until it is renewed."""


class PermissionDeniedError(SquarespaceError):
    """403: the key lacks a permission; ``.permission`` names it (Orders or Inventory)."""

    permission: str | None = None


class NotFoundError(SquarespaceError):
    """404: the order or variant does not exist (or the API version is not served)."""


class ConflictError(SquarespaceError):
    """409: the request conflicts with current state; ``.subtype`` says how."""


class RateLimitedError(SquarespaceError):
    """429 answered on every allowed attempt."""


class ServerError(SquarespaceError):
    """5xx answered on every allowed attempt (or a 5xx the client does not retry)."""


class OutcomeUnknownError(SquarespaceError):
    """A non-idempotent write was possibly applied: re-read before trying again."""


class TransportError(SquarespaceError):
    """No HTTP answer at all (connect failure, dropped connection) after every attempt."""


class UnexpectedResponseError(SquarespaceError):
    """A successful status with a body the client cannot use."""


def one_line(text: str, *, limit: int = _MAX_MESSAGE) -> str:
    """Collapse whitespace so a message fits on one line, and cap its length."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_envelope(body: bytes, content_type: str = "", *, secret: str = "") -> dict[str, Any]:
    """The error envelope's fields from a response body; tolerant of HTML and junk.

    ``secret`` (the API key) is scrubbed from every field, ``details`` included, should a
    server echo it: each of them reaches messages, logs and the run log.
    """
    fields = _envelope_fields(body, content_type, secret)
    return {name: scrub(value, secret) for name, value in fields.items()}


def scrub(value: Any, secret: str) -> Any:
    """``value`` with ``secret`` replaced by ``***`` in every string it holds (keys of a
    mapping too), however deeply nested."""
    if not secret:
        return value
    if isinstance(value, str):
        return value.replace(secret, "***")
    if isinstance(value, dict):
        return {scrub(key, secret): scrub(item, secret) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(item, secret) for item in value]
    return value


def _envelope_fields(body: bytes, content_type: str, secret: str = "") -> dict[str, Any]:
    try:
        data = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict):
        return {
            "type": _str_or_none(data.get("type")),
            "subtype": _str_or_none(data.get("subtype")),
            "message": _str_or_none(data.get("message")),
            "context_id": _str_or_none(data.get("contextId")),
            "details": data.get("details"),
        }
    # Scrubbed before tags are dropped and the text is shortened: either could cut the key
    # and leave a piece of it unmatched.
    text = scrub(body.decode("utf-8", "replace"), secret) if body else ""
    text = _TAG.sub(" ", text).strip()
    kind = content_type.split(";")[0].strip() or "no content type"
    message = f"non-JSON body ({kind})" + (f": {one_line(text, limit=120)}" if text else "")
    return {"type": None, "subtype": None, "message": message, "context_id": None, "details": None}


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


_BY_STATUS: dict[int, tuple[type[SquarespaceError], str]] = {
    400: (InvalidRequestError, "Squarespace refused the request as invalid"),
    404: (NotFoundError, "not found"),
    409: (ConflictError, "Squarespace refused the change as conflicting"),
    429: (RateLimitedError, "still rate limited after every allowed attempt"),
}


def _permission_for(path: str) -> str | None:
    if "/commerce/orders" in path:
        return "Orders"
    if "/commerce/inventory" in path:
        return "Inventory"
    return None


def error_for_response(
    status: int,
    body: bytes,
    *,
    content_type: str,
    method: str,
    host: str,
    path: str,
    secret: str,
) -> SquarespaceError:
    """Map an HTTP error answer to the exception a caller can act on."""
    fields = parse_envelope(body, content_type, secret=secret)
    kind = f"{fields['type']}/{fields['subtype']}" if fields["subtype"] else fields["type"]
    common: dict[str, Any] = {"status": status, "method": method, "host": host, "path": path}
    common.update(fields)
    if status == 401:
        return AuthenticationError(
            f"the API key was refused (401) by {host}: check the key configured for this "
            "connection (it may be wrong, revoked or for another site)",
            **common,
        )
    if status == 402:
        return WebsiteExpiredError(
            "the Squarespace site's billing has lapsed (402 WEBSITE_EXPIRED): "
            "renew the site's plan, then run again",
            **common,
        )
    if status == 403:
        permission = _permission_for(path)
        need = permission or "the needed"
        error = PermissionDeniedError(
            f"the API key lacks the {need} permission (403): a key's permissions cannot be "
            f"changed, so create a new key with {need} Read & Write and configure it",
            **common,
        )
        error.permission = permission
        return error
    label = f"({status} {kind})" if kind else f"({status})"
    if status in _BY_STATUS:
        cls, summary = _BY_STATUS[status]
        return cls(f"{summary} {label}", **common)
    if status >= 500:
        return ServerError(f"Squarespace server error {label}", **common)
    return SquarespaceError(f"unexpected answer from Squarespace {label}", **common)
