"""Discovery through the running gateway: models an Ollama lists appear in the table (and in
/v1/models) without a restart; the catalog is cached for the next start."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from tests.fakes.ollama_fake import FakeState, create_app
from tests.fakes.serve import serve_app
from tests.gateway import running_gateway

CONFIG = """
version: 2
providers:
  ollama: {{type: ollama, base_url: "{upstream}"}}
strategies:
  local: {{models: ["ollama/*"], params_b: {{max: 8}}}}
clients:
  app: {{key_prefix: "{{key_prefix:app}}", key_hash: "{{key_hash:app}}", strategy: local}}
"""


def test_discovered_models_are_routed_to_and_cached(tmp_path: Path) -> None:
    state = FakeState()
    with (
        serve_app(create_app(state)) as upstream,
        running_gateway(CONFIG.format(upstream=upstream), tmp_path) as gw,
    ):
        headers = {"authorization": f"Bearer {gw.keys['app']}"}
        ids: list[str] = []
        for _ in range(100):  # the first refresh runs in the background right after start
            ids = [m["id"] for m in httpx.get(f"{gw.v1}/models", headers=headers).json()["data"]]
            if "ollama/qwen2.5-coder:7b" in ids:
                break
            time.sleep(0.05)
        assert "ollama/qwen2.5-coder:7b" in ids  # 7.6B from /api/tags' parameter_size
        assert "ollama/llava:7b" in ids
        health = httpx.get(f"{gw.url}/health").json()
        assert health["providers"]["ollama"]["discovered_models"] == len(state.models)
        answer = httpx.post(
            f"{gw.v1}/chat/completions",
            headers=headers,
            json={
                "model": "ollama/qwen2.5-coder:7b",
                "messages": [{"role": "user", "content": "hi"}],
            },
        )
        assert answer.status_code == 200
    cache = json.loads((tmp_path / "catalog.json").read_text(encoding="utf-8"))
    assert "ollama" in json.dumps(cache)
    assert (tmp_path / "catalog.json").stat().st_mode & 0o777 == 0o600
