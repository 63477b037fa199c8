"""Circuit breakers on the request path: after repeated failures a provider's circuit opens and
its candidates are left out ("circuit open") until it recovers."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.fakes.ollama_fake import FakeState, create_app
from tests.fakes.serve import serve_app
from tests.gateway import running_gateway

CONFIG = """
version: 2
health: {{interval_s: 3600, timeout_s: 1, failure_threshold: 2, recovery_s: 60}}
providers:
  ollama:
    type: ollama
    base_url: "{upstream}"
    discover: false
    models: {{"qwen2.5-coder:7b": {{}}}}
  mock: {{type: mock, models: {{backup: {{}}}}}}
strategies:
  s:
    models: ["ollama/qwen2.5-coder:7b", mock/backup]
    fallback: {{attempts: 1, backoff_ms: [0, 0]}}
clients:
  app: {{key_prefix: "{{key_prefix:app}}", key_hash: "{{key_hash:app}}", strategy: s}}
"""


def test_the_circuit_opens_and_the_candidate_is_left_out(tmp_path: Path) -> None:
    state = FakeState()
    with (
        serve_app(create_app(state)) as upstream,
        running_gateway(CONFIG.format(upstream=upstream), tmp_path) as gw,
    ):
        headers = {"authorization": f"Bearer {gw.keys['app']}"}
        body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(200):  # let the first health check (at start) pass before failing
            if any(q.path == "/api/tags" for q in state.requests):
                break
            time.sleep(0.01)
        state.fail(500, times=100)
        served_by = []
        for _ in range(4):
            r = httpx.post(f"{gw.v1}/chat/completions", headers=headers, json=body)
            assert r.status_code == 200
            served_by.append(r.headers["x-localrouter-provider"])
        assert served_by == ["mock"] * 4
        calls = len([q for q in state.requests if q.path == "/api/chat"])
        assert calls == 2  # two failures opened the circuit: no more calls to ollama
        record = httpx.get(
            f"{gw.v1}/generation",
            headers=headers,
            params={"id": r.headers["x-localrouter-generation-id"]},
        ).json()
        assert {"model": "ollama/qwen2.5-coder:7b", "reason": "circuit open"} in record["left_out"]
