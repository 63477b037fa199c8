"""A model request as the OpenAI endpoints read it: headers, declared length, a body reader.

Built by :mod:`localrouter.server.asgi` straight from the ASGI scope and ``receive``, so the
request path needs no web-framework request object (docs/performance.md: Quart's request
machinery alone costs about as much CPU as everything LocalRouter does).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from localrouter.errors import ClientGone

BODY_TIMEOUT_S = 60
MAX_REQUEST_ID = 128


def request_id(given: str, fresh: str | None = None) -> str:
    """The caller's ``x-request-id`` when it sent a sane one (1–128 characters), else
    ``req-`` and ``fresh`` (24 random hex digits when not given)."""
    if 0 < len(given) <= MAX_REQUEST_ID:
        return given
    return "req-" + (fresh if fresh is not None else secrets.token_hex(12))


@dataclass
class Incoming:
    headers: dict[str, str]  # names lower-cased; a repeated header keeps its last value
    content_length: int | None
    started: float  # perf_counter when the request arrived
    receive: Callable[[], Awaitable[dict[str, Any]]]

    async def read(self, limit: int) -> bytes:
        """The body, read until it ends or passes ``limit`` bytes (then what was read so far:
        the caller refuses it). ``TimeoutError`` after :data:`BODY_TIMEOUT_S`; ``ClientGone``
        when the client disconnects first."""
        parts: list[bytes] = []
        size = 0
        async with asyncio.timeout(BODY_TIMEOUT_S):
            while True:
                message = await self.receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone
                chunk = message.get("body", b"")
                if chunk:
                    parts.append(chunk)
                    size += len(chunk)
                if size > limit or not message.get("more_body", False):
                    break
        return parts[0] if len(parts) == 1 else b"".join(parts)


@dataclass(frozen=True)
class Call:
    """A request to one of the endpoints that are not model endpoints (``/v1/models``,
    ``/health``, …), as their handlers read it, whatever serves them."""

    headers: Mapping[str, str]  # names lower-cased
    args: Mapping[str, str]  # the query string's arguments (the first value of each)
    remote_addr: str | None
    params: Mapping[str, str]  # the path's own parameters (``model_id``)
    method: str = "GET"
    body: bytes = b""  # POST/PUT/DELETE: the body, within the table's body limit
