"""Runtime state beyond one process and one table: circuit breakers, health and latency saved in
``state_dir/limits.sqlite3`` (wall-clock times) and restored at start; ``/health`` showing them;
health checks that probe only what can answer; and every table swap reconciling that state."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from localrouter.compiler.build import build
from localrouter.compiler.table import ModelInfo, Provider, RoutingTable
from localrouter.errors import LimitStateError, UpstreamConnectError
from localrouter.runtime.breakers import Breakers, State, breaker_key
from localrouter.runtime.catalog import CACHE_NAME, identity
from localrouter.runtime.health import HealthMonitor
from localrouter.runtime.persist import (
    SavedState,
    endpoint_id,
    read_state,
    write_state,
)
from localrouter.runtime.store import MemoryStore
from localrouter.server.app import create_app as create_gateway
from localrouter.server.state import Runtime
from tests.fakes.ollama_fake import FakeState, create_app
from tests.fakes.serve import free_port, serve_app
from tests.gateway import Gateway, running_gateway, write_config
from tests.test_serve_process import wait_healthy

WALL0 = 1_800_000_000.0


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


def provider(name: str, base_url: str | None = None, type_: str = "ollama") -> Provider:
    return Provider(name, type_, type_, base_url, None, "local", 5.0, 60.0, {}, (), False)


class Probe:
    """A provider that answers, or refuses connections when its name is in ``failing``."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.failing: set[str] = set()

    async def __call__(self, p: Provider) -> str | None:
        self.clock.advance(0.05)
        if p.name in self.failing:
            raise UpstreamConnectError(f"{p.name}: connection refused", provider=p.name)
        return None


def monitor(mono: Clock, wall: Clock, probe: Probe | None = None) -> HealthMonitor:
    return HealthMonitor(
        mono,
        30,
        5,
        2,
        60,
        Breakers(mono, wall=wall),
        probe=probe or Probe(mono),
        should_check=lambda p: p.type != "mock",
        wall=wall,
    )


def save(path: Path, mon: HealthMonitor) -> None:
    endpoints, latencies = mon.saved()
    state = SavedState(0, (), mon.breakers.saved(), endpoints, latencies, mon.wall())
    write_state(path, state)


def restored(path: Path, mono: Clock, wall: Clock, providers: dict[str, Provider]) -> HealthMonitor:
    saved = read_state(path)
    assert saved is not None
    mon = monitor(mono, wall)
    mon.reconcile(providers)
    mon.breakers.restore(saved.breakers or (), [breaker_key(p) for p in providers.values()])
    mon.restore(saved.endpoints or (), saved.latencies or ())
    return mon


# ============================================================================ breakers


def test_an_open_circuit_restored_keeps_its_wall_clock_recovery(tmp_path: Path) -> None:
    path = tmp_path / "limits.sqlite3"
    a, b = provider("a", "http://a"), provider("b", "http://b")
    mono, wall = Clock(5_000.0), Clock(WALL0)
    mon = monitor(mono, wall)
    mon.reconcile({"a": a, "b": b})
    for _ in range(2):
        mon.breakers.record_failure(breaker_key(a))
    mon.breakers.record_failure(breaker_key(b))  # one failure: closed, but counted
    mono.advance(10)
    wall.advance(10)
    save(path, mon)

    # 30 s later by the wall clock, in a process whose monotonic clock starts elsewhere
    again = restored(path, Clock(7.0), Clock(WALL0 + 30), {"a": a, "b": b})
    [info_a, info_b] = again.breakers.info()
    assert (info_a.provider, info_a.state, info_a.trips) == ("a", State.OPEN, 1)
    assert info_a.retry_in_s == pytest.approx(30)
    assert info_a.since == pytest.approx(WALL0)
    assert (info_b.state, info_b.failures) == (State.CLOSED, 1)
    assert again.skip(ModelInfo("a", "m", "local")) == "circuit open"

    # recovery_s (60) passed while the gateway was down: half-open, and one call is the probe
    late = restored(path, Clock(7.0), Clock(WALL0 + 61), {"a": a, "b": b})
    assert late.breakers.state(breaker_key(a)) is State.HALF_OPEN
    assert late.breakers.info()[0].since == pytest.approx(WALL0 + 60)
    assert late.breakers.allow(breaker_key(a)).probe
    assert not late.breakers.allow(breaker_key(a))

    # a wall clock stepped back never makes it wait longer than recovery_s
    back = restored(path, Clock(7.0), Clock(WALL0 - 500), {"a": a, "b": b})
    assert back.breakers.info()[0].retry_in_s == pytest.approx(60)

    # an endpoint whose base URL changed is a new one: nothing restored for it
    moved = restored(path, Clock(7.0), Clock(WALL0 + 30), {"a": provider("a", "http://a2")})
    assert moved.breakers.info() == []


# ============================================================================ health and latency


async def test_health_and_latency_survive_a_restart_and_age_by_the_wall_clock(
    tmp_path: Path,
) -> None:
    path = tmp_path / "limits.sqlite3"
    sick, fast = provider("sick", "http://sick"), provider("fast", "http://fast")
    mocked = provider("mocked", None, "mock")
    providers = {"sick": sick, "fast": fast, "mocked": mocked}
    mono, wall = Clock(100.0), Clock(WALL0)
    probe = Probe(mono)
    probe.failing.add("sick")
    mon = monitor(mono, wall, probe)
    mon.reconcile(providers)
    for _ in range(2):
        await mon.check("sick")
    await mon.check("fast")
    for ms in (100, 100, 100):
        mon.observe(fast, "fast/m", ms, ok=True)
    save(path, mon)
    before = mon.status()

    after = restored(path, Clock(3.0), Clock(WALL0), providers)
    st = after.status()
    assert not st["sick"].healthy and st["sick"].failures == 2 and st["sick"].checks == 2
    assert st["sick"].last_error == "sick: connection refused"
    assert st["sick"].last_checked == pytest.approx(before["sick"].last_checked)
    assert st["fast"].check_p50_ms == pytest.approx(50, rel=0.02)
    assert after.latency_ms["fast/m"] == pytest.approx(100, rel=0.02)
    assert st["fast"].live_p50_ms == pytest.approx(100, rel=0.02)
    assert after.breakers.state(breaker_key(sick)) is State.OPEN  # checks feed the breaker
    assert st["mocked"].checked is False and st["mocked"].healthy

    # old observations keep ageing while the gateway is down: two half-lives (600 s) later,
    # three old 100 ms calls weigh 0.75 against two new 1000 ms ones
    clocks = Clock(3.0), Clock(3.0)
    aged = restored(path, clocks[0], Clock(WALL0 + 600), providers)
    fresh = restored(path, clocks[1], Clock(WALL0), providers)
    for m, clock in zip((aged, fresh), clocks, strict=True):
        clock.advance(1.0)  # the p50 is refreshed at most once a second
        for _ in range(2):
            m.observe(fast, "fast/m", 1000, ok=True)
    assert aged.latency_ms["fast/m"] == pytest.approx(1000, rel=0.02)
    assert fresh.latency_ms["fast/m"] == pytest.approx(100, rel=0.02)

    # another base URL: a new endpoint, nothing restored; an unchecked provider stays healthy
    sick_now_mock = provider("sick", "http://sick", "mock")
    other = restored(
        path,
        Clock(3.0),
        Clock(WALL0),
        {"fast": provider("fast", "http://new"), "sick": sick_now_mock},
    )
    assert "fast/m" not in other.latency_ms and other.status()["fast"].checks == 0
    assert other.status()["sick"].healthy and other.status()["sick"].checks == 2


# ============================================================================ the file


def full_state(tmp_path: Path) -> Path:
    path = tmp_path / "limits.sqlite3"
    mono, wall = Clock(10.0), Clock(WALL0)
    mon = monitor(mono, wall)
    a = provider("a", "https://user:pa55word@example.test/v1?token=t0ken")
    mon.reconcile({"a": a})
    for _ in range(2):
        mon.breakers.record_failure(breaker_key(a))
    mon.observe(a, "a/m", 250, ok=True)  # a late success: latency kept, the circuit stays open
    save(path, mon)
    return path


def test_the_file_never_holds_a_base_url_and_counters_leave_the_rest(tmp_path: Path) -> None:
    path = full_state(tmp_path)
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"pa55word" not in raw and b"t0ken" not in raw and b"example.test" not in raw
    assert os.stat(path).st_mode & 0o777 == 0o600
    first = read_state(path)
    assert first is not None and first.saved_at == WALL0
    store = MemoryStore(path)  # the limit store's own snapshot writes only its counters
    store.snapshot()
    saved = read_state(path)
    assert saved is not None and saved.breakers is not None
    [b] = saved.breakers
    assert (b.provider, b.state, b.endpoint) == (
        "a",
        "open",
        endpoint_id("https://user:pa55word@example.test/v1?token=t0ken"),
    )
    assert saved.saved_at == pytest.approx(time.time(), abs=60)  # the last write


def test_a_file_from_before_the_runtime_tables_loads_with_none(tmp_path: Path) -> None:
    path = tmp_path / "limits.sqlite3"
    con = sqlite3.connect(path)
    with con:
        con.execute("CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
        con.execute(
            "CREATE TABLE counters (scope TEXT NOT NULL, owner TEXT NOT NULL, metric TEXT NOT "
            "NULL, window_s INTEGER NOT NULL, buckets INTEGER NOT NULL, head INTEGER NOT NULL, "
            "slots BLOB NOT NULL, PRIMARY KEY (scope, owner, metric, window_s))"
        )
        con.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [("format", "localrouter-limits/1"), ("latest_ms", "5")],
        )
    con.close()
    saved = read_state(path)
    assert saved is not None
    assert (saved.counters, saved.breakers, saved.endpoints, saved.latencies) == ((), (), (), ())
    write_state(path, SavedState(7, ()))  # and it is upgraded in place
    assert read_state(path) is not None


def _sql(statement: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        con = sqlite3.connect(path)
        with con:
            con.execute(statement)
        con.close()

    return damage


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_sql("UPDATE breakers SET state = 'ajar'"), "unknown state 'ajar'"),
        (_sql("UPDATE breakers SET failures = -1"), "failures"),
        (_sql("UPDATE breakers SET opened_at = 'soon'"), "opened_at"),
        (_sql("UPDATE endpoints SET healthy = 2"), "healthy"),
        (_sql("UPDATE endpoints SET bins = x'0102'"), "wrong size"),
        (_sql("UPDATE latency SET landmark = NULL"), "no landmark"),
        (_sql("DROP TABLE latency"), "not a readable"),
        (_sql("UPDATE meta SET v = 'then' WHERE k = 'saved_at'"), "saved_at"),
    ],
)
def test_corrupt_runtime_rows_fail_closed(
    tmp_path: Path, damage: Callable[[Path], None], reason: str
) -> None:
    path = full_state(tmp_path)
    saved = read_state(path)
    assert saved is not None and saved.breakers and saved.endpoints and saved.latencies
    damage(path)
    with pytest.raises(LimitStateError) as info:
        read_state(path)
    assert str(path) in str(info.value) and reason in str(info.value)


def test_a_corrupt_breaker_row_stops_serve_naming_the_file(tmp_path: Path) -> None:
    path, _keys = write_config(
        """
        version: 2
        providers: {m: {type: mock, models: {x: {}}}}
        strategies: {s: {models: [m/x]}}
        clients: {app: {key_prefix: "{key_prefix:app}", key_hash: "{key_hash:app}", strategy: s}}
        """,
        tmp_path,
    )
    state = full_state(tmp_path)
    _sql("UPDATE breakers SET trips = 'many'")(state)
    done = subprocess.run(
        [sys.executable, "-m", "localrouter.cli", "serve", "--config", str(path), "--port",
         str(free_port())],
        capture_output=True,
        text=True,
        timeout=30,
    )  # fmt: skip
    assert done.returncode == 1
    assert f"{state} cannot be used" in done.stderr and "trips" in done.stderr
    assert "Traceback" not in done.stderr


def test_reading_read_only_never_creates_or_changes_anything(tmp_path: Path) -> None:
    assert read_state(tmp_path / "limits.sqlite3", read_only=True) is None
    assert list(tmp_path.iterdir()) == []
    path = full_state(tmp_path)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    saved = read_state(path, read_only=True)
    assert saved is not None and saved.breakers
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    assert after == before


# ============================================================================ table swaps


def compile_text(tmp_path: Path, text: str, name: str) -> RoutingTable:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n") + CLIENTS, encoding="utf-8")
    result = build(path)
    assert result.table is not None, result.diagnostics
    return result.table


CLIENTS = """
clients:
  app:
    key_prefix: lr-AAAAAAAA
    key_hash: $2b$04$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
    strategy: s
"""


def test_a_swap_reconciles_runtime_state_in_one_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LR_TEST_SWAP_KEY", raising=False)
    first = compile_text(
        tmp_path,
        """
        version: 2
        health: {interval_s: 30, timeout_s: 5, failure_threshold: 3, recovery_s: 60}
        providers:
          a: {type: ollama, base_url: "http://127.0.0.1:9", discover: false, models: {m: {}}}
          b: {type: ollama, base_url: "http://127.0.0.1:10", discover: false, models: {m: {}}}
          keep: {type: ollama, base_url: "http://127.0.0.1:11", discover: false, models: {m: {}}}
        strategies: {s: {models: [a/m, b/m, keep/m]}}
        """,
        "one.yaml",
    )
    second = compile_text(
        tmp_path,
        """
        version: 2
        health: {interval_s: 30, timeout_s: 5, failure_threshold: 5, recovery_s: 7}
        providers:
          a: {type: ollama, base_url: "http://127.0.0.1:12", discover: false, models: {m: {}}}
          keep: {type: ollama, base_url: "http://127.0.0.1:11", discover: false, models: {m: {}}}
          c:
            type: openai-compatible
            base_url: "http://127.0.0.1:13/v1"
            api_key: ${env:LR_TEST_SWAP_KEY}
            discover: false
            models: {m: {}}
        strategies: {s: {models: [a/m, keep/m, c/m]}}
        """,
        "two.yaml",
    )
    rt = Runtime.for_table(first)
    assert rt.health is not None
    for name in ("a", "b", "keep"):
        for _ in range(3):
            rt.health.breakers.record_failure(breaker_key(first.providers[name]))
    assert rt.swap(second)
    assert rt.holder.current is second and rt.holder.generation == 2
    # a's base URL changed and b is gone: their breakers are forgotten; keep's stays open
    assert [(i.provider, i.state) for i in rt.health.breakers.info()] == [("keep", State.OPEN)]
    assert set(rt.health.status()) == {"a", "keep", "c"}
    assert rt.health.breakers.settings.failure_threshold == 5
    assert rt.health.breakers.settings.recovery_s == 7
    # c's secret is resolved with the swap: missing, so it is not probed, and /health says why
    reason = rt.health.status()["c"].reason
    assert (
        reason is not None and "LR_TEST_SWAP_KEY" in reason and not rt.health.status()["c"].checked
    )
    assert not rt.swap(second)  # the same table again: no swap, state untouched
    assert rt.holder.generation == 2


# ============================================================================ through the gateway

CONFIG = """
version: 2
health: {{interval_s: 3600, timeout_s: 2, failure_threshold: 2, recovery_s: 3600}}
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
CHAT = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


def same_keys(text: str, gw: Gateway) -> str:
    client = gw.table.clients["app"]
    return text.replace("{key_prefix:app}", client.key_prefix).replace(
        "{key_hash:app}", client.key_hash
    )


def wait_for(pred: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition never met"
        time.sleep(0.02)


def test_health_shows_breakers_and_checks_and_an_open_circuit_survives_a_restart(
    tmp_path: Path,
) -> None:
    state = FakeState()
    with serve_app(create_app(state)) as upstream:
        config = CONFIG.format(upstream=upstream)
        with running_gateway(config, tmp_path) as gw:
            headers = {"authorization": f"Bearer {gw.keys['app']}"}
            wait_for(lambda: any(q.path == "/api/tags" for q in state.requests))
            wait_for(
                lambda: (
                    httpx.get(f"{gw.url}/health").json()["providers"]["ollama"]["health"][
                        "last_check"
                    ]
                    is not None
                )
            )
            state.fail(500, times=100)
            opened = time.time()
            for _ in range(3):
                r = httpx.post(f"{gw.v1}/chat/completions", headers=headers, json=CHAT)
                assert r.headers["x-localrouter-provider"] == "mock"
            body = httpx.get(f"{gw.url}/health").json()
            ollama, mock = body["providers"]["ollama"], body["providers"]["mock"]
            assert ollama["circuit"]["state"] == "open" and ollama["circuit"]["trips"] == 1
            assert ollama["circuit"]["since"] == pytest.approx(opened, abs=5)
            assert 3500 < ollama["circuit"]["retry_in_s"] <= 3600
            check = ollama["health"]
            assert check["checked"] and check["healthy"] and check["checks"] == 1
            assert check["last_check"]["ok"] and check["last_check"]["error"] is None
            assert check["check_p50_ms"] > 0 and check["live_p50_ms"] is None
            assert mock["circuit"] == {
                "state": "closed",
                "failures": 0,
                "trips": 0,
                "since": None,
                "retry_in_s": None,
            }
            assert mock["health"]["checked"] is False
            assert "mock" in mock["health"]["reason"]
            assert mock["health"]["live_p50_ms"] > 0  # the three calls it served
        chats = len([q for q in state.requests if q.path == "/api/chat"])
        assert chats == 2

        # a restart: the circuit comes back open (its hour has not passed), before any call
        with running_gateway(same_keys(config, gw), tmp_path) as again:
            body = httpx.get(f"{again.url}/health").json()
            circuit = body["providers"]["ollama"]["circuit"]
            assert circuit["state"] == "open" and circuit["since"] == pytest.approx(opened, abs=5)
            r = httpx.post(f"{again.v1}/chat/completions", headers=headers, json=CHAT)
            assert r.headers["x-localrouter-provider"] == "mock"
            record = httpx.get(
                f"{again.v1}/generation",
                headers=headers,
                params={"id": r.headers["x-localrouter-generation-id"]},
            ).json()
            assert {"model": "ollama/qwen2.5-coder:7b", "reason": "circuit open"} in record[
                "left_out"
            ]
        assert len([q for q in state.requests if q.path == "/api/chat"]) == chats


CHECKS = """
version: 2
health: {{interval_s: 3600, timeout_s: 2, failure_threshold: 1, recovery_s: 3600}}
providers:
  keyless:
    type: openai-compatible
    base_url: "{keyless}/v1"
    api_key: ${{env:LR_TEST_NEVER_SET_KEY}}
    discover: false
    models: {{m: {{}}}}
  locked:
    type: ollama
    base_url: "{locked}"
    api_key: ${{env:LR_TEST_LOCKED_KEY}}
    discover: false
    models: {{m: {{}}}}
  broken: {{type: ollama, base_url: "{broken}", discover: false, models: {{m: {{}}}}}}
strategies:
  s: {{models: [keyless/m, locked/m, broken/m]}}
clients:
  app: {{key_prefix: "{{key_prefix:app}}", key_hash: "{{key_hash:app}}", strategy: s}}
"""


def test_only_connect_errors_timeouts_and_5xx_fail_a_check_and_a_keyless_provider_is_not_probed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-locked-0123456789abcdefSECRET"
    monkeypatch.delenv("LR_TEST_NEVER_SET_KEY", raising=False)
    monkeypatch.setenv("LR_TEST_LOCKED_KEY", secret)
    keyless, locked, broken = FakeState(), FakeState(api_key="another-key"), FakeState()
    broken.fail(503, times=10)
    with (
        serve_app(create_app(keyless)) as keyless_url,
        serve_app(create_app(locked)) as locked_url,
        serve_app(create_app(broken)) as broken_url,
    ):
        text = CHECKS.format(keyless=keyless_url, locked=locked_url, broken=broken_url)
        with running_gateway(text, tmp_path) as gw:

            def checked(name: str) -> bool:
                doc = httpx.get(f"{gw.url}/health").json()
                return doc["providers"][name]["health"]["last_check"] is not None

            wait_for(lambda: checked("locked") and checked("broken"))
            raw = httpx.get(f"{gw.url}/health").text
            body = httpx.get(f"{gw.url}/health").json()["providers"]
        assert secret not in raw

        # the keyless provider was never called, and says why; its circuit stays closed
        assert keyless.requests == []
        assert body["keyless"]["status"] == "unusable"
        health = body["keyless"]["health"]
        assert health["checked"] is False and health["checks"] == 0
        assert "LR_TEST_NEVER_SET_KEY" in health["reason"] and health["reason"].startswith(
            "not checked"
        )
        assert body["keyless"]["circuit"]["state"] == "closed"

        # a 401 (wrong key) shows the server is up: healthy, circuit closed, noted
        health = body["locked"]["health"]
        assert [q.path for q in locked.requests] == ["/api/tags"]
        assert health["healthy"] and health["last_check"]["ok"]
        assert health["last_check"]["note"] == "answered HTTP 401"
        assert body["locked"]["circuit"]["state"] == "closed"

        # a 5xx is a failure: unhealthy, and the breaker opened (threshold 1)
        health = body["broken"]["health"]
        assert not health["healthy"] and health["last_check"]["ok"] is False
        assert "503" in health["last_check"]["error"]
        assert body["broken"]["circuit"]["state"] == "open"


# ============================================================================ serve's start-up line


def test_the_start_up_line_names_the_table_actually_served(tmp_path: Path) -> None:
    text = """
    version: 2
    providers:
      ollama: {type: ollama, base_url: "http://127.0.0.1:9"}
      mock: {type: mock, models: {backup: {}}}
    strategies: {s: {models: ["ollama/*", mock/backup]}}
    clients: {app: {key_prefix: "{key_prefix:app}", key_hash: "{key_hash:app}", strategy: s}}
    """
    path, _keys = write_config(text, tmp_path)
    plain = build(path).table
    assert plain is not None
    cache = {
        "format": "localrouter-catalog",
        "version": 1,
        "written_at": WALL0,
        "providers": {
            "ollama": {
                "identity": identity(plain.providers["ollama"]),
                "fetched_at": WALL0,
                "models": [{"name": "cached-model:7b", "params_b": 7}],
            }
        },
    }
    (tmp_path / CACHE_NAME).write_text(json.dumps(cache), encoding="utf-8")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "localrouter.cli", "serve", "--config", str(path), "--port",
         str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("LocalRouter serving"), line
        shown = line.split("(sha ", 1)[1].split(")", 1)[0]
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        served = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()["config"]["sha"]
        assert served.startswith(shown)
        assert not plain.sha256.startswith(shown)  # the cached catalog made another table
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_swap_from_another_thread_reconciles_on_the_serving_loop(tmp_path: Path) -> None:
    """Discovery (and hot reload) compile in worker threads: a swap made there still starts the
    new provider's health checks, on the server's own event loop."""
    first = compile_text(
        tmp_path,
        """
        version: 2
        providers: {mock: {type: mock, models: {m: {}}}}
        strategies: {s: {models: [mock/m]}}
        """,
        "one.yaml",
    )
    state = FakeState()
    with serve_app(create_app(state)) as upstream:
        second = compile_text(
            tmp_path,
            f"""
            version: 2
            providers:
              mock: {{type: mock, models: {{m: {{}}}}}}
              added: {{type: ollama, base_url: "{upstream}", discover: false, models: {{m: {{}}}}}}
            strategies: {{s: {{models: [mock/m, added/m]}}}}
            """,
            "two.yaml",
        )
        app = create_gateway(first)
        with serve_app(app) as url:
            rt: Runtime = app.runtime
            assert rt.swap(second)  # this test's thread: not the server's
            wait_for(lambda: any(q.path == "/api/tags" for q in state.requests))
            wait_for(
                lambda: (
                    httpx.get(f"{url}/health").json()["providers"]["added"]["health"]["checks"] == 1
                )
            )
