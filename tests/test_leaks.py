"""No secret leaks: a real ``localrouter serve`` and the CLI are driven through every error path
with known secret values (provider keys from the environment and literal, a secret header, a
client key), and every byte they produce is scanned: HTTP bodies and headers, stdout, stderr (the
server's log), and every file in ``state_dir``. No 8-character window of any secret may appear.

Upstreams that *echo* the key they were sent (as real providers do in 401 messages) make the
test meaningful: the gateway must redact what it is handed back, not only what it writes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import run_cli
from tests.fakes.openai_fake import FakeState, create_app
from tests.fakes.serve import free_port, serve_app
from tests.gateway import write_config
from tests.test_restart_process import serve_process

ENV_KEY = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"  # no "sk-": only value-based redaction can hide it
HEADER_SECRET = "hdr7c1e2b54d3f0a86e9"
LITERAL_KEY = "q7w6e5r4t3y2u1i0o9p8a7s6"
UNSET = "LR_TEST_LEAK_UNSET"

CONFIG = """
version: 2
state_dir: {state}
health: {{interval_s: 3600, failure_threshold: 1000}}
providers:
  echo:
    type: openai-compatible
    base_url: {echo}/v1
    api_key: ${{env:LR_TEST_LEAK_KEY}}
    headers: {{X-Team-Token: "${{env:LR_TEST_LEAK_HEADER}}"}}
    discover: false
    models: {{gpt-4o-mini: {{}}}}
  literal:
    type: openai-compatible
    base_url: {literal}/v1
    api_key: {literal_key}
    discover: false
    models: {{gpt-4o-mini: {{}}}}
  missing:
    type: openai-compatible
    base_url: {echo}/v1
    api_key: ${{env:{unset}}}
    discover: false
    models: {{gpt-4o-mini: {{}}}}
  mock: {{type: mock, models: {{backup: {{}}}}}}
strategies:
  all: {{models: [missing/gpt-4o-mini, echo/gpt-4o-mini, literal/gpt-4o-mini]}}
  safe: {{models: [echo/gpt-4o-mini, mock/backup]}}
clients:
  app: {{key_prefix: "{{key_prefix:app}}", key_hash: "{{key_hash:app}}", strategy: all}}
  backup: {{key_prefix: "{{key_prefix:backup}}", key_hash: "{{key_hash:backup}}", strategy: safe}}
"""


def windows(secret: str, n: int = 8) -> set[str]:
    return {secret[i : i + n] for i in range(len(secret) - n + 1)}


def leaks(blob: str, secrets: list[str]) -> list[str]:
    return sorted({w for s in secrets for w in windows(s) if w in blob})


@pytest.fixture
def upstreams() -> Iterator[tuple[str, FakeState, str, FakeState]]:
    echo, literal = FakeState(api_key=ENV_KEY), FakeState(api_key=LITERAL_KEY)
    with serve_app(create_app(echo)) as e_url, serve_app(create_app(literal)) as l_url:
        yield e_url, echo, l_url, literal


def echoing(key: str, status: int) -> dict[str, object]:
    """An error body that repeats the key it was sent, as providers' 401s do."""
    return {
        "error": {"message": f"Incorrect API key provided: {key}.", "type": "auth", "code": status}
    }


def test_no_secret_in_any_output_log_or_state_file(
    tmp_path: Path, upstreams: tuple[str, FakeState, str, FakeState]
) -> None:
    e_url, echo, l_url, literal = upstreams
    state = tmp_path / "state"
    text = CONFIG.format(
        state=state, echo=e_url, literal=l_url, literal_key=LITERAL_KEY, unset=UNSET
    )
    config, keys = write_config(text, tmp_path)
    # a client key's first 11 characters are its public prefix (in the config, in `keys list`)
    secrets = [ENV_KEY, HEADER_SECRET, LITERAL_KEY, *(k[11:] for k in keys.values())]
    seen: list[str] = []
    log = tmp_path / "serve.log"
    old_env = dict(os.environ)
    os.environ.update({"LR_TEST_LEAK_KEY": ENV_KEY, "LR_TEST_LEAK_HEADER": HEADER_SECRET})
    os.environ.pop(UNSET, None)
    try:
        with serve_process(config, free_port(), log=log) as (url, _proc):
            app = {"authorization": f"Bearer {keys['app']}"}
            body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
            stream = {**body, "stream": True}

            def call(payload: dict[str, object], headers: dict[str, str] = app) -> None:
                r = httpx.post(
                    f"{url}/v1/chat/completions", json=payload, headers=headers, timeout=20
                )
                seen.append(f"{r.status_code} {dict(r.headers)} {r.text}")
                gen = r.headers.get("x-localrouter-generation-id")
                if gen:
                    g = httpx.get(f"{url}/v1/generation", params={"id": gen}, headers=headers)
                    seen.append(g.text)

            # the upstreams echo the key back in errors of every kind
            for state_ in (echo, literal):
                state_.fail(
                    401, body=echoing(ENV_KEY if state_ is echo else LITERAL_KEY, 401), times=3
                )
            call(body)
            for state_ in (echo, literal):
                state_.fail(
                    500, body=echoing(ENV_KEY if state_ is echo else LITERAL_KEY, 500), times=6
                )
            call(stream)
            for state_ in (echo, literal):
                state_.malformed("html")
                state_.reset_connection()
            call(body)
            call(stream)
            echo.fail(400, body=echoing(ENV_KEY, 400))  # the request's fault: answered as such
            call(body)
            call(body, {"authorization": f"Bearer {keys['app']}x"})  # a wrong client key
            call(body, {"authorization": "Bearer " + keys["backup"][:11] + "A" * 32})
            call(body, {"x-api-key": keys["backup"]})
            for path in ("/health", "/v1/models"):
                r = httpx.get(url + path, headers=app, timeout=10)
                seen.append(r.text)
        # the CLI on the same config, every command that reads it
        for argv in (
            ("validate", str(config)),
            ("validate", str(config), "--format", "json"),
            ("validate", str(config), "--format", "github"),
            ("explain", "--config", str(config), "--client", "app", "--prompt", "hi"),
            ("explain", "--config", str(config), "--client", "app", "--format", "json"),
            ("diff", str(config), str(config)),
            ("check", str(config)),
        ):
            result = run_cli(*argv)
            seen.append(result.out + result.err)
    finally:
        os.environ.clear()
        os.environ.update(old_env)
    seen.append(log.read_text(encoding="utf-8", errors="replace"))
    files = [p for p in state.rglob("*") if p.is_file()]
    assert any(p.name.startswith("generations") for p in files), files
    for p in files:
        seen.append(p.read_bytes().decode("latin-1"))
    blob = "\n".join(seen)
    assert "Incorrect API key provided" in blob or "401" in blob  # the error paths were taken
    assert leaks(blob, secrets) == []
