"""A stream whose client is gone before its first byte: when the server's ``send`` of the answer's
start fails (a connection already closed), the stream never starts, and its clean-up still runs —
the request is recorded as 499 and its limit hold given back (none kept for the rest of the
window), whatever dialect framed it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from localrouter.compiler.build import build
from localrouter.server.app import create_app
from tests.gateway import write_config

CONFIG = """
version: 2
providers:
  mock: {type: mock, models: {m: {context_window: 4000}}}
strategies:
  s: {models: [mock/m], aliases: {"claude-*": auto}}
clients:
  app:
    key_prefix: {key_prefix:app}
    key_hash: {key_hash:app}
    strategy: s
    limits: [{total_tokens: 100000, per: 1d}]
"""
HI = [{"role": "user", "content": "hi"}]
BODIES = {
    "/v1/chat/completions": {"model": "auto", "stream": True, "messages": HI},
    "/v1/messages": {"model": "claude-x", "stream": True, "max_tokens": 50, "messages": HI},
}


class Gone(OSError):
    """The connection closed under the server."""


@pytest.mark.parametrize("path", list(BODIES))
async def test_a_stream_never_started_is_recorded_and_gives_its_hold_back(
    tmp_path: Path, path: str
) -> None:
    config, keys = write_config(CONFIG, tmp_path)
    table = build(config).table
    assert table is not None
    app = create_app(table)
    rt = app.runtime
    limits = table.clients["app"].limits
    full = next(iter(rt.limiter.remaining(limits).values()))
    body = json.dumps(BODIES[path]).encode()
    scope = {
        "type": "http", "method": "POST", "path": path, "raw_path": path.encode(),
        "query_string": b"", "http_version": "1.1", "scheme": "http",
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "root_path": "",
        "asgi": {"version": "3.0"}, "extensions": {},
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-length", str(len(body)).encode()),
            (b"authorization", f"Bearer {keys['app']}".encode()),
        ],
    }  # fmt: skip
    unread = [body]

    async def receive() -> dict[str, Any]:
        if unread:
            return {"type": "http.request", "body": unread.pop(), "more_body": False}
        return {"type": "http.disconnect"}

    started: list[dict[bytes, bytes]] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.append(dict(message["headers"]))
            raise Gone("connection closed")

    async with app.lifespan():
        with pytest.raises(Gone):
            await app(scope, receive, send)
        left = next(iter(rt.limiter.remaining(limits).values()))
        # the worst case held (the model's whole context) is given back; only the prompt that
        # reached the upstream stays counted (an estimate: a few tokens)
        assert 0 < full - left < 50
        gen_id = started[0][b"x-localrouter-generation-id"].decode()
        record = await rt.generations.get(gen_id, "app")
    assert record is not None
    assert record["status_code"] == 499 and record["error"] == "client disconnected"
