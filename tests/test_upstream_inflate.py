"""A compressed answer is inflated in bounded steps on every call of the transport (model lists,
health checks, the request's POST whole and streamed), so a compression bomb costs about the
provider's ``max_response_mb``, not what one network chunk inflates to (gzip/deflate reach
~1000x: a 64 KiB read was 64 MiB in one piece).

The upstream is a raw asyncio server in the test's own loop sending a gzip (or deflate) stream
of zeros: about 10 MiB on the wire that would inflate to about 10 GiB, written 256 KiB at a time
(so each of the gateway's reads is a full one). It is built from one repeated unit — 1 MiB of
zeros compressed after a full flush compresses the same way every time — so the bomb costs the
test nothing to make. The peak RSS (``VmHWM``, reset through ``/proc/self/clear_refs``) is
measured around each call in a fresh process (this module run as a script) whose allocator
returns big blocks at once, so memory freed earlier cannot hide a peak.

A stream request answered with one whole JSON document (a server that ignored ``stream``) is
read within ``max_response_mb`` too; before, it was read whole with no cap.

An encoding LocalRouter does not inflate in bounded steps (``br``, ``zstd``, a chain of
encodings, anything unknown) is refused with a clear error rather than passed through or
inflated whole; the gateway only asks for ``gzip, deflate``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from localrouter.compiler.table import Provider
from localrouter.errors import UpstreamError, UpstreamHTTPError, UpstreamProtocolError
from localrouter.providers.base import Target
from localrouter.providers.openai import OpenAIAdapter
from localrouter.providers.sse_read import sse_events
from localrouter.providers.transport import Transport
from localrouter.providers.upstream_errors import check_status, failures
from localrouter.redaction import SHAPES_ONLY
from localrouter.server.upstreams import Upstreams

MIB = 1024 * 1024
CAP_MB = 1
WIRE_MB = 10  # what the bomb sends at most: ~10 GiB inflated
# measured (1 MiB cap): before bounded inflation, +16 MiB through the aiohttp transport (16 KiB
# reads), +126 MiB through httpx's own (64 KiB reads), and +4 GiB in 14 s for a stream request
# answered whole by a 2 MiB bomb (read with no cap); after, +0-2.5 MiB in ~20 ms. Room for noise.
PEAK_GROWTH_MAX_MIB = CAP_MB + 6

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def bomb_units(wbits: int) -> tuple[bytes, bytes]:
    """(the stream's start, one repeatable unit): each unit inflates to 1 MiB of zeros."""
    pack = zlib.compressobj(9, zlib.DEFLATED, wbits)
    zeros = bytes(MIB)
    first = pack.compress(b'{"data": ["') + pack.compress(zeros) + pack.flush(zlib.Z_FULL_FLUSH)
    unit = pack.compress(zeros) + pack.flush(zlib.Z_FULL_FLUSH)
    assert unit == pack.compress(zeros) + pack.flush(zlib.Z_FULL_FLUSH)  # it does repeat
    return first, unit


class Bomb:
    """What the raw upstream sends: a status line, headers, then the body in 1 MiB writes."""

    def __init__(self) -> None:
        self.encoding = "gzip"
        self.status = b"200 OK"
        self.content_type = "application/json"
        self.body: Callable[[], AsyncIterator[bytes]] = self.inflating
        self.wire_kib = WIRE_MB * 1024  # the most it sends
        self.sent = 0  # body bytes the last answer got out before the client left
        self.accept_encoding: str | None = None  # what the last request asked for

    async def inflating(self) -> AsyncIterator[bytes]:
        wbits = 31 if self.encoding == "gzip" else 15
        first, unit = bomb_units(wbits)
        batch = unit * (MIB // 4 // len(unit))  # 256 KiB: 256 MiB inflated
        yield first
        for _ in range(self.wire_kib // 256):
            yield batch

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            for line in head.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                if name.lower() == "accept-encoding":
                    self.accept_encoding = value.strip()
            writer.write(
                b"HTTP/1.1 " + self.status + b"\r\n"
                b"content-type: " + self.content_type.encode() + b"\r\n"
                b"content-encoding: " + self.encoding.encode() + b"\r\n"
                b"connection: close\r\n\r\n"
            )
            self.sent = 0
            async for block in self.body():
                writer.write(block)
                await writer.drain()
                self.sent += len(block)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the gateway closed it: what the cap promises
        finally:
            writer.close()


@asynccontextmanager
async def upstream() -> AsyncIterator[tuple[str, Bomb]]:
    bomb = Bomb()
    server = await asyncio.start_server(bomb.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", bomb
    finally:
        server.close()


def provider(base_url: str) -> Provider:
    return Provider(
        "bomb", "openai-compatible", "openai", f"{base_url}/v1", None, "api", 5.0, 20.0, {},
        (), False, CAP_MB * MIB, 64 * 1024,
    )  # fmt: skip


def peak_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")  # VmHWM := VmRSS: the peak from here on


async def _model_list(client: Transport, p: Provider, url: str) -> None:
    await OpenAIAdapter().list_models(client, p, None)


async def _post(client: Transport, p: Provider, url: str) -> None:
    with failures(p):
        got = await client.post(f"{url}/v1/chat/completions", {}, b"{}", limit=p.max_response_bytes)
    check_status(got.status, got.headers, got.body, p.name, SHAPES_ONLY)


async def _stream(client: Transport, p: Provider, url: str) -> None:
    with failures(p):
        async with client.stream(f"{url}/v1/chat/completions", {}, b"{}") as response:
            async for _ in sse_events(response, p):
                pass


async def _stream_answered_whole(client: Transport, p: Provider, url: str) -> None:
    """A stream request answered with one JSON document (a server that ignored ``stream``)."""
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async for _ in OpenAIAdapter().chat_stream(client, Target(p, "m"), body):
        pass


Call = Callable[[Transport, Provider, str], Awaitable[None]]
# case -> (encoding, content type, the call): model lists (health checks too), the request's
# POST whole and streamed, a stream request answered whole (read whole before, with no cap)
CASES: dict[str, tuple[str, str, Call]] = {
    "models-gzip": ("gzip", "application/json", _model_list),
    "models-deflate": ("deflate", "application/json", _model_list),
    "post-gzip": ("gzip", "application/json", _post),
    "post-deflate": ("deflate", "application/json", _post),
    "stream-gzip": ("gzip", "text/event-stream", _stream),
    "stream-whole-gzip": ("gzip", "application/json", _stream_answered_whole),
    # an error answer: its body is read up to MAX_ERROR_BODY (64 KiB), inflated in steps too
    "models-gzip-500": ("gzip", "application/json", _model_list),
    "post-gzip-500": ("gzip", "application/json", _post),
}
# uncapped before: this bomb is small (2 GiB inflated), so the check that this test fails
# without the fix cannot eat the machine
SMALL_BOMBS = ("stream-whole-gzip",)


async def measure(case: str) -> dict[str, object]:
    """One bomb: (after a warm-up bomb) the error, the peak RSS growth, the time taken."""
    encoding, content_type, call = CASES[case]
    upstreams = Upstreams()
    try:
        async with upstream() as (url, bomb):
            bomb.encoding, bomb.content_type = encoding, content_type
            bomb.wire_kib = 2048 if case in SMALL_BOMBS else WIRE_MB * 1024
            bomb.status = b"500 Internal Server Error" if case.endswith("-500") else b"200 OK"
            p = provider(url)
            client = upstreams.client(p)
            with contextlib.suppress(UpstreamError):  # warm-up: pools, buffers, code paths
                await call(client, p, url)
            reset_peak()
            before, start = peak_kib(), time.monotonic()
            error = "none"
            try:
                await call(client, p, url)
            except UpstreamError as exc:
                error = f"{type(exc).__name__}: {exc}"
            return {
                "error": error,
                "grown_mib": (peak_kib() - before) / 1024,
                "ms": (time.monotonic() - start) * 1000,
                "sent_mib": bomb.sent / MIB,
                "wire_mib": bomb.wire_kib / 1024,
                "accept_encoding": bomb.accept_encoding,
            }
    finally:
        await upstreams.aclose()


@pytest.fixture(scope="module")
def peaks() -> dict[str, dict[str, Any]]:
    """Every case measured in a fresh process whose allocator returns big blocks to the system
    at once (a fixed mmap threshold): memory another test freed cannot hide a peak."""
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "tests.test_upstream_inflate"],
        cwd=root, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results: dict[str, dict[str, Any]] = json.loads(done.stdout)
    return results


@linux
@pytest.mark.parametrize("case", list(CASES))
def test_a_compression_bomb_costs_about_the_cap(
    peaks: dict[str, dict[str, Any]], case: str
) -> None:
    """``UpstreamTooLarge`` quickly (an error answer: its status, from the body's first 64 KiB),
    the connection closed before the bomb's end, and the peak RSS grown by about the cap — not
    by a network chunk times ~1000."""
    got = peaks[case]
    print(
        f"\n{case}: peak RSS +{got['grown_mib']:.1f} MiB in {got['ms']:.0f} ms, "
        f"{got['sent_mib']:.2f} of {got['wire_mib']:.0f} MiB sent"
    )
    what = "a stream event" if case == "stream-gzip" else "an answer"
    expected = f"UpstreamTooLarge: bomb sent {what} larger"
    if case.endswith("-500"):
        expected = "UpstreamHTTPError: bomb answered 500"
    assert got["error"].startswith(expected), got["error"]
    assert got["grown_mib"] <= PEAK_GROWTH_MAX_MIB, f"peak RSS grew {got['grown_mib']:.0f} MiB"
    assert got["ms"] < 5000
    if case not in SMALL_BOMBS:  # (socket buffers on loopback take a few MiB by themselves)
        assert got["sent_mib"] < got["wire_mib"]  # the connection was closed before the end
    assert got["accept_encoding"] == "gzip, deflate"  # only what is inflated in steps


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, gzip", "x-unknown"])
async def test_an_encoding_not_inflated_in_steps_is_refused(encoding: str) -> None:
    """Not passed through as if it were the body, nor inflated whole: a protocol error that
    names the encoding (a health check reads it as "answered, but not with a model list")."""
    upstreams = Upstreams()
    async with upstream() as (url, bomb):
        bomb.encoding = encoding
        bomb.body = lambda: _one_chunk(b'{"data": []}')
        p = provider(url)
        with pytest.raises(UpstreamProtocolError, match="content-encoding") as info:
            await OpenAIAdapter().list_models(upstreams.client(p), p, None)
        assert repr(encoding) in str(info.value) and "gzip or deflate" in str(info.value)
    await upstreams.aclose()


async def test_an_error_answer_in_an_encoding_not_accepted_keeps_its_status() -> None:
    """A 503 in ``br`` is still a 503 (a health check counts it as down), its body unread."""
    upstreams = Upstreams()
    async with upstream() as (url, bomb):
        bomb.encoding, bomb.status = "br", b"503 Service Unavailable"
        bomb.body = lambda: _one_chunk(b"\x1b\x00\x00garbage")
        p = provider(url)
        with pytest.raises(UpstreamHTTPError, match="answered 503") as info:
            await OpenAIAdapter().list_models(upstreams.client(p), p, None)
        assert info.value.status == 503 and "garbage" not in str(info.value)
    await upstreams.aclose()


async def test_a_corrupt_compressed_body_is_a_protocol_error() -> None:
    upstreams = Upstreams()
    async with upstream() as (url, bomb):
        bomb.body = lambda: _one_chunk(b"this is not gzip at all")
        p = provider(url)
        with pytest.raises(UpstreamProtocolError, match="malformed answer"):
            await OpenAIAdapter().list_models(upstreams.client(p), p, None)
    await upstreams.aclose()


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "identity"])
async def test_a_small_compressed_model_list_still_reads(encoding: str) -> None:
    """The everyday case, on both encodings and none (zlib- and raw-framed deflate both occur)."""
    doc = b'{"object": "list", "data": [{"id": "m1", "object": "model"}]}'
    bodies = {
        "gzip": zlib.compress(doc, wbits=31),
        "deflate": zlib.compress(doc, wbits=15),
        "identity": doc,
    }
    upstreams = Upstreams()
    async with upstream() as (url, bomb):
        bomb.encoding = encoding
        bomb.body = lambda: _one_chunk(bodies[encoding])
        p = provider(url)
        models = await OpenAIAdapter().list_models(upstreams.client(p), p, None)
        assert [m.name for m in models] == ["m1"]
        bomb.encoding = "deflate"
        bomb.body = lambda: _one_chunk(zlib.compress(doc, wbits=-15))  # raw deflate
        models = await OpenAIAdapter().list_models(upstreams.client(p), p, None)
        assert [m.name for m in models] == ["m1"]
    await upstreams.aclose()


if __name__ == "__main__":  # the measuring process of ``peaks``

    async def _all() -> dict[str, dict[str, object]]:
        return {case: await measure(case) for case in CASES}

    print(json.dumps(asyncio.run(_all())))
