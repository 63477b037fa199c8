"""No provider secret in any response body, header, log line or stored record — success or error."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.ollama_fake import FakeState, create_app
from tests.fakes.serve import serve_app
from tests.gateway import running_gateway

SECRET = "sk-live-VERYSECRET-0123456789abcdef"
WRONG = "sk-live-WRONGSECRET-9876543210fedcba"

CONFIG = """
version: 2
providers:
  good:
    type: ollama
    base_url: {upstream}
    api_key: ${{env:LR_TEST_GOOD_KEY}}
    headers: {{X-Upstream-Token: "${{env:LR_TEST_GOOD_KEY}}"}}
    discover: false
    models: {{"qwen2.5-coder:7b": {{}}}}
  bad:
    type: ollama
    base_url: {upstream}
    api_key: ${{env:LR_TEST_BAD_KEY}}
    headers: {{X-Team: research}}
    discover: false
    models: {{"llama3.2:latest": {{}}}}
strategies:
  good: {{models: ["good/*"]}}
  bad: {{models: ["bad/*"]}}
clients:
  app: {{key_prefix: "{{key_prefix:app}}", key_hash: "{{key_hash:app}}", strategy: good}}
  broken: {{key_prefix: "{{key_prefix:broken}}", key_hash: "{{key_hash:broken}}", strategy: bad}}
"""


@pytest.fixture
def env() -> Iterator[None]:
    os.environ["LR_TEST_GOOD_KEY"] = SECRET
    os.environ["LR_TEST_BAD_KEY"] = WRONG
    yield
    del os.environ["LR_TEST_GOOD_KEY"], os.environ["LR_TEST_BAD_KEY"]


def test_no_secret_anywhere(env: None, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    state = FakeState(api_key=SECRET)
    seen: list[str] = []
    with (
        serve_app(create_app(state)) as upstream,
        running_gateway(CONFIG.format(upstream=upstream), tmp_path) as gw,
    ):

        def keep(r: httpx.Response) -> httpx.Response:
            seen.append(r.text)
            seen.append(str(dict(r.headers)))
            return r

        app = {"authorization": f"Bearer {gw.keys['app']}"}
        broken = {"authorization": f"Bearer {gw.keys['broken']}"}
        chat = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}
        ok = keep(httpx.post(f"{gw.v1}/chat/completions", headers=app, json=chat))
        assert ok.status_code == 200, ok.text
        assert state.last.headers.get("authorization") == f"Bearer {SECRET}"  # it was used
        assert state.last.headers.get("x-upstream-token") == SECRET  # secret header resolved
        with httpx.stream(
            "POST", f"{gw.v1}/chat/completions", headers=app, json={**chat, "stream": True}
        ) as r:
            seen.append(r.read().decode())
        failed = keep(httpx.post(f"{gw.v1}/chat/completions", headers=broken, json=chat))
        assert failed.status_code == 502  # the fake refuses the wrong key with 401
        state.fail(500, body={"error": f"upstream echoes the key {SECRET}"})
        keep(httpx.post(f"{gw.v1}/chat/completions", headers=app, json=chat))
        keep(httpx.post(f"{gw.v1}/chat/completions", json=chat))
        keep(httpx.get(f"{gw.url}/health"))
        keep(httpx.get(f"{gw.v1}/models", headers=app))
        keep(
            httpx.get(
                f"{gw.v1}/generation",
                headers=app,
                params={"id": ok.headers["x-localrouter-generation-id"]},
            )
        )
    for path in tmp_path.rglob("*"):
        if path.is_file():
            seen.append(path.read_bytes().decode("utf-8", "replace"))
    seen.extend(record.getMessage() for record in caplog.records)
    everything = "\n".join(seen)
    assert "upstream echoes the key" in everything or "[redacted]" in everything
    for secret in (SECRET, WRONG, "VERYSECRET", "WRONGSECRET"):
        assert secret not in everything
