"""Stream events that are ready together leave in one write; events that arrive apart leave apart.

``localrouter.server.ready`` steps an async generator without waiting; the relay
(``server/relay.py``) uses it to join the events of one network read. Checked on the
primitive (what is ready, what waits, errors, cancellation, abandoning a held step) and on the
running gateway, whose chunked HTTP framing shows how many writes a stream took.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncGenerator, Iterator
from typing import Any
from urllib.parse import urlsplit

import h11
import pytest

from localrouter.server.ready import END, End, Pending, ready
from tests.fakes import openai_fake
from tests.gateway import Gateway, behind_two_fakes
from tests.openapi import validate


async def numbers(gate: asyncio.Future[None], log: list[str]) -> AsyncGenerator[int, None]:
    try:
        yield 1
        yield 2
        await gate  # the network: nothing more until the gate opens
        yield 3
    finally:
        log.append("closing")
        await asyncio.sleep(0)  # clean-up that awaits, like closing a response
        log.append("closed")


async def test_items_ready_now_are_returned_and_a_wait_is_pending() -> None:
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[None] = loop.create_future()
    log: list[str] = []
    gen = numbers(gate, log)
    assert ready(gen) == 1
    assert ready(gen) == 2
    step = ready(gen)
    assert isinstance(step, Pending)
    loop.call_later(0.01, gate.set_result, None)
    assert await step == 3
    end = ready(gen)  # the clean-up awaits, so the end is not ready at once
    assert isinstance(end, Pending)
    assert await end is END
    assert log == ["closing", "closed"]
    assert isinstance(ready(gen), End)


async def failing(gate: asyncio.Future[None] | None) -> AsyncGenerator[int, None]:
    yield 1
    if gate is not None:
        await gate
    raise ValueError("upstream broke")


async def test_an_error_is_raised_where_the_item_would_come() -> None:
    gen = failing(None)
    assert ready(gen) == 1
    with pytest.raises(ValueError, match="upstream broke"):
        ready(gen)
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    gen = failing(gate)
    assert ready(gen) == 1
    step = ready(gen)
    assert isinstance(step, Pending)
    gate.set_result(None)
    with pytest.raises(ValueError, match="upstream broke"):
        await step


async def held() -> tuple[asyncio.Future[None], list[str], AsyncGenerator[int, None], Pending[int]]:
    """A generator past its ready items, and the step that waits on its gate."""
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    log: list[str] = []
    gen = numbers(gate, log)
    assert (ready(gen), ready(gen)) == (1, 2)
    step = ready(gen)
    assert isinstance(step, Pending)
    return gate, log, gen, step


async def test_cancelling_the_task_that_awaits_a_step_cancels_the_generator() -> None:
    gate, log, _gen, step = await held()

    async def wait() -> object:
        return await step

    task = asyncio.create_task(wait())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["closing", "closed"]
    assert gate.cancelled()  # the Task cancelled what the generator waited on, as usual


async def test_a_held_step_is_abandoned_by_cancel_and_then_the_generator_closes() -> None:
    _gate, log, gen, step = await held()
    with pytest.raises(RuntimeError, match="already running"):
        await gen.aclose()  # why the relay must end a held step first
    await step.cancel()
    assert log == ["closing", "closed"]
    await gen.aclose()  # now a no-op


# ---- on the running gateway ------------------------------------------------------------------

CONFIG = """
version: 2
health: {{interval_s: 3600}}
providers:
  primary:
    type: openai-compatible
    base_url: {primary}/v1
    api_key: ${{env:LR_TEST_COALESCE_KEY}}
    discover: false
    models: {{gpt-4o-mini: {{}}}}
  backup:
    type: openai-compatible
    base_url: {backup}/v1
    api_key: ${{env:LR_TEST_COALESCE_KEY}}
    discover: false
    models: {{gpt-4o-mini: {{}}}}
strategies:
  main: {{models: [primary/gpt-4o-mini]}}
clients:
  app: {{key_prefix: "{{key_prefix:app}}", key_hash: "{{key_hash:app}}", strategy: main}}
"""


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Gateway, openai_fake.FakeState]]:
    where = tmp_path_factory.mktemp("coalesce")
    with behind_two_fakes(CONFIG, where, "LR_TEST_COALESCE_KEY") as (gw, primary, _backup):
        yield gw, primary


def writes(gw: Gateway, body: dict[str, Any]) -> tuple[list[bytes], bytes]:
    """POST ``body`` over a raw socket; the chunks of the chunked answer as the gateway framed
    them (one per write it made), and the whole body."""
    url = urlsplit(gw.url)
    payload = json.dumps(body).encode()
    conn = h11.Connection(h11.CLIENT)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        request = h11.Request(
            method="POST",
            target="/v1/chat/completions",
            headers=[
                ("host", url.netloc),
                ("authorization", f"Bearer {gw.keys['app']}"),
                ("content-type", "application/json"),
                ("content-length", str(len(payload))),
            ],
        )
        sock.sendall(conn.send(request) + conn.send(h11.Data(data=payload)))
        sock.sendall(conn.send(h11.EndOfMessage()))
        chunks: list[bytes] = []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(sock.recv(65536))
                continue
            if isinstance(event, h11.Response):
                assert event.status_code == 200
            elif isinstance(event, h11.Data):
                if event.chunk_start or not chunks:
                    chunks.append(b"")
                chunks[-1] += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return chunks, b"".join(chunks)


def events(raw: bytes) -> list[str]:
    return [line[6:] for line in raw.decode().split("\n\n") if line.startswith("data: ")]


def stream_body(text: str) -> dict[str, Any]:
    return {
        "model": "auto",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": text}],
    }


def test_events_read_together_leave_in_one_write(
    world: tuple[Gateway, openai_fake.FakeState],
) -> None:
    gw, fake = world
    fake.burst = True
    try:
        chunks, raw = writes(gw, stream_body("one two three four five six seven eight"))
    finally:
        fake.burst = False
    sent = events(raw)
    assert sent[-1] == "[DONE]"
    assert len(sent) >= 10  # role, eight words, finish, usage
    for data in sent[:-1]:
        validate("CreateChatCompletionStreamResponse", json.loads(data))
    # the first event leaves when it is read (the dispatcher waits for it), the rest together
    assert len(chunks) <= 2, f"{len(sent)} events in {len(chunks)} writes"


def test_events_that_arrive_apart_are_not_held_back(
    world: tuple[Gateway, openai_fake.FakeState],
) -> None:
    gw, fake = world
    fake.chunk_delay = 0.03
    try:
        chunks, raw = writes(gw, stream_body("one two three four five six"))
    finally:
        fake.chunk_delay = 0.0
    sent = events(raw)
    assert sent[-1] == "[DONE]"
    # each event is written when it arrives (the last two — the usage chunk and [DONE] — may
    # share a write when they are read together)
    assert len(chunks) >= len(sent) - 2, f"{len(sent)} events in {len(chunks)} writes"
