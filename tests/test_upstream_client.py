"""The upstream client: the direct aiohttp path and the httpx path answer alike, and neither
keeps a cookie one provider answer set (one client serves every user of a provider)."""

from __future__ import annotations

import asyncio
import gzip
import ssl

import httpx
import pytest
from quart import Quart, Response, request

from localrouter.compiler.table import Provider
from localrouter.errors import UpstreamConnectError
from localrouter.providers.http import UpstreamClient, post_json, stream_post, upstream_errors
from localrouter.server.upstreams import Upstreams
from tests.fakes.serve import free_port, serve_app


def cookie_server(seen: list[str | None]) -> Quart:
    app = Quart("cookies")

    @app.post("/v1/answer")
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
            gzip.compress(b'{"error": {"message": "nope"}}'),
            status=429,
            headers={"retry-after": "7", "content-encoding": "gzip"},
            content_type="application/json",
        )

    return app


def provider(url: str) -> Provider:
    return Provider("p", "openai-compatible", "openai", url, None, "api", 2.0, 5.0, {}, (), False)


@pytest.mark.parametrize("direct", [True, False])
def test_both_paths_answer_alike_and_keep_no_cookie(direct: bool) -> None:
    seen: list[str | None] = []

    async def run(url: str) -> None:
        ups = Upstreams(use_aiohttp=direct)
        prov = provider(url)
        client = ups.client(prov)
        assert isinstance(client, UpstreamClient) is direct
        try:
            for _ in range(2):
                content, failed = await post_json(
                    client, httpx.URL(url + "/answer"), b"{}", {}, prov
                )
                assert failed is None and content == b'{"ok": true}'  # decompressed
            async with stream_post(client, httpx.URL(url + "/answer"), b"{}", {}) as r:
                assert r.status_code == 200 and await r.aread() == b'{"ok": true}'
            content, failed = await post_json(client, httpx.URL(url + "/fail"), b"{}", {}, prov)
            assert content == b"" and failed is not None
            assert failed.status_code == 429 and failed.headers["retry-after"] == "7"
            assert (await failed.aread()) == b'{"error": {"message": "nope"}}'
        finally:
            await ups.aclose()

    with serve_app(cookie_server(seen)) as url:
        asyncio.run(run(url.replace("127.0.0.1", "localhost") + "/v1"))  # a name: jars skip IPs
    assert seen == [None, None, None]


def test_a_refused_connection_maps_alike() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"

    async def run() -> None:
        ups = Upstreams()
        prov = provider(url)
        client = ups.client(prov)
        try:
            with pytest.raises(UpstreamConnectError):
                async with upstream_errors("p"):
                    await post_json(client, httpx.URL(url + "/answer"), b"{}", {}, prov)
        finally:
            await ups.aclose()

    asyncio.run(run())


def test_the_direct_session_verifies_tls_like_httpx() -> None:
    """The session the direct path uses carries the transport's own TLS context (httpx's,
    certifi's CAs, verification on), not aiohttp's default."""

    async def run() -> None:
        ups = Upstreams()
        client = ups.client(provider("https://api.example.invalid/v1"))
        assert isinstance(client, UpstreamClient)
        try:
            context = client.aiohttp_transport.ssl_context
            assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
            connector = client.session().connector
            assert connector is not None
            assert connector._ssl is context
        finally:
            await ups.aclose()

    asyncio.run(run())
