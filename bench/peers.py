"""Peer gateways for the gateway benchmark: LiteLLM's proxy, in a virtualenv of its own.

``make bench-peers`` installs it into ``.bench-peers/litellm`` (``pip install 'litellm[proxy]'``;
never into the project's venv: it pins other versions of our dependencies). When that venv
exists, ``bench/gateway_bench.py`` adds the target ``litellm``: one worker, the master key on, no
database, telemetry off and the local model-cost map (no network), with two models pointing at
the same fake upstreams as LocalRouter (``auto`` → the instant one, ``auto-slow`` → the
model-like one). Its own defaults are otherwise kept (e.g. uvicorn's access log), as a user
running ``litellm --config`` gets them.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("LOCALROUTER_BENCH_LITELLM_VENV", ROOT / ".bench-peers" / "litellm"))
MASTER_KEY = "sk-bench-master-key"
READY_PATH = "/health/liveliness"  # LiteLLM's /health calls the providers and needs a key

CONFIG = """\
model_list:
  - model_name: auto
    litellm_params: {{model: openai/bench-model, api_base: "{fast}", api_key: sk-fake}}
  - model_name: auto-slow
    litellm_params: {{model: openai/bench-model, api_base: "{slow}", api_key: sk-fake}}
litellm_settings:
  telemetry: false
general_settings:
  master_key: {key}
"""


def litellm_bin() -> Path | None:
    """The ``litellm`` command of the peers' venv, or None when it is not installed."""
    path = VENV / "bin" / "litellm"
    return path if path.exists() else None


def litellm_argv(workdir: Path, fast_port: int, slow_port: int, port: int) -> list[str]:
    """Write LiteLLM's config for the two fake upstreams; the command line that serves it."""
    config = workdir / "litellm.yaml"
    config.write_text(
        CONFIG.format(
            fast=f"http://127.0.0.1:{fast_port}/v1",
            slow=f"http://127.0.0.1:{slow_port}/v1",
            key=MASTER_KEY,
        ),
        encoding="utf-8",
    )
    exe = litellm_bin()
    assert exe is not None, "make bench-peers installs LiteLLM"
    return [str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
            "--num_workers", "1"]  # fmt: skip


ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False"}
