"""An upstream is untrusted input: what a provider sends is bounded by its caps
(``max_response_mb``: a whole answer; ``max_event_kb``: one SSE event or NDJSON line).

Through the running gateway, for every wire (OpenAI, Anthropic, Gemini, Ollama): an answer that
never ends is a quick 502 ``upstream_too_large``, and a stream event that never ends is one
in-band error event with that code and no ``[DONE]``; either way the gateway closes the
connection to the provider (the rest is never read). Below them, the readers themselves: the SSE
event counter resets at each event, a many-line event counts whole, NDJSON lines split anywhere.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack

import httpx
import pytest

from localrouter.compiler.table import Provider
from localrouter.errors import UpstreamTooLarge
from localrouter.providers.ndjson_read import ndjson_lines
from localrouter.providers.sse_read import sse_events
from localrouter.providers.transport import Streamed
from tests.fakes.oversize import OversizeState, create_app
from tests.fakes.serve import serve_app
from tests.gateway import Gateway, running_gateway

# wire -> (model, base_url suffix)
WIRES = {
    "openai": ("m", "/v1"),
    "anthropic": ("m", ""),
    "gemini": ("m", ""),
    "ollama": ("m", ""),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, OversizeState]]:
    state = OversizeState()
    lines = ["version: 2", "health: {interval_s: 3600, failure_threshold: 1000}", "providers:"]
    strategies, clients = [], []
    with ExitStack() as stack:
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        mp.setenv("LR_TEST_CAPS_KEY", "test-key")
        url = stack.enter_context(serve_app(create_app(state)))
        for wire, (model, suffix) in WIRES.items():
            lines += [
                f"  {wire}:",
                f"    type: {wire}",
                f"    base_url: {url}{suffix}",
                "    api_key: ${env:LR_TEST_CAPS_KEY}",
                "    discover: false",
                f'    models: {{"{model}": {{}}}}',
                "    max_response_mb: 1",
                "    max_event_kb: 64",
            ]
            strategies.append(
                f'  via-{wire}: {{models: ["{wire}/{model}"], '
                "fallback: {attempts: 3, backoff_ms: [0, 0]}}"
            )
            clients.append(
                f'  {wire}: {{key_prefix: "{{key_prefix:{wire}}}", '
                f'key_hash: "{{key_hash:{wire}}}", strategy: via-{wire}}}'
            )
        text = "\n".join([*lines, "strategies:", *strategies, "clients:", *clients]) + "\n"
        gw = stack.enter_context(running_gateway(text, tmp_path_factory.mktemp("gw")))
        yield gw, state


def chat(gw: Gateway, wire: str, stream: bool) -> httpx.Response:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    return httpx.post(
        f"{gw.v1}/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {gw.keys[wire]}"},
        timeout=20,
    )


@pytest.mark.parametrize("wire", list(WIRES))
def test_an_endless_answer_is_a_quick_502_and_the_connection_is_closed(
    world: tuple[Gateway, OversizeState], wire: str
) -> None:
    gw, state = world
    state.mode = "endless_body"
    closed, calls = state.closed, len(state.requests)
    started = time.monotonic()
    r = chat(gw, wire, stream=False)
    assert time.monotonic() - started < 5
    assert r.status_code == 502, r.text
    error = r.json()["error"]
    assert error["code"] == "upstream_too_large" and error["type"] == "upstream_error"
    assert "larger than its cap of 1 MiB" in error["message"]
    assert f"providers.{wire}.max_response_mb" in error["message"]  # how to fix it
    assert state.wait_closed(closed + 1), "the gateway kept reading the endless answer"
    assert len(state.requests) == calls + 1, "a too-large answer is not retried"


@pytest.mark.parametrize("wire", list(WIRES))
def test_an_endless_stream_event_is_one_in_band_error_and_the_connection_is_closed(
    world: tuple[Gateway, OversizeState], wire: str
) -> None:
    gw, state = world
    state.mode = "endless_event"
    closed = state.closed
    r = chat(gw, wire, stream=True)
    assert r.status_code == 200, r.text  # the first event had left: the answer is committed
    events = [line[6:] for line in r.text.splitlines() if line.startswith("data: ")]
    assert "[DONE]" not in events
    docs = [json.loads(e) for e in events]
    errors = [d for d in docs if "error" in d]
    assert len(errors) == 1 and docs[-1] is errors[0]
    assert errors[0]["error"]["code"] == "upstream_too_large"
    assert f"providers.{wire}.max_event_kb" in errors[0]["error"]["message"]
    text = "".join(c["delta"].get("content") or "" for d in docs[:-1] for c in d["choices"])
    assert text == "hello"  # what came before the endless line was relayed
    assert state.wait_closed(closed + 1), "the gateway kept reading the endless event"


@pytest.mark.parametrize("wire", list(WIRES))
def test_an_endless_first_event_is_a_502_before_the_stream_starts(
    world: tuple[Gateway, OversizeState], wire: str
) -> None:
    gw, state = world
    state.mode = "endless_first_event"
    closed = state.closed
    r = chat(gw, wire, stream=True)
    assert r.status_code == 502, r.text  # nothing was sent yet: an ordinary JSON error
    assert r.json()["error"]["code"] == "upstream_too_large"
    assert state.wait_closed(closed + 1)


def test_a_declared_length_over_the_cap_is_a_502(
    world: tuple[Gateway, OversizeState],
) -> None:
    gw, state = world
    state.mode, state.limit_mb = "declared_length", 64
    try:
        closed = state.closed
        r = chat(gw, "openai", stream=False)
        assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_too_large"
        assert state.wait_closed(closed + 1)
    finally:
        state.limit_mb = OversizeState.limit_mb


def test_a_compressed_answer_is_capped_by_what_it_inflates_to(
    world: tuple[Gateway, OversizeState],
) -> None:
    gw, state = world
    state.mode, state.limit_mb = "gzip_bomb", 256  # ~250 KiB on the wire
    try:
        r = chat(gw, "openai", stream=False)
        assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_too_large"
    finally:
        state.limit_mb = OversizeState.limit_mb


# ---------------------------------------------------------------- the readers


def provider(max_event_bytes: int) -> Provider:
    return Provider(
        "p", "openai", "openai", None, None, "api", 5.0, 60.0, {}, (), False, 1 << 20,
        max_event_bytes,
    )  # fmt: skip


async def chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def response(parts: list[bytes], content_type: str = "text/event-stream") -> Streamed:
    return Streamed(200, {"content-type": content_type}, chunks(parts))


async def events(parts: list[bytes], cap: int) -> list[str]:
    return [e.data async for e in sse_events(response(parts), provider(cap))]


async def test_sse_the_cap_is_per_event_not_per_stream() -> None:
    event = b"data: " + b"x" * 90 + b"\n\n"  # 96 characters of lines
    body = event * 1000
    for size in (7, 100, 4096, len(body)):
        parts = [body[i : i + size] for i in range(0, len(body), size)]
        assert len(await events(parts, 96)) == 1000
    with pytest.raises(UpstreamTooLarge, match=r"providers\.p\.max_event_kb"):
        await events([body], 95)


async def test_sse_an_event_of_many_lines_counts_whole() -> None:
    body = b"data: xxxx\n" * 1000  # no blank line: one event that never ends
    with pytest.raises(UpstreamTooLarge):
        await events([body[i : i + 64] for i in range(0, len(body), 64)], 4096)


async def test_sse_a_line_that_never_ends_is_stopped_at_the_cap() -> None:
    read = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal read
        yield b"data: ok\n\n"
        while True:
            read += 1024
            yield b"y" * 1024

    r = Streamed(200, {"content-type": "text/event-stream"}, endless())
    got = []
    with pytest.raises(UpstreamTooLarge):
        async for e in sse_events(r, provider(10_000)):
            got.append(e.data)
    assert got == ["ok"] and read <= 11 * 1024


async def lines(parts: list[bytes], cap: int) -> list[bytes]:
    return [
        line async for line in ndjson_lines(response(parts, "application/x-ndjson"), provider(cap))
    ]


async def test_ndjson_lines_split_anywhere_and_capped() -> None:
    body = b"".join(b'{"n": %d}\n' % i for i in range(300)) + b'{"last": 1}'
    want = [b'{"n": %d}' % i for i in range(300)] + [b'{"last": 1}']
    for size in (1, 3, 10, 1000, len(body)):
        assert await lines([body[i : i + size] for i in range(0, len(body), size)], 16) == want
    with pytest.raises(UpstreamTooLarge):
        await lines([body], 8)
    with pytest.raises(UpstreamTooLarge):  # a line still arriving counts too
        await lines([b"z" * 10] * 10, 64)
