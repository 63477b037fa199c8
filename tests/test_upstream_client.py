"""The transport on the request path (``HttpTransport``, aiohttp): POST, stream and GET answer
alike (bodies decoded here, error answers cut to their first bytes with their headers kept), no
cookie one provider answer set rides on the next request (one pool serves every user of a
provider), and its TLS context verifies as httpx's did."""

from __future__ import annotations

import asyncio
import gzip
import ssl
import subprocess
import sys

import pytest
from quart import Quart, Response, request

from localrouter.compiler.table import Provider
from localrouter.errors import UpstreamConnectError
from localrouter.providers.transport import MAX_ERROR_BODY, HttpTransport
from localrouter.providers.upstream_errors import failures
from localrouter.server.upstreams import Upstreams
from tests.fakes.serve import free_port, serve_app


def cookie_server(seen: list[str | None]) -> Quart:
    app = Quart("cookies")

    @app.route("/v1/answer", methods=["GET", "POST"])
    async def answer() -> Response:
        seen.append(request.headers.get("cookie"))
        body = gzip.compress(b'{"ok": true}')
        return Response(
            body,
            headers={"set-cookie": "session=abc123; Path=/", "content-encoding": "gzip"},
            content_type="application/json",
        )

    @app.post("/v1/fail")
    async def fail() -> Response:
        return Response(
            gzip.compress(b'{"error": {"message": "nope"}}' + b" " * (2 * MAX_ERROR_BODY)),
            status=429,
            headers={"retry-after": "7", "content-encoding": "gzip"},
            content_type="application/json",
        )

    return app


def provider(url: str) -> Provider:
    return Provider("p", "openai-compatible", "openai", url, None, "api", 2.0, 5.0, {}, (), False)


def test_every_call_answers_alike_and_keeps_no_cookie() -> None:
    seen: list[str | None] = []

    async def run(url: str) -> None:
        ups = Upstreams()
        client = ups.client(provider(url))
        assert isinstance(client, HttpTransport)
        try:
            for _ in range(2):
                got = await client.post(url + "/answer", {}, b"{}", limit=1000)
                assert got.status == 200 and got.body == b'{"ok": true}'  # decompressed
                assert "content-encoding" not in got.headers
            async with client.stream(url + "/answer", {}, b"{}") as r:
                assert r.status == 200 and b"".join([c async for c in r.chunks]) == b'{"ok": true}'
            got = await client.get(url + "/answer", {}, limit=1000, params={"a": 1})
            assert got.status == 200 and got.body == b'{"ok": true}'
            failed = await client.post(url + "/fail", {}, b"{}", limit=10)
            assert failed.status == 429 and failed.headers["retry-after"] == "7"
            assert failed.body.startswith(b'{"error": {"message": "nope"}}')
            assert len(failed.body) == MAX_ERROR_BODY  # the rest is never read
            async with client.stream(url + "/fail", {}, b"{}") as r:
                assert r.status == 429 and len(r.body) == MAX_ERROR_BODY
                assert [c async for c in r.chunks] == []
            assert client.in_use() == 0
        finally:
            await ups.aclose()

    with serve_app(cookie_server(seen)) as url:
        asyncio.run(run(url.replace("127.0.0.1", "localhost") + "/v1"))  # a name: jars skip IPs
    assert seen == [None, None, None, None]


def test_a_refused_connection_is_a_connect_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"

    async def run() -> None:
        ups = Upstreams()
        prov = provider(url)
        client = ups.client(prov)
        try:
            refused = r"p connection failed \(Client"
            with pytest.raises(UpstreamConnectError, match=refused), failures(prov):
                await client.post(url + "/answer", {}, b"{}", limit=100)
            with pytest.raises(UpstreamConnectError), failures(prov):
                async with client.stream(url + "/answer", {}, b"{}"):
                    pass
        finally:
            await ups.aclose()

    asyncio.run(run())


def test_the_session_verifies_tls_like_httpx() -> None:
    """The session carries a verifying TLS context (certifi's CAs, as httpx's), not aiohttp's
    default."""

    async def run() -> None:
        client = HttpTransport(connect_s=1.0, read_s=1.0)
        try:
            connector = client._open().connector
            assert connector is not None
            context = connector._ssl
            assert isinstance(context, ssl.SSLContext)
            assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        finally:
            await client.aclose()

    asyncio.run(run())


def test_no_second_client_stack_on_the_provider_path() -> None:
    """Every adapter and the server's upstreams load without httpx's client on aiohttp (the
    second stack that used to sit behind one object)."""
    code = (
        "import sys, localrouter.providers.registry, localrouter.server.upstreams\n"
        "print(sorted(m for m in sys.modules if m.startswith('httpx_aiohttp')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
