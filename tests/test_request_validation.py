"""Request validation on the OpenAI endpoints, through the running gateway.

A wrong type is answered 400 in OpenAI's envelope with ``param`` naming the field, before any
upstream is called (so a bad request neither crashes an adapter nor counts against a provider's
circuit); nullable fields sent as ``null`` are read as absent; an embedding beyond float32 asked
as base64 is answered, not a 500.
"""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from tests.fakes import ollama_fake, openai_fake
from tests.fakes.serve import serve_app
from tests.gateway import Gateway, running_gateway

CONFIG = """
version: 2
providers:
  mock: {{type: mock}}
  ollama:
    type: ollama
    base_url: {ollama}
    discover: false
    models: {{"qwen2.5-coder:7b": {{capabilities: [chat, completions, tools]}}}}
  openai:
    type: openai
    base_url: {openai}/v1
    api_key: ${{env:LR_TEST_FAKE_KEY}}
    discover: false
    models: {{"text-embedding-3-small": {{capabilities: [embeddings]}}}}
strategies:
  via-mock: {{models: ["mock/*"]}}
  via-ollama: {{models: ["ollama/qwen2.5-coder:7b"]}}
  via-openai: {{models: ["openai/text-embedding-3-small"]}}
clients:
"""
CLIENTS = "".join(  # not .format()ted: the gateway harness fills these placeholders
    f'  {n}: {{key_prefix: "{{key_prefix:{n}}}", key_hash: "{{key_hash:{n}}}", '
    f"strategy: via-{n}}}\n"
    for n in ("mock", "ollama", "openai")
)

HI = [{"role": "user", "content": "hi"}]


class Env:
    def __init__(self, gw: Gateway, ollama: ollama_fake.FakeState, openai: openai_fake.FakeState):
        self.gw, self.ollama, self.openai = gw, ollama, openai
        self.http = httpx.Client(timeout=10)

    def post(self, client: str, path: str, body: dict[str, Any]) -> httpx.Response:
        auth = {"authorization": f"Bearer {self.gw.keys[client]}"}
        return self.http.post(f"{self.gw.v1}/{path}", json=body, headers=auth)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    ollama, openai = ollama_fake.FakeState(), openai_fake.FakeState()
    with pytest.MonkeyPatch.context() as mp, ExitStack() as stack:
        mp.setenv("LR_TEST_FAKE_KEY", openai_fake.API_KEY)
        o_url = stack.enter_context(serve_app(ollama_fake.create_app(ollama)))
        a_url = stack.enter_context(serve_app(openai_fake.create_app(openai)))
        text = CONFIG.format(ollama=o_url, openai=a_url) + CLIENTS
        gw = stack.enter_context(running_gateway(text, tmp_path_factory.mktemp("gw")))
        e = Env(gw, ollama, openai)
        yield e
        e.http.close()


def _assert_400(r: httpx.Response, param: str) -> None:
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param, error
    assert f"`{param}`" in error["message"]


@pytest.mark.parametrize(
    ("client", "body", "param"),
    [
        ("mock", {"messages": [1, 2, 3]}, "messages[0]"),
        ("mock", {"messages": [{"role": "user", "content": [1]}]}, "messages[0].content[0]"),
        (
            "mock",
            {"messages": [*HI, {"role": "user", "content": [{"type": "text", "text": 5}]}]},
            "messages[1].content[0].text",
        ),
        ("mock", {"messages": HI, "stream": True, "stream_options": 5}, "stream_options"),
        ("ollama", {"messages": HI, "stream": True, "stream_options": [1]}, "stream_options"),
        ("ollama", {"messages": HI, "stop": 5}, "stop"),
        ("ollama", {"messages": HI, "tools": 5}, "tools"),
        ("ollama", {"messages": HI, "temperature": "x"}, "temperature"),
        ("mock", {"messages": HI, "max_tokens": 0}, "max_tokens"),
        ("mock", {"messages": HI, "max_tokens": -1}, "max_tokens"),
        ("ollama", {"messages": HI, "max_completion_tokens": 0}, "max_completion_tokens"),
        ("mock", {"prompt": "hi", "max_tokens": 0}, "max_tokens"),
        ("mock", {"input": ["a", 1]}, "input[1]"),
    ],
    ids=[
        "messages-numbers",
        "content-part-not-object",
        "text-not-string",
        "stream-options-number",
        "stream-options-array-ollama",
        "stop-number-ollama",
        "tools-number-ollama",
        "temperature-string-ollama",
        "max-tokens-0",
        "max-tokens-negative",
        "max-completion-tokens-0-ollama",
        "completions-max-tokens-0",
        "embeddings-mixed-input",
    ],
)
def test_wrong_types_are_400_naming_the_field(
    env: Env, client: str, body: dict[str, Any], param: str
) -> None:
    path = "completions" if "prompt" in body else "embeddings" if "input" in body else None
    seen = len(env.ollama.requests)
    _assert_400(env.post(client, path or "chat/completions", body), param)
    assert len(env.ollama.requests) == seen  # refused before any upstream was called


def test_a_bad_request_does_not_open_the_providers_circuit(env: Env) -> None:
    for _ in range(4):  # Ollama answers 500 to a string temperature: it must never see one
        _assert_400(
            env.post("ollama", "chat/completions", {"messages": HI, "temperature": "hot"}),
            "temperature",
        )
    r = env.post("ollama", "chat/completions", {"messages": HI})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("client", ["mock", "ollama"])
def test_nulls_are_absent(env: Env, client: str) -> None:
    nulls = {"stream": None, "stream_options": None, "max_tokens": None, "stop": None,
             "temperature": None, "tools": None, "model": None, "n": None}  # fmt: skip
    r = env.post(client, "chat/completions", {"messages": HI, **nulls})
    assert r.status_code == 200, r.text
    assert r.json()["object"] == "chat.completion"  # not streamed: stream null is false
    r = env.post(client, "completions", {"prompt": "hi", "stream": None, "suffix": None})
    assert r.status_code == 200, r.text


def test_prompt_null_is_the_empty_prompt(env: Env) -> None:
    for body in ({"prompt": None}, {}):
        r = env.post("mock", "completions", body)
        assert r.status_code == 200, r.text
        assert r.json()["object"] == "text_completion"


def test_required_fields_still_required(env: Env) -> None:
    _assert_400(env.post("mock", "chat/completions", {"messages": None}), "messages")
    _assert_400(env.post("mock", "embeddings", {"input": None}), "input")


def test_token_arrays_are_valid_input(env: Env) -> None:
    r = env.post("openai", "embeddings", {"input": [[1, 2, 3]], "model": "auto"})
    assert r.status_code == 200, r.text


def test_base64_embedding_beyond_float32(env: Env) -> None:
    """An upstream's value beyond float32's range, asked as base64, is packed as IEEE float32
    does it (±inf), not a crash."""
    vector = [1e39, -1e39, 0.5, 3.5e38]
    answer = {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": vector}],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }
    env.openai.fail(200, body=answer)
    r = env.post("openai", "embeddings", {"input": "x", "encoding_format": "base64"})
    assert r.status_code == 200, r.text
    raw = base64.b64decode(r.json()["data"][0]["embedding"])
    got = struct.unpack("<4f", raw)
    assert got[0] == math.inf and got[1] == -math.inf and got[2] == 0.5
    assert got[3] == math.inf  # 3.5e38 rounds beyond float32's largest finite value


def test_base64_embedding_of_non_numbers_is_502(env: Env) -> None:
    answer = {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.5, "x"]}],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }
    env.openai.fail(200, body=answer)
    r = env.post("openai", "embeddings", {"input": "x", "encoding_format": "base64"})
    assert r.status_code == 502, r.text
    assert "embedding" in r.json()["error"]["message"]


def test_forms_the_adapters_read_still_pass(env: Env) -> None:
    """Validation is no stricter than the gateway: the URL-only ``image_url`` form, unknown fields
    (forwarded to OpenAI-compatible providers) and token arrays are accepted."""
    image = {"type": "image_url", "image_url": "data:image/png;base64,iVBORw0KGgo="}
    content = [{"type": "text", "text": "what is this?"}, image]
    body = {"messages": [{"role": "user", "content": content}], "top_k": 5, "x-extra": {"a": 1}}
    r = env.post("mock", "chat/completions", body)
    assert r.status_code == 200, r.text
    r = env.post("mock", "completions", {"prompt": [[1, 2], [3]], "logprobs": None})
    assert r.status_code == 200, r.text
