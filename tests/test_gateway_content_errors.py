"""A failure caused by the request's content (400, 413, 422 from the upstream) never counts
against the provider's circuit breaker: three of them leave it closed and every other client is
still served, while three 500s open it. Such a failure moves on to the next candidate (another
model may accept what this one refused: a vision model, a larger context); when every candidate
refused the content the answer is the client's error (400), never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.openai_fake import FakeState
from tests.gateway import Gateway, behind_two_fakes

CONFIG = """
version: 2
health: {{interval_s: 3600, failure_threshold: 3, recovery_s: 600}}
providers:
  primary:
    type: openai-compatible
    base_url: {primary}/v1
    api_key: ${{env:LR_TEST_CONTENT_KEY}}
    discover: false
    models: {{gpt-4o-mini: {{}}}}
  backup:
    type: openai-compatible
    base_url: {backup}/v1
    api_key: ${{env:LR_TEST_CONTENT_KEY}}
    discover: false
    models: {{gpt-4o: {{}}}}
strategies:
  only-primary:
    models: [primary/gpt-4o-mini]
    fallback: {{attempts: 3, backoff_ms: [0, 0]}}
  with-backup:
    models: [primary/gpt-4o-mini, backup/gpt-4o]
    fallback: {{attempts: 1, backoff_ms: [0, 0]}}
clients:
  sender:
    {{key_prefix: "{{key_prefix:sender}}", key_hash: "{{key_hash:sender}}", strategy: only-primary}}
  other:
    {{key_prefix: "{{key_prefix:other}}", key_hash: "{{key_hash:other}}", strategy: only-primary}}
  falls:
    {{key_prefix: "{{key_prefix:falls}}", key_hash: "{{key_hash:falls}}", strategy: with-backup}}
"""
CHAT: dict[str, Any] = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
REFUSED = {
    "error": {
        "message": "this model does not support image input",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
}


@pytest.fixture
def world(
    tmp_path: Path,
) -> Iterator[tuple[Gateway, FakeState, FakeState]]:
    with behind_two_fakes(CONFIG, tmp_path, "LR_TEST_CONTENT_KEY") as w:
        yield w


def _post(g: Gateway, client: str) -> httpx.Response:
    auth = {"authorization": f"Bearer {g.keys[client]}"}
    return httpx.post(f"{g.v1}/chat/completions", json=CHAT, headers=auth, timeout=20)


def _state(g: Gateway, name: str) -> str:
    """The provider's circuit state as ``/health`` reports it."""
    state: str = httpx.get(f"{g.url}/health", timeout=10).json()["providers"][name]["circuit"][
        "state"
    ]
    return state


@pytest.mark.parametrize("status", [400, 413, 422])
def test_content_errors_never_open_the_breaker(
    world: tuple[Gateway, FakeState, FakeState], status: int
) -> None:
    g, primary, _ = world
    for _ in range(3):
        primary.fail(status, body=REFUSED)
        r = _post(g, "sender")
        assert r.status_code in (400, 413), r.text  # the request's fault: answered as such
    assert _state(g, "primary") == "closed"
    ok = _post(g, "other")  # every other client of the provider is still served
    assert ok.status_code == 200, ok.text


def test_server_errors_still_open_it(world: tuple[Gateway, FakeState, FakeState]) -> None:
    g, primary, _ = world
    primary.fail(500, times=9)
    for _ in range(3):  # the retry budget allows few retries: three requests, three 500s at least
        if _state(g, "primary") == "open":
            break
        assert _post(g, "sender").status_code in (502, 503)
    assert _state(g, "primary") == "open"
    assert _post(g, "other").status_code == 503


def test_a_content_error_falls_back_to_the_next_candidate(
    world: tuple[Gateway, FakeState, FakeState],
) -> None:
    g, primary, backup = world
    primary.fail(400, body=REFUSED)
    r = _post(g, "falls")
    assert r.status_code == 200, r.text
    assert r.headers["x-localrouter-provider"] == "backup"
    # and when every candidate refuses the content: the client's error, not a 5xx
    primary.fail(422, body=REFUSED)
    backup.fail(400, body=REFUSED)
    r = _post(g, "falls")
    assert r.status_code == 400, r.text
    assert "primary/gpt-4o-mini" in r.json()["error"]["message"]
    assert "backup/gpt-4o" in r.json()["error"]["message"]
