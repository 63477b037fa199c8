"""A scripted mix of requests through the running gateway, then every report of it compared: the
access log, ``/v1/generation``, ``/v1/usage`` (memory and log), ``/metrics`` and ``localrouter
stats`` agree with each other and with the usage the fake providers reported, exactly."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from localrouter.cli import main
from localrouter.logs.reader import iter_lines, log_files
from tests.fakes.openai_fake import FakeState, create_app
from tests.fakes.serve import serve_app
from tests.gateway import Gateway, behind_two_fakes, running_gateway

KEY = "test-key"
CONFIG = """
version: 2
health: {{interval_s: 3600, failure_threshold: 1000}}
providers:
  primary:
    type: openai-compatible
    base_url: {primary}/v1
    api_key: ${{env:LR_TEST_OBS_KEY}}
    discover: false
    models:
      gpt-4o-mini: {{input_per_mtok: 0.15, output_per_mtok: 0.6}}
      text-embedding-3-small: {{input_per_mtok: 0.02}}
  backup:
    type: openai-compatible
    base_url: {backup}/v1
    api_key: ${{env:LR_TEST_OBS_KEY}}
    discover: false
    models: {{gpt-4o-mini: {{input_per_mtok: 0.3, output_per_mtok: 1.2}}}}
strategies:
  main:
    models: [primary/gpt-4o-mini, backup/gpt-4o-mini]
    fallback: {{attempts: 1, backoff_ms: [0, 0]}}
  embed: {{models: [primary/text-embedding-3-small]}}
clients:
  app: {{key_prefix: "{{key_prefix:app}}", key_hash: "{{key_hash:app}}", strategy: main}}
  tight:
    key_prefix: "{{key_prefix:tight}}"
    key_hash: "{{key_hash:tight}}"
    strategy: main
    limits: [{{requests: 2, per: 1m}}]
  vec: {{key_prefix: "{{key_prefix:vec}}", key_hash: "{{key_hash:vec}}", strategy: embed}}
  ops:
    key_prefix: "{{key_prefix:ops}}"
    key_hash: "{{key_hash:ops}}"
    strategy: main
    admin: true
"""


@dataclass
class World:
    gw: Gateway
    primary: FakeState
    backup: FakeState
    answered: list[httpx.Response] = field(default_factory=list)

    def auth(self, client: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.gw.keys[client]}"}

    def post(self, client: str | None, path: str, body: dict[str, Any]) -> httpx.Response:
        headers = self.auth(client) if client else {"authorization": "Bearer lr-nope"}
        with httpx.stream(
            "POST", f"{self.gw.v1}{path}", json=body, headers=headers, timeout=20
        ) as r:
            r.read()
        self.answered.append(r)
        return r

    def get(self, client: str, path: str, **params: str) -> Any:
        r = httpx.get(f"{self.gw.v1}{path}", params=params, headers=self.auth(client))
        assert r.status_code == 200, r.text
        return r.json()


def chat(stream: bool = False, text: str = "say hi", usage: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "auto", "messages": [{"role": "user", "content": text}]}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": usage}}
    return body


def script(w: World) -> None:
    """The mix: plain and streamed answers, a fallback, total failure, a broken stream, 429s, a
    401, embeddings. Every request is kept in ``w.answered``."""
    for i in range(3):
        assert w.post("app", "/chat/completions", chat(text=f"question {i} " * (i + 1))).is_success
    assert w.post("app", "/chat/completions", chat(stream=True)).is_success
    assert w.post("app", "/chat/completions", chat(stream=True, usage=False)).is_success
    w.primary.fail(500)
    r = w.post("app", "/chat/completions", chat(text="fall back please"))
    assert r.headers["x-localrouter-provider"] == "backup"
    w.primary.fail(503)
    w.backup.fail(502)
    assert w.post("app", "/chat/completions", chat()).status_code == 502
    w.primary.break_stream_after(2)
    assert w.post("app", "/chat/completions", chat(stream=True)).status_code == 200
    codes = [w.post("tight", "/chat/completions", chat()).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert w.post(None, "/chat/completions", chat()).status_code == 401
    r = w.post("vec", "/embeddings", {"model": "auto", "input": ["a b c", "d e"]})
    assert r.status_code == 200, r.text
    assert w.post("ops", "/chat/completions", chat(stream=True)).is_success


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    where = tmp_path_factory.mktemp("gw")
    with behind_two_fakes(CONFIG, where, "LR_TEST_OBS_KEY") as (gw, primary, backup):
        w = World(gw, primary, backup)
        script(w)
        # the 7-day range is read from the log: asking for it writes what is queued first
        w.get("ops", "/usage", range="7d")
        yield w


def lines(w: World) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in log_files(w.gw.config.parent / "logs"):
        for line in iter_lines(path):
            assert line is not None
            out.append(line)
    return out


def test_one_line_per_request_with_its_answer(world: World) -> None:
    logged = lines(world)
    assert len(logged) == len(world.answered) == 14
    by_id = {line["request_id"]: line for line in logged}
    for r in world.answered:
        line = by_id[r.headers["x-request-id"]]
        broken = r.headers["content-type"].startswith("text/event-stream") and (
            b"data: [DONE]" not in r.content
        )  # a stream that failed after its first chunk: 200 on the wire, 502 in the log
        assert line["status_code"] == (502 if broken else r.status_code)
        assert line["generation_id"] == r.headers.get("x-localrouter-generation-id")
        assert line["provider"] == r.headers.get("x-localrouter-provider")
    assert Counter(line["status_code"] for line in logged) == {200: 10, 502: 2, 429: 1, 401: 1}
    fallback = next(x for x in logged if x["provider"] == "backup" and x["status"] == "ok")
    assert [a["outcome"] for a in fallback["attempts"]] == ["error", "ok"]
    assert fallback["attempts"][0]["status"] == 500
    broken = [x for x in logged if x["stream"] and x["status"] == "error"]
    assert len(broken) == 1 and broken[0]["error_code"] == "stream_error"
    assert broken[0]["tokens_estimated"] is True
    denied = next(x for x in logged if x["status_code"] == 401)
    assert denied["client"] is None and denied["facts"] is None
    assert next(x for x in logged if x["status_code"] == 429)["error_type"] == "rate_limit_error"
    for line in logged:  # never a key, a prompt or a completion
        text = json.dumps(line)
        assert KEY not in text and "lr-" not in text and "question" not in text
        if line["client"]:
            assert line["facts"]["request"]["messages_count"] >= 1 or line["endpoint"] != "chat"


def test_log_tokens_are_what_the_providers_reported(world: World) -> None:
    logged = lines(world)
    reported = world.primary.reported + world.backup.reported
    exact = [x for x in logged if x["provider"] and not x["tokens_estimated"]]
    assert len(exact) == len(reported) == 10
    assert sum(x["input_tokens"] for x in exact) == sum(u["prompt_tokens"] for u in reported)
    assert sum(x["output_tokens"] for x in exact) == sum(
        u.get("completion_tokens", 0) for u in reported
    )
    for x in exact:  # cost from the catalog's prices of the model that served
        prices = {"primary": (0.15, 0.6), "backup": (0.3, 1.2)}[x["provider"]]
        if x["model"] == "text-embedding-3-small":
            prices = (0.02, 0.0)
        want = (x["input_tokens"] * prices[0] + x["output_tokens"] * prices[1]) / 1e6
        assert math.isclose(x["cost_usd"], want, rel_tol=1e-9, abs_tol=1e-12)


def test_generations_match_the_log(world: World) -> None:
    for line in lines(world):
        if line["generation_id"] is None:
            continue
        g = world.get(line["client"], "/generation", id=line["generation_id"])
        assert g["tokens"]["prompt"] == line["input_tokens"]
        assert g["tokens"]["completion"] == line["output_tokens"]
        assert (g["cost_usd"] or {}).get("total") == line["cost_usd"]
        assert g["status_code"] == line["status_code"]
        assert g["latency_ms"] == line["latency_ms"]
        assert g["attempts"] == line["attempts"]


def totals(logged: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "requests": len(logged),
        "errors": sum(1 for x in logged if x["status"] != "ok"),
        "input_tokens": sum(x["input_tokens"] for x in logged),
        "output_tokens": sum(x["output_tokens"] for x in logged),
        "cost_usd": round(sum(x["cost_usd"] or 0 for x in logged), 10),
    }


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def test_usage_in_memory_and_from_the_log_agree_with_the_log(world: World) -> None:
    logged = lines(world)
    want = totals(logged)
    hour = world.get("ops", "/usage", range="1h")
    week = world.get("ops", "/usage", range="7d")
    for doc in (hour, week):
        got = {k: doc["totals"][k] for k in want}
        got["cost_usd"] = round(got["cost_usd"], 10)
        assert got == want
    assert hour["totals"] == week["totals"]  # percentiles included: the same arithmetic
    latencies = [x["latency_ms"] for x in logged]
    for q, key in ((0.5, "p50_ms"), (0.95, "p95_ms"), (0.99, "p99_ms")):
        assert math.isclose(hour["totals"][key], nearest_rank(latencies, q), rel_tol=0.021)
    assert len(hour["series"][0]["points"]) == 60 and hour["step_s"] == 60
    assert sum(p["requests"] for p in hour["series"][0]["points"]) == len(logged)


def test_usage_by_dimension_and_who_may_see_what(world: World) -> None:
    logged = lines(world)
    for by in ("client", "provider", "model"):
        doc = world.get("ops", "/usage", range="24h", by=by)
        per = {s["name"]: s["totals"]["requests"] for s in doc["series"]}
        key = {"client": lambda x: x["client"] or "-", "provider": lambda x: x["provider"] or "-"}
        name = key.get(by, lambda x: f"{x['provider']}/{x['model']}" if x["provider"] else "-")
        assert per == dict(Counter(name(x) for x in logged))
    own = world.get("app", "/usage", range="1h", by="client")
    assert [s["name"] for s in own["series"]] == ["app"] and own["scope"] == "own"
    mine = [x for x in logged if x["client"] == "app"]
    assert own["totals"]["requests"] == len(mine)
    own_models = world.get("app", "/usage", range="1h", by="provider")
    assert {s["name"]: s["totals"]["requests"] for s in own_models["series"]} == dict(
        Counter(x["provider"] or "-" for x in mine)
    )
    bad = httpx.get(f"{world.gw.v1}/usage", params={"range": "2h"}, headers=world.auth("app"))
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "range"
    assert httpx.get(f"{world.gw.v1}/usage").status_code == 401


def test_stats_agrees_with_usage(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    logs = str(world.gw.config.parent / "logs")
    for by in ("client", "provider", "model"):
        assert main(["stats", "--logs", logs, "--by", by, "--since", "1h", "--format", "json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        usage = world.get("ops", "/usage", range="1h", by=by)
        assert doc["groups"] == {s["name"]: s["totals"] for s in usage["series"]}
        assert doc["total"] == usage["totals"]
    assert main(["stats", "--logs", logs, "--by", "client", "--since", "1h"]) == 0
    table = capsys.readouterr().out
    assert "app" in table and "total" in table and "p95 ms" in table


def test_prometheus_agrees_with_the_log(world: World) -> None:
    r = httpx.get(world.gw.url + "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    logged = lines(world)
    samples = families["localrouter_requests"].samples
    assert sum(s.value for s in samples if s.name.endswith("_total")) == len(logged)
    per_code = Counter[str]()
    for s in samples:
        if s.name.endswith("_total"):
            per_code[s.labels["code"]] += int(s.value)
    assert per_code == Counter(str(x["status_code"]) for x in logged)
    tokens = families["localrouter_tokens"].samples
    for direction in ("input", "output"):
        got = sum(s.value for s in tokens if s.labels.get("direction") == direction)
        assert got == sum(x[f"{direction}_tokens"] for x in logged)
    cost = sum(s.value for s in families["localrouter_cost_usd"].samples)
    assert math.isclose(cost, sum(x["cost_usd"] or 0 for x in logged), rel_tol=1e-9)
    count = [
        s for s in families["localrouter_request_duration_seconds"].samples
        if s.name.endswith("_count")
    ]  # fmt: skip
    assert sum(s.value for s in count) == len(logged)
    assert KEY not in r.text


def test_metrics_can_require_an_admin_key(tmp_path: Path) -> None:
    """``server.metrics: admin``: every caller needs an admin client's key (loopback too)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LR_TEST_OBS_KEY", KEY)
        text = CONFIG.format(primary="http://127.0.0.1:9", backup="http://127.0.0.1:9")
        text = text.replace("version: 2", "version: 2\nserver: {metrics: admin}", 1)
        with running_gateway(text, tmp_path) as gw:
            url = gw.url + "/metrics"
            assert httpx.get(url).status_code == 401
            app = {"authorization": f"Bearer {gw.keys['app']}"}
            assert httpx.get(url, headers=app).status_code == 403
            ops = {"authorization": f"Bearer {gw.keys['ops']}"}
            r = httpx.get(url, headers=ops)
            assert r.status_code == 200 and "localrouter_config_info" in r.text


def test_a_restart_reads_the_last_day_back(tmp_path: Path) -> None:
    """The in-memory metrics are refilled from the access log when the gateway starts again."""
    state = FakeState()
    with serve_app(create_app(state)) as url, pytest.MonkeyPatch.context() as mp:
        mp.setenv("LR_TEST_OBS_KEY", KEY)
        text = CONFIG.format(primary=url, backup=url)
        with running_gateway(text, tmp_path) as gw:
            w = World(gw, state, state)
            for _ in range(4):
                assert w.post("app", "/chat/completions", chat()).is_success
            before = w.get("ops", "/usage", range="1h")["totals"]
        with running_gateway(text, tmp_path) as gw:
            w2 = World(gw, state, state)
            deadline = time.monotonic() + 10  # read back in the background after start
            while (after := w2.get("ops", "/usage", range="1h")["totals"])["requests"] < 4:
                assert time.monotonic() < deadline, after
                time.sleep(0.05)
    assert before["requests"] == 4 and after == before


def test_concurrent_requests_are_each_logged_once(tmp_path: Path) -> None:
    state = FakeState()
    with serve_app(create_app(state)) as url, pytest.MonkeyPatch.context() as mp:
        mp.setenv("LR_TEST_OBS_KEY", KEY)
        with running_gateway(CONFIG.format(primary=url, backup=url), tmp_path) as gw:
            w = World(gw, state, state)
            threads = [
                threading.Thread(
                    target=lambda: [w.post("app", "/chat/completions", chat()) for _ in range(10)]
                )
                for _ in range(6)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            w.get("ops", "/usage", range="7d")  # flushes
            logged = lines(w)
    ids = [x["request_id"] for x in logged]
    assert len(ids) == len(set(ids)) == 60
