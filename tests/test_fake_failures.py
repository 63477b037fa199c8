"""The fakes' scripted failures on the wire, seen from a raw socket: a reset is a TCP RST and a
close a FIN, with no HTTP answer before them (or after some stream events), and a malformed
answer is a 200 whose body is what the script says."""

from __future__ import annotations

import importlib
import json
import socket
import threading
from typing import Any

import httpx
import pytest

from tests.fakes.openai_fake import FakeState, create_app
from tests.fakes.serve import serve_app

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "one two three four"}]}
# wire -> (fake module, its chat path, a valid request body)
WIRES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "openai": ("tests.fakes.openai_fake", "/v1/chat/completions", CHAT),
    "anthropic": (
        "tests.fakes.anthropic_fake",
        "/v1/messages",
        {"model": "claude-sonnet-4-6", "max_tokens": 50, "messages": CHAT["messages"]},
    ),
    "gemini": (
        "tests.fakes.gemini_fake",
        "/v1beta/models/gemini-2.5-flash:generateContent",
        {"contents": [{"role": "user", "parts": [{"text": "one two three four"}]}]},
    ),
    "ollama": (
        "tests.fakes.ollama_fake",
        "/api/chat",
        {"model": "qwen2.5-coder:7b", "stream": False, "messages": CHAT["messages"]},
    ),
}
HEADERS = {
    "authorization": "Bearer test-key",
    "x-api-key": "test-key",
    "x-goog-api-key": "test-key",
    "anthropic-version": "2023-06-01",
}


def raw_post(url: str, path: str, body: dict[str, Any]) -> tuple[bytes, str]:
    """Send one request on a fresh connection; (every byte received, how it ended: ``eof``,
    ``reset``)."""
    host, port = url.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    head = [f"POST {path} HTTP/1.1", f"host: {host}", "content-type: application/json"]
    head += [f"{k}: {v}" for k, v in HEADERS.items()]
    head += [f"content-length: {len(payload)}", "", ""]
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall("\r\n".join(head).encode() + payload)
        got = b""
        while True:
            try:
                part = s.recv(65536)
            except ConnectionResetError:
                return got, "reset"
            if not part:
                return got, "eof"
            got += part


@pytest.mark.parametrize("wire", list(WIRES))
@pytest.mark.parametrize("how", ["rst", "fin"])
def test_a_connection_is_broken_before_any_answer(wire: str, how: str) -> None:
    module, path, body = WIRES[wire]
    fake = importlib.import_module(module)
    state = fake.FakeState()
    with serve_app(fake.create_app(state)) as url:
        state.reset_connection(how=how)
        got, ended = raw_post(url, path, body)
        assert (got, ended) == (b"", "reset" if how == "rst" else "eof")
        assert len(state.requests) == 1  # the request was read first
        r = httpx.post(f"{url}{path}", json=body, headers=HEADERS)
        assert r.status_code == 200  # the script step is used up: the next request is answered


def test_a_stream_is_reset_after_some_events_once_released() -> None:
    state = FakeState()
    hold = threading.Event()
    with serve_app(create_app(state)) as url:
        state.reset_connection(after_events=2, how="rst", hold=hold)
        hold.set()
        got, ended = raw_post(url, "/v1/chat/completions", {**CHAT, "stream": True})
    assert ended == "reset"
    assert got.startswith(b"HTTP/1.1 200")
    events = [line for line in got.split(b"\n") if line.startswith(b"data: ")]
    assert len(events) == 2 and all(json.loads(e[6:])["choices"] for e in events)


@pytest.mark.parametrize("what", ["json", "shape", "html"])
def test_malformed_answers_are_200s_with_a_body_that_is_not_an_answer(what: str) -> None:
    state = FakeState()
    with serve_app(create_app(state)) as url:
        state.malformed(what)
        r = httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=HEADERS)
    assert r.status_code == 200
    if what == "html":
        assert r.headers["content-type"].startswith("text/html") and r.text.startswith("<html>")
        return
    if what == "json":
        with pytest.raises(ValueError):
            json.loads(r.text)
        return
    doc = r.json()
    assert "choices" not in doc and doc["message"]["content"] == "Hello"  # Ollama's shape


@pytest.mark.parametrize("what", ["json", "shape"])
def test_a_stream_can_carry_a_broken_event_after_sound_ones(what: str) -> None:
    state = FakeState()
    with serve_app(create_app(state)) as url:
        state.malformed(what, after_events=2)
        r = httpx.post(f"{url}/v1/chat/completions", json={**CHAT, "stream": True}, headers=HEADERS)
    events = [line[6:] for line in r.text.splitlines() if line.startswith("data: ")]
    assert all(json.loads(e)["choices"][0]["delta"] is not None for e in events[:2])
    if what == "json":
        with pytest.raises(ValueError):
            json.loads(events[2])
    else:
        assert isinstance(json.loads(events[2])["choices"], dict)
    assert events[-1] == "[DONE]"  # the rest of the stream follows as usual
