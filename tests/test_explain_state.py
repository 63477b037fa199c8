"""``localrouter explain`` with the runtime state a server saved: circuits open, providers
unhealthy or capped, a client limit that would answer 429, and observed latency for the latency
ORDER keys — read-only, never creating or changing the state file."""

from __future__ import annotations

import asyncio
import json
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx

from localrouter.compiler.build import build
from localrouter.compiler.table import RoutingTable
from localrouter.runtime.latency import LatencySketch
from localrouter.runtime.limits import Limiter, usage
from localrouter.runtime.persist import (
    SavedBreaker,
    SavedEndpoint,
    SavedLatency,
    SavedSketch,
    SavedState,
    endpoint_id,
    write_state,
)
from localrouter.runtime.store import MemoryStore
from tests.conftest import CliResult, run_cli
from tests.fakes.ollama_fake import FakeState, create_app
from tests.fakes.serve import serve_app
from tests.gateway import running_gateway

CONFIG = """
version: 2
providers:
  down: {type: ollama, base_url: "http://127.0.0.1:9", discover: false, models: {m: {}}}
  sick: {type: ollama, base_url: "http://127.0.0.1:10", discover: false, models: {m: {}}}
  capped: {type: mock, models: {m: {}}, limits: [{requests: 1, per: 1m}]}
  slow: {type: mock, models: {m: {}}}
  fast: {type: mock, models: {m: {}}}
strategies:
  quick:
    models: [down/m, sick/m, capped/m, slow/m, fast/m]
    order: [lowest_latency]
clients:
  c:
    key_prefix: lr-AAAAAAAA
    key_hash: $2b$04$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
    strategy: quick
  spent:
    key_prefix: lr-BBBBBBBB
    key_hash: $2b$04$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
    strategy: quick
    limits: [{requests: 1, per: 1m}]
"""


def compiled(tmp_path: Path) -> tuple[Path, RoutingTable]:
    path = tmp_path / "routers.yaml"
    path.write_text(textwrap.dedent(CONFIG).lstrip("\n"), encoding="utf-8")
    result = build(path)
    assert result.table is not None, result.diagnostics
    return path, result.table


def sketch_of(*values_ms: float) -> SavedSketch:
    s = LatencySketch()
    for v in values_ms:
        s.add(v, 0.0)
    return s.saved(0.0, time.time())


def save_state(table: RoutingTable, path: Path) -> None:
    """What a server would have saved: down's circuit open, sick unhealthy, capped's provider cap
    and the client spent's limit used up, and the live latency of slow and fast."""
    now = time.time()
    store = MemoryStore()
    limiter = Limiter(store, time.time)
    asyncio.run(limiter.check(table.providers["capped"].limits, usage()))
    asyncio.run(limiter.check(table.clients["spent"].limits, usage()))
    latest, counters = store.export()
    url = table.providers
    state = SavedState(
        latest,
        counters,
        (SavedBreaker("down", endpoint_id(url["down"].base_url), "open", 0, now - 5, 1),),
        (
            SavedEndpoint(
                "sick",
                endpoint_id(url["sick"].base_url),
                False,
                3,
                3,
                now - 2,
                "sick: connection refused",
                None,
                SavedSketch(None, ()),
            ),
        ),
        (
            SavedLatency("slow/m", "slow", endpoint_id(None), sketch_of(900, 900, 900)),
            SavedLatency("fast/m", "fast", endpoint_id(None), sketch_of(80, 80, 80)),
        ),
        now - 3,
    )
    write_state(path, state)


def explain(config: Path, *argv: str) -> tuple[CliResult, dict[str, Any]]:
    result = run_cli("explain", "--config", str(config), "--format", "json", *argv)
    return result, json.loads(result.out)


def listing(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in directory.iterdir()}


def test_without_a_state_file_explain_says_so_and_creates_nothing(tmp_path: Path) -> None:
    config, _table = compiled(tmp_path)
    before = listing(tmp_path)
    text = run_cli("explain", "--config", str(config), "--client", "c", "--prompt", "hi")
    assert text.code == 0, text.err
    assert f"state:      none (no runtime state at {tmp_path / 'limits.sqlite3'})" in text.out
    _result, doc = explain(config, "--client", "c")
    assert doc["state"]["loaded"] is False and doc["latency_ms"] == {}
    assert doc["candidates"] == ["down/m", "sick/m", "capped/m", "slow/m", "fast/m"]
    assert doc["left_out"] == []
    assert listing(tmp_path) == before


def test_explain_judges_candidates_with_the_saved_state(tmp_path: Path) -> None:
    config, table = compiled(tmp_path)
    state = tmp_path / "limits.sqlite3"
    save_state(table, state)
    before = listing(tmp_path)

    result, doc = explain(config, "--client", "c")
    assert result.code == 0, result.err
    assert doc["status"] == 200
    assert doc["candidates"] == ["fast/m", "slow/m"]  # lowest_latency, by the saved p50s
    assert doc["left_out"] == [
        {"model": "down/m", "reason": "circuit open"},
        {"model": "sick/m", "reason": "unhealthy"},
        {
            "model": "capped/m",
            "reason": "rate-limited (provider 'capped' limit of 1 requests per 1m)",
        },
    ]
    assert set(doc["latency_ms"]) == {"fast/m", "slow/m"}
    assert abs(doc["latency_ms"]["fast/m"] - 80) < 2
    assert doc["state"]["loaded"] and doc["state"]["file"] == str(state)

    text = run_cli("explain", "--config", str(config), "--client", "c", "--prompt", "hi")
    assert f"state:      {state} (saved " in text.out
    fast_line = next(line for line in text.out.splitlines() if "1. fast/m" in line)
    assert "p50 80" in fast_line or "p50 79" in fast_line or "p50 81" in fast_line

    # a client limit that is used up: the server would answer 429
    limited = run_cli("explain", "--config", str(config), "--client", "spent", "--prompt", "hi")
    assert limited.code == 1
    assert "result:     429 client 'spent' limit of 1 requests per 1m reached; retry in" in (
        limited.out
    )
    _r, doc = explain(config, "--client", "spent")
    assert doc["status"] == 429 and 0 < doc["retry_after_s"] <= 61
    assert doc["candidates"] == ["fast/m", "slow/m"]

    # --no-state: judged as if nothing were known
    _r, doc = explain(config, "--client", "c", "--no-state")
    assert doc["candidates"] == ["down/m", "sick/m", "capped/m", "slow/m", "fast/m"]
    assert doc["state"]["note"] == "ignored (--no-state)"

    assert listing(tmp_path) == before  # read-only: no byte, no time, no -wal/-shm file


def test_a_corrupt_state_file_is_named_in_a_warning_and_ignored(tmp_path: Path) -> None:
    config, _table = compiled(tmp_path)
    state = tmp_path / "limits.sqlite3"
    state.write_bytes(b"not a database at all\n" * 64)
    before = listing(tmp_path)
    result, doc = explain(config, "--client", "c")
    assert result.code == 0
    assert f"warning: runtime state file {state} cannot be used" in result.err
    assert "judging without runtime state" in result.err
    assert doc["candidates"] == ["down/m", "sick/m", "capped/m", "slow/m", "fast/m"]
    assert doc["state"]["loaded"] is False
    assert listing(tmp_path) == before


GATEWAY = """
version: 2
health: {{interval_s: 3600, timeout_s: 2, failure_threshold: 2, recovery_s: 3600}}
providers:
  ollama:
    type: ollama
    base_url: "{upstream}"
    discover: false
    models: {{"qwen2.5-coder:7b": {{}}}}
  main: {{type: mock, models: {{fast: {{}}}}, limits: [{{requests: 1, per: 1m}}]}}
  spare: {{type: mock, models: {{slow: {{}}}}}}
strategies:
  s:
    models: ["ollama/qwen2.5-coder:7b", main/fast, spare/slow]
    fallback: {{attempts: 1, backoff_ms: [0, 0]}}
clients:
  app: {{key_prefix: "{{key_prefix:app}}", key_hash: "{{key_hash:app}}", strategy: s}}
"""


def test_explain_reads_what_the_server_saved_in_the_servers_words(tmp_path: Path) -> None:
    state = FakeState()
    with serve_app(create_app(state)) as upstream:
        with running_gateway(GATEWAY.format(upstream=upstream), tmp_path) as gw:
            headers = {"authorization": f"Bearer {gw.keys['app']}"}
            body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
            deadline = time.monotonic() + 10
            while not any(q.path == "/api/tags" for q in state.requests):  # the check at start
                assert time.monotonic() < deadline
                time.sleep(0.02)
            state.fail(500, times=100)
            served = []
            for _ in range(4):
                r = httpx.post(f"{gw.v1}/chat/completions", headers=headers, json=body)
                served.append(r.headers["x-localrouter-provider"])
            assert served == ["main", "spare", "spare", "spare"]  # ollama failed twice: open
            record = httpx.get(
                f"{gw.v1}/generation",
                headers=headers,
                params={"id": r.headers["x-localrouter-generation-id"]},
            ).json()
        server_said = {item["model"]: item["reason"] for item in record["left_out"]}
        assert server_said["main/fast"].startswith("rate-limited (")

        result, doc = explain(gw.config, "--client", "app")
        assert result.code == 0, result.err
        explained = {item["model"]: item["reason"] for item in doc["left_out"]}
        assert (
            explained
            == server_said
            == {
                "ollama/qwen2.5-coder:7b": "circuit open",
                "main/fast": "rate-limited (provider 'main' limit of 1 requests per 1m)",
            }
        )
        assert doc["candidates"] == ["spare/slow"]
