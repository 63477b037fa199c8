"""The same broken connections and malformed answers from every provider wire: the fakes of
OpenAI, Anthropic, Gemini and Ollama each reset a connection, or answer 200 with a body that is
not JSON or is JSON of another shape, and through the running gateway each is that candidate's
failure before the first byte (the mock backup answers, the attempt is listed with its reason)
and one in-band error event after it (no ``[DONE]``, nothing retried)."""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.fakes.serve import serve_app, wait_for_requests
from tests.gateway import Gateway, running_gateway

# wire -> (fake module, the model its fake serves, base_url suffix, the path of a chat call)
WIRES = {
    "openai": ("tests.fakes.openai_fake", "gpt-4o-mini", "/v1", "/v1/chat/completions"),
    "anthropic": ("tests.fakes.anthropic_fake", "claude-sonnet-4-6", "", "/v1/messages"),
    "gemini": ("tests.fakes.gemini_fake", "gemini-2.5-flash", "", "Content"),
    "ollama": ("tests.fakes.ollama_fake", "qwen2.5-coder:7b", "", "/api/chat"),
}


@dataclass
class World:
    gw: Gateway
    fakes: dict[str, Any]

    def calls(self, wire: str) -> int:
        tail = WIRES[wire][3]
        return sum(1 for q in self.fakes[wire].requests if q.path.endswith(tail))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    lines = [
        "version: 2",
        "health: {interval_s: 3600, failure_threshold: 1000}",
        "providers:",
        "  mock: {type: mock, models: {backup: {}}}",
    ]
    strategies, clients, fakes = [], [], {}
    with ExitStack() as stack:
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        mp.setenv("LR_TEST_WIRES_KEY", "test-key")
        for wire, (module, model, suffix, _path) in WIRES.items():
            fake = importlib.import_module(module)
            fakes[wire] = fake.FakeState()
            url = stack.enter_context(serve_app(fake.create_app(fakes[wire])))
            lines += [
                f"  {wire}:",
                f"    type: {wire}",
                f"    base_url: {url}{suffix}",
                "    api_key: ${env:LR_TEST_WIRES_KEY}",
                "    discover: false",
                f'    models: {{"{model}": {{}}}}',
            ]
            strategies.append(
                f'  via-{wire}: {{models: ["{wire}/{model}", mock/backup], '
                "fallback: {attempts: 1, backoff_ms: [0, 0]}}"
            )
            clients.append(
                f'  {wire}: {{key_prefix: "{{key_prefix:{wire}}}", '
                f'key_hash: "{{key_hash:{wire}}}", strategy: via-{wire}}}'
            )
        text = "\n".join([*lines, "strategies:", *strategies, "clients:", *clients]) + "\n"
        gw = stack.enter_context(running_gateway(text, tmp_path_factory.mktemp("gw")))
        wait_for_requests(*fakes.values())  # the health checks at start: not scripted
        yield World(gw, fakes)


@pytest.fixture
def w(world: World) -> World:
    for fake in world.fakes.values():
        fake.requests.clear()
    return world


def request(stream: bool) -> dict[str, Any]:
    text = "say hi to all of the people in this room"  # a stream of several events
    out: dict[str, Any] = {"model": "auto", "messages": [{"role": "user", "content": text}]}
    return out | ({"stream": True} if stream else {})


def chat(w: World, wire: str, stream: bool) -> httpx.Response:
    return httpx.post(
        f"{w.gw.v1}/chat/completions",
        json=request(stream),
        headers={"authorization": f"Bearer {w.gw.keys[wire]}"},
        timeout=20,
    )


def first_attempt(w: World, wire: str, r: httpx.Response) -> dict[str, Any]:
    rec = httpx.get(
        f"{w.gw.v1}/generation",
        params={"id": r.headers["x-localrouter-generation-id"]},
        headers={"authorization": f"Bearer {w.gw.keys[wire]}"},
    ).json()
    assert [a["outcome"] for a in rec["attempts"]] == ["error", "ok"]
    attempt: dict[str, Any] = rec["attempts"][0]
    return attempt


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("wire", list(WIRES))
def test_a_reset_before_the_answer_falls_back(w: World, wire: str, stream: bool) -> None:
    w.fakes[wire].reset_connection()
    r = chat(w, wire, stream)
    assert r.status_code == 200, r.text
    assert r.headers["x-localrouter-provider"] == "mock"
    assert first_attempt(w, wire, r)["error"].startswith(f"{wire} connection failed (")
    assert w.calls(wire) == 1


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("wire", list(WIRES))
def test_a_body_that_is_not_json_falls_back(w: World, wire: str, stream: bool) -> None:
    w.fakes[wire].malformed()
    r = chat(w, wire, stream)
    assert r.status_code == 200, r.text
    assert r.headers["x-localrouter-provider"] == "mock"
    attempt = first_attempt(w, wire, r)
    assert attempt["status"] is None and attempt["error"].startswith(f"{wire} ")
    assert "malformed" in attempt["error"] or "not" in attempt["error"]


@pytest.mark.parametrize("wire", list(WIRES))
def test_a_reset_mid_stream_ends_with_an_error_event(w: World, wire: str) -> None:
    hold = threading.Event()
    w.fakes[wire].reset_connection(after_events=1, hold=hold)
    with httpx.stream(
        "POST",
        f"{w.gw.v1}/chat/completions",
        json=request(True),
        headers={"authorization": f"Bearer {w.gw.keys[wire]}"},
        timeout=20,
    ) as r:
        assert r.status_code == 200 and r.headers["x-localrouter-provider"] == wire
        lines = r.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        hold.set()
        rest = [line[6:] for line in lines if line.startswith("data: ")]
    assert "error" not in json.loads(first[6:])
    assert "[DONE]" not in rest
    assert json.loads(rest[-1])["error"]["message"].startswith(f"{wire} connection failed (")
    assert w.calls(wire) == 1


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("wire", list(WIRES))
def test_json_of_another_shape_falls_back(w: World, wire: str, stream: bool) -> None:
    w.fakes[wire].fail(200, body={"status": "ok", "result": {"text": "hello"}})
    r = chat(w, wire, stream)
    assert r.status_code == 200, r.text
    assert r.headers["x-localrouter-provider"] == "mock"
    attempt = first_attempt(w, wire, r)
    assert attempt["status"] is None and attempt["error"].startswith(f"{wire} ")
