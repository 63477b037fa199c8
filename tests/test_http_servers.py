"""The HTTP servers ``localrouter serve`` can run (``server.http_server``;
server/http_servers.py), in-process on a bare ASGI app: the app's lifespan runs at start and at
stop under each, a stream still open when the graceful bound passes is cancelled before the
lifespan ends, a taken port is an ``OSError``; and the setting, the ``--http-server`` flag and the
module name the same three servers. The guarantees on a real ``serve`` process are in
``tests/test_http_servers_process.py``."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from localrouter.server.http_servers import (
    DEFAULT_HTTP_SERVER,
    HTTP_SERVERS,
    HttpServer,
    serve,
)
from tests.fakes.serve import free_port


class Endless:
    """A bare ASGI app: ``/stream`` sends an event every 50 ms until cancelled; the lifespan
    records its startup and shutdown."""

    def __init__(self) -> None:
        self.events: list[str] = []

    async def __call__(self, scope: dict[str, object], receive: object, send: object) -> None:
        assert callable(receive) and callable(send)
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].removeprefix("lifespan.")
                self.events.append(kind)
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        try:
            while True:
                await send(
                    {"type": "http.response.body", "body": b"data: x\n\n", "more_body": True}
                )
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            self.events.append("stream cancelled")
            raise


@pytest.mark.parametrize("server", HTTP_SERVERS)
async def test_a_stream_open_past_the_graceful_bound_is_cut_and_the_lifespan_ends(
    server: HttpServer,
) -> None:
    app = Endless()
    port = free_port()
    stopping = asyncio.Event()
    serving = asyncio.ensure_future(serve(app, server, "127.0.0.1", port, stopping, graceful_s=1))
    for _ in range(200):
        await asyncio.sleep(0.02)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            break
        except OSError:
            assert not serving.done(), serving.exception()
    assert app.events == ["startup"]
    writer.write(f"GET /stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    await reader.readuntil(b"data: x\n\n")
    stopped_at = time.monotonic()
    stopping.set()
    await asyncio.wait_for(serving, timeout=10)
    took = time.monotonic() - stopped_at
    assert 0.9 <= took <= 5, took
    assert app.events == ["startup", "stream cancelled", "shutdown"]
    rest = await asyncio.wait_for(reader.read(), timeout=5)  # the stream ends with the stop
    assert b"data: x" in rest
    writer.close()


@pytest.mark.parametrize("server", HTTP_SERVERS)
async def test_a_taken_port_is_an_oserror(server: HttpServer) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            await asyncio.wait_for(
                serve(Endless(), server, "127.0.0.1", port, asyncio.Event()), timeout=10
            )


def test_the_setting_the_flag_and_the_servers_name_the_same_three() -> None:
    from typing import get_args

    from localrouter.cli import _parser
    from localrouter.config.spec import ServerSpec

    assert get_args(ServerSpec.model_fields["http_server"].annotation) == HTTP_SERVERS
    assert ServerSpec().http_server == DEFAULT_HTTP_SERVER
    serve_args = _parser().parse_args(["serve", "--http-server", "granian"])
    assert serve_args.http_server == "granian"
    assert _parser().parse_args(["serve"]).http_server is None  # then the config's setting


def test_the_default_server_leaves_a_configs_sha_as_it_was(tmp_path: Path) -> None:
    from localrouter.compiler.build import build_document
    from localrouter.config.source import load_files

    demo = (Path(__file__).resolve().parent.parent / "configs" / "demo.yaml").read_text()

    def sha(text: str) -> str:
        path = tmp_path / "routers.yaml"
        path.write_text(text, encoding="utf-8")
        doc, diags, _ = load_files(path)
        assert doc is not None
        table = build_document(doc, list(diags)).table
        assert table is not None
        return table.sha256

    named = {
        s: demo.replace("port: 3625", f"port: 3625\n  http_server: {s}", 1) for s in HTTP_SERVERS
    }
    assert sha(named[DEFAULT_HTTP_SERVER]) == sha(demo)
    assert all(sha(named[s]) != sha(demo) for s in HTTP_SERVERS if s != DEFAULT_HTTP_SERVER)
