"""The framework floor: the least a Quart + HTTP server + httpx gateway can do per request.

    python bench/floor_proxy.py --port 9002 --upstream http://127.0.0.1:9001/v1 \
        [--slow-upstream http://127.0.0.1:9003/v1]

``POST /v1/chat/completions`` forwards the request body as is to ``<upstream>/chat/completions``
through ONE shared ``httpx.AsyncClient`` on the ``httpx-aiohttp`` transport (the same client,
transport, limits and HTTP server settings LocalRouter's ``serve`` uses: ``--server`` picks
Hypercorn, uvicorn or Granian, run by ``localrouter/server/http_servers.py``), then answers with the
upstream's status and content type: an SSE answer is relayed chunk by chunk as it arrives, any
other answer is read whole and sent with a length. No auth, no parsing, no routing, no logging.
A request with the header ``x-bench-upstream: slow`` goes to ``--slow-upstream`` instead (the
benchmark's delayed upstream). ``GET /health`` answers 200. Whatever LocalRouter costs above this
process is LocalRouter's own.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import AsyncIterator
from typing import Any

import httpx
from quart import Quart, Response, request

from localrouter.server.http_servers import DEFAULT_HTTP_SERVER, HTTP_SERVERS
from localrouter.server.http_servers import serve as serve_http

# the values of localrouter/server/upstreams.py
MAX_CONNECTIONS = 512
MAX_KEEPALIVE = 128


def _client(transport_name: str = "aiohttp") -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE)
    if transport_name == "httpx":  # httpx's own pool (httpcore)
        timeout = httpx.Timeout(connect=5.0, read=600.0, write=60.0, pool=30.0)
        return httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False)
    try:
        from httpx_aiohttp import AiohttpTransport
    except ImportError:  # LocalRouter falls back the same way
        transport: httpx.AsyncBaseTransport | None = None
    else:
        transport = AiohttpTransport(limits=limits, trust_env=False)
    timeout = httpx.Timeout(connect=5.0, read=600.0, write=60.0, pool=30.0)
    return httpx.AsyncClient(timeout=timeout, limits=limits, transport=transport, trust_env=False)


def create_asgi_app(upstream: str, slow_upstream: str | None = None) -> Any:
    """The same forwarding as a bare ASGI callable (no Quart), over one aiohttp session:
    what the HTTP server + aiohttp cost with no web framework at all (``--app asgi``)."""
    import aiohttp

    targets = {
        b"fast": upstream.rstrip("/") + "/chat/completions",
        b"slow": (slow_upstream or upstream).rstrip("/") + "/chat/completions",
    }
    sessions: list[aiohttp.ClientSession] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    sessions.append(aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()))
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    for session in sessions:
                        await session.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["path"] == "/health":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b'{"status":"ok"}'})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        which = b"slow" if (b"x-bench-upstream", b"slow") in scope["headers"] else b"fast"
        headers = {"content-type": "application/json"}
        async with sessions[0].post(targets[which], data=body, headers=headers) as answer:
            content_type = answer.headers.get("content-type", "application/json")
            out = [(b"content-type", content_type.encode())]
            await send({"type": "http.response.start", "status": answer.status, "headers": out})
            if content_type.startswith("text/event-stream"):
                async for chunk in answer.content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
            else:
                await send({"type": "http.response.body", "body": await answer.read()})

    return app


def create_app(
    upstream: str, slow_upstream: str | None = None, transport: str = "aiohttp"
) -> Quart:
    app = Quart("floor")
    app.config["RESPONSE_TIMEOUT"] = None
    targets = {
        "fast": upstream.rstrip("/") + "/chat/completions",
        "slow": (slow_upstream or upstream).rstrip("/") + "/chat/completions",
    }
    clients: list[httpx.AsyncClient] = []

    @app.before_serving
    async def start() -> None:
        clients.append(_client(transport))

    @app.after_serving
    async def stop() -> None:
        for client in clients:
            await client.aclose()

    @app.get("/health")
    async def health() -> Response:
        return Response(b'{"status":"ok"}', content_type="application/json")

    @app.post("/v1/chat/completions")
    async def chat() -> Response:
        body = await request.get_data(cache=False)
        which = "slow" if request.headers.get("x-bench-upstream") == "slow" else "fast"
        client = clients[0]
        upstream_request = client.build_request(
            "POST", targets[which], content=body, headers={"content-type": "application/json"}
        )
        answer = await client.send(upstream_request, stream=True)
        content_type = answer.headers.get("content-type", "application/json")
        if content_type.startswith("text/event-stream"):

            async def relay() -> AsyncIterator[bytes]:
                try:
                    async for chunk in answer.aiter_raw():
                        yield chunk
                finally:
                    await answer.aclose()

            response = Response(relay(), status=answer.status_code, content_type=content_type)
            response.timeout = None
            return response
        try:
            data = await answer.aread()
        finally:
            await answer.aclose()
        return Response(data, status=answer.status_code, content_type=content_type)

    return app


async def _main(app: Any, server: Any, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve_http(app, server, host, port, stop)  # LocalRouter's settings for each server


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True, help="base URL, e.g. http://127.0.0.1:9001/v1")
    ap.add_argument("--slow-upstream", default=None)
    # variants, for bench/floor_options.py: what each framework choice costs
    ap.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    ap.add_argument("--transport", choices=("aiohttp", "httpx"), default="aiohttp")
    ap.add_argument("--app", choices=("quart", "asgi"), default="quart")
    ap.add_argument("--server", choices=HTTP_SERVERS, default=DEFAULT_HTTP_SERVER)
    args = ap.parse_args(argv)
    if args.app == "asgi":
        app = create_asgi_app(args.upstream, args.slow_upstream)
    else:
        app = create_app(args.upstream, args.slow_upstream, args.transport)
    main = _main(app, args.server, args.host, args.port)
    try:  # as `localrouter serve` does
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        if args.loop == "asyncio":
            asyncio.run(main)
        else:
            uvloop.run(main)


if __name__ == "__main__":
    main()
