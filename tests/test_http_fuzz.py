"""Fuzz the OpenAI endpoints (chat, completions, embeddings, responses) with bodies drawn from
OpenAI's own request schemas.

The rule: the gateway itself never answers 5xx. Behind it are the mock provider and a fake
upstream of each wire format (openai, ollama, anthropic, gemini), all of which answer well, so
no 502/503/504 is excused either: every body — schema-valid-ish or mutated (a wrong type at a
path, a path removed, a known field with a wrong value; see :mod:`tests.fuzz_bodies`) — must be
answered 2xx or 4xx in OpenAI's error envelope, a 200 stream must end with ``[DONE]`` (a
Responses stream with its final event), and the
gateway must log no unexpected error.

Bounded in time: each endpoint runs Hypothesis in batches of :data:`BATCH` bodies (each batch a
whole run, shrinking included when one fails) until ``LR_FUZZ_SECONDS`` have passed (default 8;
at least one batch). Run it longer by hand (``-s`` prints how many bodies each endpoint sent)::

    LR_FUZZ_SECONDS=200 .venv/bin/pytest -q -s tests/test_http_fuzz.py
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes.serve import serve_app
from tests.fuzz_bodies import bodies
from tests.gateway import Gateway, running_gateway

BATCH = 30
SECONDS = float(os.environ.get("LR_FUZZ_SECONDS", "8"))
FAKES = {  # provider type -> (fake module, base_url suffix, its model for each endpoint)
    "openai": (
        "tests.fakes.openai_fake",
        "/v1",
        {"chat": "gpt-4o-mini", "completion": "gpt-3.5-turbo-instruct",
         "embeddings": "text-embedding-3-small"},
    ),
    "ollama": (
        "tests.fakes.ollama_fake",
        "",
        {"chat": "qwen2.5-coder:7b", "completion": "qwen2.5-coder:7b",
         "embeddings": "nomic-embed-text:latest"},
    ),
    "anthropic": (  # no embeddings: the adapter refuses them (400)
        "tests.fakes.anthropic_fake",
        "",
        {"chat": "claude-sonnet-4-6", "completion": "claude-sonnet-4-6",
         "embeddings": "claude-sonnet-4-6"},
    ),
    "gemini": (
        "tests.fakes.gemini_fake",
        "",
        {"chat": "gemini-2.5-flash", "completion": "gemini-2.5-flash",
         "embeddings": "gemini-embedding-001"},
    ),
}  # fmt: skip
PROVIDERS = ["mock", *FAKES]
CAPABILITIES = "[chat, completions, embeddings, tools, vision, json]"
PATHS = {
    "chat": "chat/completions",
    "completion": "completions",
    "embeddings": "embeddings",
    "responses": "responses",
}
SCHEMAS = {
    "chat": "CreateChatCompletionRequest",
    "completion": "CreateCompletionRequest",
    "embeddings": "CreateEmbeddingRequest",
    "responses": "CreateResponse",  # the openai fake serves it natively; the others translated
}
RESPONSES_ENDS = ("response.completed", "response.incomplete", "response.failed", "error")


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with pytest.MonkeyPatch.context() as mp, ExitStack() as stack:
        mp.setenv("LR_TEST_FAKE_KEY", "test-key")
        lines = ["version: 2", "providers:", "  mock: {type: mock}"]
        strategies = [f'  mock-{k}: {{models: ["mock/*"]}}' for k in SCHEMAS]
        for name, (module, suffix, models) in FAKES.items():
            url = stack.enter_context(serve_app(importlib.import_module(module).create_app()))
            catalog = ", ".join(
                f'"{m}": {{capabilities: {CAPABILITIES}}}' for m in {*models.values()}
            )
            lines += [
                f"  {name}:",
                f"    type: {name}",
                f"    base_url: {url}{suffix}",
                "    api_key: ${env:LR_TEST_FAKE_KEY}",
                "    discover: false",
                f"    models: {{{catalog}}}",
            ]
            models = {**models, "responses": models["chat"]}
            strategies += [f'  {name}-{k}: {{models: ["{name}/{m}"]}}' for k, m in models.items()]
        clients = [  # one client per provider and endpoint, named like its strategy
            f'  {c}: {{key_prefix: "{{key_prefix:{c}}}", key_hash: "{{key_hash:{c}}}", '
            f"strategy: {c}}}"
            for c in (f"{p}-{k}" for p in PROVIDERS for k in SCHEMAS)
        ]
        text = "\n".join([*lines, "strategies:", *strategies, "clients:", *clients]) + "\n"
        yield stack.enter_context(running_gateway(text, tmp_path_factory.mktemp("fuzz")))


def _send(http: httpx.Client, gw: Gateway, provider: str, kind: str, body: Any) -> tuple[str, int]:
    """Send ``body``; the problem with the answer ("" when it keeps the rules), and its status."""
    url = f"{gw.v1}/{PATHS[kind]}"
    auth = {"authorization": f"Bearer {gw.keys[f'{provider}-{kind}']}"}
    with http.stream("POST", url, json=body, headers=auth) as r:
        raw = b""
        for chunk in r.iter_bytes():
            raw += chunk
            if len(raw) > 4_000_000:
                return "an answer over 4 MB", r.status_code
    status, text = r.status_code, raw.decode("utf-8", "replace")
    if status >= 500:
        return f"{status}: {text[:1500]}", status
    if status >= 400:
        error = json.loads(text).get("error")
        if not isinstance(error, dict) or set(error) != {"message", "type", "param", "code"}:
            return f"{status} outside OpenAI's envelope: {text[:500]}", status
        return "", status
    if r.headers.get("content-type", "").startswith("text/event-stream"):
        if kind == "responses":
            last = text.rstrip().rsplit("\n\n", 1)[-1]
            if not last.startswith(tuple(f"event: {e}\n" for e in RESPONSES_ENDS)):
                return f"a Responses stream that did not end: ...{text[-1500:]}", status
            return "", status
        if not text.rstrip().endswith("data: [DONE]"):
            return f"a stream that did not end with [DONE]: ...{text[-1500:]}", status
        return "", status
    json.loads(text)
    return "", status


def _unexpected(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{rec.name}: {rec.getMessage()}\n{rec.exc_text or ''}"
        for rec in caplog.records
        if rec.name.startswith("localrouter") and rec.levelno >= logging.ERROR
    ]


@pytest.mark.timeout(SECONDS + 120)  # the budget, plus a batch that shrinks a failure
@pytest.mark.parametrize("kind", list(SCHEMAS))
def test_the_gateway_never_answers_5xx(
    gw: Gateway, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    deadline = time.monotonic() + SECONDS
    http = httpx.Client(timeout=30)
    statuses: dict[int, int] = {}

    @settings(
        max_examples=BATCH,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(
        body=bodies(SCHEMAS[kind]),
        provider=st.sampled_from(PROVIDERS),
        model=st.sampled_from(["auto", "auto", "auto", "keep"]),
    )
    def one(body: Any, provider: str, model: str) -> None:
        if model == "auto" and isinstance(body, dict):
            body["model"] = "auto"
        caplog.clear()
        problem, status = _send(http, gw, provider, kind, body)
        statuses[status] = statuses.get(status, 0) + 1
        errors = _unexpected(caplog)
        if problem or errors:
            shown = json.dumps(body)[:3000]
            raise AssertionError(f"{provider} {shown}\n-> {problem}\n{''.join(errors)[:5000]}")

    try:
        one()
        while time.monotonic() < deadline:
            one()  # a new batch, from a new random seed
    finally:
        http.close()
        print(f"{kind}: {sum(statuses.values())} bodies sent, by status {sorted(statuses.items())}")
