"""Hot reload cannot hang or half-apply, on the running gateway (real files, the real watcher, a
fake OpenAI upstream over real HTTP):

* a recursive YAML alias saved while serving is refused at once (LR103 on /health), and later
  saves still apply;
* a compile past its deadline is reported ``stuck`` (LR507) and stopped, and later saves apply;
* a provider's changed ``timeout`` takes effect on the next request (its client is rebuilt);
* the connection pool of a removed provider is closed once its last stream ends, while that
  stream, begun before the reload, finishes whole.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from localrouter.server import reload
from tests.fakes.openai_fake import FakeState, create_app
from tests.fakes.serve import serve_app
from tests.gateway import Gateway, running_gateway
from tests.test_gateway_reload import config_of, save, until

CONFIG = """
version: 2
health: {{interval_s: 3600, failure_threshold: 1000}}
providers:
  mock:
    type: mock
    models: {{small: {{}}, large: {{}}}}
{upstream_provider}
strategies:
  main:
    models: [{first}, mock/large]
  upstream:
    models: [{upstream_model}]
    fallback: {{attempts: 1}}
clients:
  app:
    key_prefix: "{{key_prefix:app}}"
    key_hash: "{{key_hash:app}}"
    strategy: main
  up:
    key_prefix: "{{key_prefix:up}}"
    key_hash: "{{key_hash:up}}"
    strategy: upstream
{extra}"""

UPSTREAM = """  slow:
    type: openai-compatible
    base_url: {url}/v1
    api_key: ${{env:LR_TEST_BOUNDS_KEY}}
    discover: false
    timeout: {{read_s: {read_s}}}
    models: {{gpt-4o-mini: {{}}}}
"""


def config(url: str, *, read_s: float = 5, slow: bool = True, first: str = "mock/small",
           extra: str = "") -> str:  # fmt: skip
    return CONFIG.format(
        upstream_provider=UPSTREAM.format(url=url, read_s=read_s) if slow else "",
        upstream_model="slow/gpt-4o-mini" if slow else "mock/small",
        first=first,
        extra=extra,
    )


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[str, FakeState]]:
    state = FakeState(api_key="bounds-key")
    with serve_app(create_app(state)) as url:
        yield url, state


@pytest.fixture
def upstream(fake: tuple[str, FakeState]) -> Iterator[tuple[str, FakeState]]:
    state = fake[1]
    state.script.clear()
    state.requests.clear()
    state.chunk_delay = 0.0
    yield fake
    state.script.clear()
    state.chunk_delay = 0.0


@pytest.fixture
def gw(
    tmp_path: Path, upstream: tuple[str, FakeState], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Gateway]:
    monkeypatch.setenv("LR_TEST_BOUNDS_KEY", "bounds-key")
    with running_gateway(config(upstream[0]), tmp_path, watch=True) as gateway:
        time.sleep(0.3)  # the watcher is up
        yield gateway


def ask(gw: Gateway, client: str = "app", timeout: float = 10) -> httpx.Response:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"authorization": f"Bearer {gw.keys[client]}"}
    return httpx.post(gw.v1 + "/chat/completions", json=body, headers=headers, timeout=timeout)


def answered_by(r: httpx.Response) -> str:
    assert r.status_code == 200, r.text
    return str(r.json()["choices"][0]["message"]["content"]).split("]")[0].lstrip("[")


def settled_checks(state: FakeState) -> None:
    """The start-up health check of the upstream has been made (it would take a scripted step)."""
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        if any(r.path.endswith("/models") for r in list(state.requests)):
            return
        time.sleep(0.02)


def connections_to(port: int) -> int:
    """Established TCP connections to ``port`` on this machine (both ends are local: the count
    is of the gateway's side, whose remote port is ``port``)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                remote, state = fields[2], fields[3]
                if state == "01" and int(remote.rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


def test_a_recursive_alias_saved_while_serving_is_refused_and_later_saves_apply(
    gw: Gateway, upstream: tuple[str, FakeState]
) -> None:
    saved = save(gw, config(upstream[0], extra="x-loop: &b [*b]\n"))
    until(lambda: config_of(gw)["status"] == "error", timeout=3)
    took = time.monotonic() - saved
    cfg = config_of(gw)
    errors = cfg["errors"]
    assert isinstance(errors, list) and [e["code"] for e in errors] == ["LR103"]
    assert "recursive alias" in str(errors[0]["message"]) and errors[0]["line"]
    last = cfg["last_reload"]
    assert isinstance(last, dict) and last["outcome"] == "failed"
    assert float(last["compile_ms"]) < 500, last  # refused, not walked
    assert took < 2.0  # settle + debounce + compile
    assert answered_by(ask(gw)) == "small"  # the old table serves meanwhile
    save(gw, config(upstream[0], first="mock/large"))
    until(lambda: config_of(gw)["status"] == "ok")
    assert answered_by(ask(gw)) == "large"
    assert config_of(gw)["generation"] == 2


def test_a_compile_past_its_deadline_is_stuck_and_later_saves_apply(
    gw: Gateway, upstream: tuple[str, FakeState], monkeypatch: pytest.MonkeyPatch
) -> None:
    from localrouter.server import bounded

    monkeypatch.setattr(bounded, "MAX_ABANDONED", 100)
    served = config_of(gw)["sha"]
    # a valid config that takes a while to compile (a long list under an extension key)
    pad = "x-pad: [" + ", ".join(f"item{i}" for i in range(20_000)) + "]\n"
    monkeypatch.setattr(reload, "COMPILE_TIMEOUT_S", 0.05)
    save(gw, config(upstream[0], first="mock/large", extra=pad))
    until(lambda: config_of(gw)["status"] == "error", timeout=5)
    cfg = config_of(gw)
    errors = cfg["errors"]
    assert isinstance(errors, list) and [e["code"] for e in errors] == ["LR507"]
    assert "did not finish within 0.05 s" in str(errors[0]["message"])
    last, reloads = cfg["last_reload"], cfg["reloads"]
    assert isinstance(last, dict) and last["outcome"] == "stuck"
    assert isinstance(reloads, dict) and reloads["stuck"] == 1
    assert cfg["sha"] == served
    assert answered_by(ask(gw)) == "small"
    # the abandoned compile is stopped (not left running), and the next save applies
    until(lambda: "abandoned_compiles" not in config_of(gw), timeout=5)
    monkeypatch.setattr(reload, "COMPILE_TIMEOUT_S", 30.0)
    save(gw, config(upstream[0], first="mock/large"))
    until(lambda: config_of(gw)["status"] == "ok")
    assert answered_by(ask(gw)) == "large"


def test_a_changed_provider_timeout_takes_effect(
    gw: Gateway, upstream: tuple[str, FakeState]
) -> None:
    url, state = upstream
    settled_checks(state)
    state.hang(1.0)
    assert ask(gw, "up").status_code == 200  # read_s 5: the answer after 1 s arrives
    save(gw, config(url, read_s=0.3))
    until(lambda: config_of(gw)["generation"] == 2)
    state.hang(1.0)
    started = time.monotonic()
    r = ask(gw, "up")
    assert r.status_code == 504, r.text  # read_s 0.3 now
    assert time.monotonic() - started < 0.9
    save(gw, config(url, read_s=5))
    until(lambda: config_of(gw)["generation"] == 3)
    state.hang(1.0)
    assert ask(gw, "up").status_code == 200  # and back


def test_a_removed_provider_pool_closes_after_its_last_stream(
    gw: Gateway, upstream: tuple[str, FakeState]
) -> None:
    url, state = upstream
    port = int(url.rsplit(":", 1)[1])
    settled_checks(state)
    state.chunk_delay = 0.25
    words = " ".join(f"w{i}" for i in range(12))  # ~3 s of stream
    body = {"model": "auto", "stream": True, "messages": [{"role": "user", "content": words}]}
    headers = {"authorization": f"Bearer {gw.keys['up']}"}
    events: list[str] = []
    ended: list[float] = []

    def stream() -> None:
        with httpx.stream(
            "POST", gw.v1 + "/chat/completions", json=body, headers=headers, timeout=20
        ) as r:
            assert r.status_code == 200
            events.extend(line for line in r.iter_lines() if line.startswith("data:"))
        ended.append(time.monotonic())

    reader = threading.Thread(target=stream)
    reader.start()
    until(lambda: len(events) >= 1 or state.streams_started >= 1)
    assert connections_to(port) >= 1
    save(gw, config(url, slow=False))  # the provider is removed while its stream runs
    until(lambda: config_of(gw)["generation"] == 2)
    reader.join(20)
    assert events and events[-1] == "data: [DONE]"  # the stream begun before ended whole
    # the fake counts its stream done only after its last write, which the gateway may have
    # relayed (and ended its answer on) first
    until(lambda: state.streams_finished >= 1)
    # its pool is closed once the stream is done (keep-alive alone would hold it 5 s)
    until(lambda: connections_to(port) == 0, timeout=4.5)
    assert time.monotonic() - ended[0] < 4.5
    assert answered_by(ask(gw, "up")) == "small"  # the new table's strategy


def test_connections_to_counts_a_connection() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    try:
        assert connections_to(port) == 1
    finally:
        for s in (client, accepted, server):
            s.close()
