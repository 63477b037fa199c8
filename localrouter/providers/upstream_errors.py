"""The one mapper from upstream failures to LocalRouter's exceptions (:mod:`localrouter.errors`).

Two kinds of failure, one place each:

- the call failed (no connection, a timeout, a body over its cap, an encoding not accepted, a
  body that does not inflate): :func:`failure` is the table, :class:`failures` applies it around
  a transport call —

      with failures(target.provider):
          answer = await transport.post(...)

- the provider answered with an error (an error status, or an error object in a 200 or in a
  stream): :func:`http_error` builds the :class:`~localrouter.errors.UpstreamHTTPError`. A
  provider's own error shape is read by a small parser (:func:`parse_error` for the common JSON
  shapes; Anthropic's and Gemini's modules have theirs) into an :class:`ErrorParts`; the mapper
  redacts the provider's words whole — every resolved secret by value, key shapes — and only
  then cuts them to :data:`MAX_ERROR_TEXT` characters, and reads ``Retry-After``.

Messages carry the provider's name, its status and its own (redacted) error text, never request
headers or URLs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from time import time
from types import TracebackType
from typing import Literal

import aiohttp

from localrouter.compiler.table import Provider
from localrouter.errors import (
    BodyTooLarge,
    ContentEncodingError,
    DecodingError,
    UpstreamConnectError,
    UpstreamError,
    UpstreamHTTPError,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamTooLarge,
    UpstreamUnsupported,
)
from localrouter.redaction import SHAPES_ONLY, Redactor

MAX_ERROR_TEXT = 300
MAX_LABEL = 60


# ---------------------------------------------------------------- the call failed


def too_large(provider: Provider, *, event: bool = False) -> UpstreamTooLarge:
    """The error for a whole answer, or one stream event (``event``), over its cap."""
    if event:
        what, key = "a stream event", "max_event_kb"
        cap = f"{provider.max_event_bytes / 2**10:g} KiB"
    else:
        what, key = "an answer", "max_response_mb"
        cap = f"{provider.max_response_bytes / 2**20:g} MiB"
    return UpstreamTooLarge(
        f"{provider.name} sent {what} larger than its cap of {cap} (the connection was "
        f"closed; raise providers.{provider.name}.{key} if such answers are expected)",
        provider=provider.name,
    )


def failure(exc: BaseException, provider: Provider) -> UpstreamError | None:
    """The ``Upstream*`` error for a transport's exception (None: not a transport failure, let
    it through). The one table; the order matters (aiohttp's timeouts are connection errors)."""
    name = provider.name
    kind = type(exc).__name__
    if isinstance(exc, BodyTooLarge):
        return too_large(provider)
    if isinstance(exc, ContentEncodingError):  # our own words, naming the encoding
        return UpstreamProtocolError(f"{name} {SHAPES_ONLY.redact(str(exc))}", provider=name)
    if isinstance(exc, (DecodingError, json.JSONDecodeError)):
        return UpstreamProtocolError(f"{name} sent a malformed answer ({kind})", provider=name)
    if isinstance(exc, TimeoutError):  # aiohttp's ServerTimeoutError and friends too
        return UpstreamTimeout(f"{name} timed out ({kind})", provider=name)
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        # refused, reset, closed before or during the answer, a broken chunked body
        return UpstreamConnectError(f"{name} connection failed ({kind})", provider=name)
    return None


class failures:
    """Apply :func:`failure` to what the block raises (anything else passes unchanged)."""

    __slots__ = ("_provider",)

    def __init__(self, provider: Provider) -> None:
        self._provider = provider

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        if exc is None or isinstance(exc, UpstreamError):
            return False
        mapped = failure(exc, self._provider)
        if mapped is None:
            return False
        raise mapped from None


# ---------------------------------------------------------------- the provider said no


@dataclass(frozen=True, slots=True)
class ErrorParts:
    """What a provider's error body says, unredacted (the mapper redacts): its message, a
    short label (an error code or type) and a wait it asks for."""

    text: str
    label: str | None = None
    retry_after: float | None = None


def parse_error(body: bytes) -> ErrorParts:
    """The common shapes: ``{"error": {"message": …}}``, ``{"error": "…"}``, ``{"message":
    …}``, a list of those (Google), or the raw text."""
    text = body.decode("utf-8", "replace").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        return ErrorParts(text)
    return ErrorParts(message(doc) or text)


def message(doc: object) -> str | None:
    """The message of a parsed error document, when it has one of the common shapes."""
    if isinstance(doc, list) and doc:
        doc = doc[0]
    if isinstance(doc, dict):
        err = doc.get("error", doc)
        text = err.get("message") if isinstance(err, dict) else None
        if isinstance(text, str):
            return text
        if isinstance(err, str):
            return err
    return None


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms``."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time())
        except (TypeError, ValueError):
            return None


def http_error(
    provider: str,
    status: int,
    parts: ErrorParts,
    redactor: Redactor,
    *,
    headers: Mapping[str, str] | None = None,
    said: str | None = None,
    label_style: str = "paren",
) -> UpstreamHTTPError:
    """The error for an error answer (``{provider} answered {status}: …``) or for an error the
    provider reported in a 200 or mid-stream (``said``: ``failed mid-stream``, ``reported an
    error``; ``status`` then says how it counts). ``label_style``: ``"paren"`` →
    ``answered 429 (rate_limit_exceeded): text``, ``"prefix"`` → ``answered 529:
    overloaded_error: text``. ``retry_after``: the parser's, else the headers'."""
    text = redactor.excerpt(parts.text, MAX_ERROR_TEXT)
    head = f"{provider} {said or f'answered {status}'}"
    if not parts.label:
        message = f"{head}: {text}"
    elif label_style == "prefix":
        message = f"{head}: {redactor.redact(parts.label[:MAX_LABEL])}: {text}"
    else:
        message = f"{head} ({redactor.redact(parts.label[:MAX_LABEL])}): {text}"
    wait = parts.retry_after
    if wait is None and headers is not None:
        wait = retry_after(headers)
    return UpstreamHTTPError(message, provider=provider, status=status, retry_after=wait)


def unsupported(provider: str, detail: str) -> UpstreamUnsupported:
    """The error for a request this provider cannot express (raised before any network call):
    the dispatcher moves on to the next candidate."""
    return UpstreamUnsupported(f"{provider}: {detail}", provider=provider)


Parser = Callable[[bytes], ErrorParts]


def check_status(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    provider: str,
    redactor: Redactor,
    parse: Parser = parse_error,
    *,
    label_style: str = "paren",
) -> None:
    """Raise :func:`http_error` for an error status (``body``: the error answer's first bytes,
    as the transport kept them), before anything of the answer is used."""
    if status >= 400:
        parts = parse(body)
        raise http_error(
            provider, status, parts, redactor, headers=headers, label_style=label_style
        )
