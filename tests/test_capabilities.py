"""A request that needs a capability is never sent to a model the catalog knows to lack it.

images -> vision, tools -> tools, /v1/embeddings -> embeddings, a json_schema response_format ->
json. Such a model is left out with the reason ``lacks vision`` (etc.) in the answer, ``explain``
and the generation record; a model whose capabilities are unknown is not left out; when every
candidate lacks what the request needs, the answer is 400 (the request's doing), not 503.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from localrouter.compiler.build import build
from localrouter.logs.record import facts_obj
from localrouter.logs.replay import facts_from_log
from localrouter.routing.facts import NowFacts, facts_from_openai
from localrouter.routing.route import route
from tests.conftest import run_cli
from tests.fakes.openai_fake import FakeState, create_app
from tests.fakes.serve import serve_app, wait_for_requests
from tests.gateway import Gateway, running_gateway, write_config

CONFIG = """
version: 2
health: {{interval_s: 3600, failure_threshold: 1000}}
providers:
  up:
    type: openai-compatible
    base_url: {url}/v1
    api_key: ${{env:LR_TEST_CAPS_KEY}}
    discover: false
    models:
      gpt-4o-mini: {{capabilities: [chat, tools]}}
      gpt-4o: {{capabilities: [chat, tools, vision, json]}}
      text-embedding-3-small: {{capabilities: [embeddings]}}
  unknown: {{type: mock, models: {{plain: {{}}}}}}
strategies:
  mixed:
    models: [up/gpt-4o-mini, up/gpt-4o, up/text-embedding-3-small]
  text-only:
    models: [up/gpt-4o-mini]
  guess:
    models: [unknown/plain]
clients:
  app: {{key_prefix: "{{key_prefix:app}}", key_hash: "{{key_hash:app}}", strategy: mixed}}
  plain: {{key_prefix: "{{key_prefix:plain}}", key_hash: "{{key_hash:plain}}", strategy: text-only}}
  guess: {{key_prefix: "{{key_prefix:guess}}", key_hash: "{{key_hash:guess}}", strategy: guess}}
"""
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
VISION: dict[str, Any] = {
    "model": "auto",
    "messages": [{"role": "user", "content": [{"type": "text", "text": "what is it"}, IMAGE]}],
}
SCHEMA = {
    "type": "json_schema",
    "json_schema": {"name": "x", "schema": {"type": "object", "properties": {}}},
}


@pytest.fixture
def gw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Gateway, FakeState]]:
    monkeypatch.setenv("LR_TEST_CAPS_KEY", "test-key")
    state = FakeState()
    with (
        serve_app(create_app(state)) as url,
        running_gateway(CONFIG.format(url=url), tmp_path) as g,
    ):
        wait_for_requests(state)
        yield g, state


def _post(g: Gateway, client: str, path: str, body: dict[str, Any]) -> httpx.Response:
    auth = {"authorization": f"Bearer {g.keys[client]}"}
    return httpx.post(f"{g.v1}{path}", json=body, headers=auth, timeout=20)


def _record(g: Gateway, client: str, r: httpx.Response) -> dict[str, Any]:
    auth = {"authorization": f"Bearer {g.keys[client]}"}
    gen = r.headers["x-localrouter-generation-id"]
    doc: dict[str, Any] = httpx.get(f"{g.v1}/generation", params={"id": gen}, headers=auth).json()
    return doc


def _models_called(state: FakeState) -> list[str]:
    return [q.body["model"] for q in state.requests if q.method == "POST"]


def test_an_image_request_skips_the_model_without_vision(gw: tuple[Gateway, FakeState]) -> None:
    g, state = gw
    r = _post(g, "app", "/chat/completions", VISION)
    assert r.status_code == 200, r.text
    assert r.headers["x-localrouter-model"] == "gpt-4o"
    assert _models_called(state) == ["gpt-4o"]  # never sent to the model that lacks vision
    rec = _record(g, "app", r)
    assert {"model": "up/gpt-4o-mini", "reason": "lacks vision"} in rec["left_out"]
    assert [(a["model"], a["outcome"]) for a in rec["attempts"]] == [("gpt-4o", "ok")]


def test_tools_json_schema_and_embeddings_need_their_capability(
    gw: tuple[Gateway, FakeState],
) -> None:
    g, state = gw
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    text = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    r = _post(g, "app", "/chat/completions", {**text, "tools": [tool]})
    assert r.headers["x-localrouter-model"] == "gpt-4o-mini"  # has tools: first, as listed
    r = _post(g, "app", "/chat/completions", {**text, "response_format": SCHEMA})
    assert r.status_code == 200 and r.headers["x-localrouter-model"] == "gpt-4o"
    assert {"model": "up/gpt-4o-mini", "reason": "lacks json"} in _record(g, "app", r)["left_out"]
    r = _post(g, "app", "/embeddings", {"model": "auto", "input": "hi"})
    assert r.status_code == 200 and r.headers["x-localrouter-model"] == "text-embedding-3-small"
    left = _record(g, "app", r)["left_out"]
    assert {"model": "up/gpt-4o", "reason": "lacks embeddings"} in left
    assert _models_called(state) == ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"]


def test_when_every_candidate_lacks_it_the_answer_is_400(gw: tuple[Gateway, FakeState]) -> None:
    g, state = gw
    r = _post(g, "plain", "/chat/completions", VISION)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "model_lacks_capability"
    assert "up/gpt-4o-mini: lacks vision" in err["message"]
    named = _post(g, "app", "/chat/completions", {**VISION, "model": "up/gpt-4o-mini"})
    assert named.status_code == 400 and "lacks vision" in named.json()["error"]["message"]
    assert _models_called(state) == []


def test_a_model_whose_capabilities_are_unknown_is_not_left_out(
    gw: tuple[Gateway, FakeState],
) -> None:
    g, _ = gw
    r = _post(g, "guess", "/chat/completions", VISION)
    assert r.status_code == 200, r.text
    assert _record(g, "guess", r)["left_out"] == []


def test_route_and_explain_give_the_reason(tmp_path: Path) -> None:
    path, _keys = write_config(CONFIG.format(url="http://127.0.0.1:9"), tmp_path)
    result = build(path)
    assert result.table is not None, [str(d) for d in result.diagnostics]
    table = result.table
    d = route(table, table.clients["app"], facts_from_openai(VISION), NowFacts())
    assert [m.id for m in d.candidates] == ["up/gpt-4o"]
    assert ("up/gpt-4o-mini", "lacks vision") in d.left_out
    assert ("up/text-embedding-3-small", "lacks vision") in d.left_out
    request = tmp_path / "image.json"
    request.write_text(json.dumps(VISION), encoding="utf-8")
    out = run_cli("explain", "--config", str(path), "--client", "app", "--request", str(request))
    assert out.code == 0, out.err
    assert "up/gpt-4o-mini: lacks vision" in out.out
    as_json = run_cli(
        "explain", "--config", str(path), "--client", "app", "--request", str(request),
        "--format", "json",
    )  # fmt: skip
    doc = json.loads(as_json.out)
    assert {"model": "up/gpt-4o-mini", "reason": "lacks vision"} in doc["left_out"]


def test_the_access_log_keeps_the_needs_for_replay() -> None:
    facts = facts_from_openai({**VISION, "response_format": SCHEMA})
    assert facts.needs == {"vision", "json"}
    line = json.loads(json.dumps(facts_obj(facts, NowFacts())))
    assert line["request"]["needs"] == ["json", "vision"]
    again, _ = facts_from_log(line)
    assert again.needs == facts.needs
    with pytest.raises(ValueError, match="needs"):
        facts_from_log({"request": {"needs": "vision"}})


def test_config_tests_route_an_image_request_as_the_server_does(tmp_path: Path) -> None:
    tests = """
tests:
  - name: images go to the model with vision
    client: app
    request: {has_images: true}
    expect: {first: up/gpt-4o}
"""
    path, _keys = write_config(CONFIG.format(url="http://127.0.0.1:9") + tests, tmp_path)
    out = run_cli("check", str(path))
    assert out.code == 0, out.out + out.err
