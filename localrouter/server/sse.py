"""Server-sent events out: OpenAI's framing (``data: {json}``, ``data: [DONE]``), via orjson."""

from __future__ import annotations

from typing import Any

import orjson

DONE = b"data: [DONE]\n\n"


def event(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def error_event(message: str, *, type: str = "upstream_error", code: str | None = None) -> bytes:
    """The one in-band error event sent when a stream fails after its first byte."""
    return event({"error": {"message": message, "type": type, "param": None, "code": code}})
