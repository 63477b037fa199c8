"""``providers/sse_read.sse_events``: SSE parsing fed straight from the body's chunks.

The chunking is chosen to cut where a naive reader breaks: inside a UTF-8 character, between
``\\r`` and ``\\n``, inside a field name; plus comments, multi-line data, ``event``/``id`` fields,
and a last event left without its blank line (discarded, as the SSE spec says).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from localrouter.compiler.table import Provider
from localrouter.errors import UpstreamProtocolError
from localrouter.providers.sse_read import sse_events
from localrouter.providers.transport import Streamed

P = Provider("p", "openai", "openai", None, None, "api", 5.0, 60.0, {}, (), False)


async def chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def response(parts: list[bytes], content_type: str = "text/event-stream") -> Streamed:
    return Streamed(200, {"content-type": content_type}, chunks(parts))


BODY = (
    ": keep-alive comment\r\n\r\n"
    'event: message_start\r\ndata: {"a": "h\u00e9llo \u2603"}\r\n\r\n'
    "id: 7\ndata: line one\ndata: line two\n\n"
    "data: [DONE]\r\r"
    "data: never finished"
).encode()


async def collect(parts: list[bytes]) -> list[tuple[str, str, str]]:
    return [(e.event, e.data, e.id) async for e in sse_events(response(parts), P)]


EXPECTED = [
    ("message_start", '{"a": "h\u00e9llo \u2603"}', ""),
    ("message", "line one\nline two", "7"),
    ("message", "[DONE]", "7"),
]


async def test_whole_body_in_one_chunk() -> None:
    assert await collect([BODY]) == EXPECTED


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 13])
async def test_every_cut_point(size: int) -> None:
    parts = [BODY[i : i + size] for i in range(0, len(BODY), size)]
    assert await collect(parts) == EXPECTED


async def test_an_answer_that_is_not_an_event_stream_is_a_protocol_error() -> None:
    with pytest.raises(UpstreamProtocolError, match="not server-sent events"):
        async for _ in sse_events(response([b"<html>"], "text/html"), P):
            pass
