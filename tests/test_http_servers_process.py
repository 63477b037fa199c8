"""Every HTTP server ``localrouter serve`` can run (``server.http_server``; server/http_servers.py)
keeps the same guarantees, checked on a real ``serve`` process per server with raw sockets: a
request head must arrive within ~10 s (slow heads and idle keep-alive connections are cut), a head
over 16 KiB is refused (except Granian's larger bound), a body with both Content-Length and
Transfer-Encoding never lets a second request through, pipelined requests are answered, the edge's
Host check holds, a client that leaves a stream cancels the upstream call, no ``Server`` header
names Hypercorn or uvicorn, and the address may be IPv6. A change of the setting needs a restart.
The graceful-stop bound and the app's lifespan are checked in-process on a bare ASGI app
(``tests/test_http_servers.py``)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from localrouter.server.http_servers import DEFAULT_HTTP_SERVER, HTTP_SERVERS
from tests.fakes.ollama_fake import FakeState, create_app
from tests.fakes.serve import free_port, serve_app
from tests.gateway import write_config

CONFIG = """
version: 2
state_dir: {state}
providers:
  mock: {{type: mock, models: {{small: {{}}}}}}
strategies:
  s: {{models: [mock/small]}}
clients:
  app: {{key_prefix: "{{key_prefix:app}}", key_hash: "{{key_hash:app}}", strategy: s}}
"""
UPSTREAM = """
  ollama:
    type: ollama
    base_url: {upstream}
    discover: false
    models: {{"qwen2.5-coder:7b": {{}}}}
strategies:
  slow: {{models: ["ollama/*"]}}
"""


def start(
    config: Path, server: str, host: str = "127.0.0.1"
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    argv = [sys.executable, "-m", "localrouter.cli", "serve", "--config", str(config)]
    argv += ["--host", host, "--port", str(port), "--no-watch", "--http-server", server]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proc, port


def wait_healthy(proc: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "exited"
        assert time.monotonic() < deadline, "the gateway never became healthy"
        try:
            if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.02)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@dataclass
class Served:
    port: int
    keys: dict[str, str]
    upstream: FakeState  # the fake Ollama behind client "streamer"


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Served]]:
    """One ``serve`` process per server, each with a mock provider and a fake Ollama."""
    with ExitStack() as stack:
        served: dict[str, Served] = {}
        procs = []
        for server in HTTP_SERVERS:
            tmp = tmp_path_factory.mktemp(server)
            state = FakeState(chunk_delay=0.3)
            url = stack.enter_context(serve_app(create_app(state)))
            text = CONFIG.format(state=tmp / "state").replace(
                "strategies:", UPSTREAM.format(upstream=url).lstrip("\n"), 1
            )
            text += '  streamer: {key_prefix: "{key_prefix:streamer}", '
            text += 'key_hash: "{key_hash:streamer}", strategy: slow}\n'
            path, keys = write_config(text, tmp)
            proc, port = start(path, server)
            stack.callback(stop, proc)
            procs.append((proc, port))
            served[server] = Served(port, keys, state)
        for proc, port in procs:
            wait_healthy(proc, f"http://127.0.0.1:{port}")
        yield served


def exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data`` on one connection; everything answered until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        got = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                return got
            got += chunk
    raise AssertionError(f"the connection was left open after: {got[:300]!r}")


def head_of(answer: bytes) -> str:
    return answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()


@pytest.mark.parametrize("server", HTTP_SERVERS)
def test_a_body_with_both_lengths_lets_no_second_request_through(
    gateways: dict[str, Served], server: str
) -> None:
    port, key = gateways[server].port, gateways[server].keys["app"]
    smuggled = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    got = exchange(port, head + b"0\r\n\r\n" + smuggled)
    # Hypercorn: the edge's 400 invalid_framing; uvicorn: its parser's 400; Granian: the body
    # read as chunked (empty: the app's 400), then the connection closed
    assert got.startswith(b"HTTP/1.1 400"), got[:300]
    assert got.count(b"HTTP/1.1 ") == 1, got  # the smuggled GET /health is never answered
    if server == "hypercorn":
        assert b"invalid_framing" in got and "connection: close" in head_of(got)


@pytest.mark.parametrize("server", HTTP_SERVERS)
def test_pipelined_requests_are_answered_in_order(gateways: dict[str, Served], server: str) -> None:
    port = gateways[server].port
    one = f"GET /health HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode()
    two = b"GET /no/such/path HTTP/1.1\r\nHost: localhost\r\n\r\n"
    last = b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    got = exchange(port, one + two + last)
    statuses = re.findall(rb"HTTP/1\.1 (\d{3})", got)
    assert statuses == [b"200", b"404", b"200"], got[:600]


@pytest.mark.parametrize("server", HTTP_SERVERS)
def test_the_edge_and_the_answers_are_the_same_under_every_server(
    gateways: dict[str, Served], server: str
) -> None:
    port, key = gateways[server].port, gateways[server].keys["app"]
    url = f"http://127.0.0.1:{port}"
    foreign = httpx.get(f"{url}/health", headers={"host": "evil.example"}, timeout=5)
    assert foreign.status_code == 421
    assert foreign.json()["error"]["code"] == "host_not_allowed"
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    auth = {"authorization": f"Bearer {key}", "origin": "http://localhost:5173"}
    r = httpx.post(f"{url}/v1/chat/completions", json=body, headers=auth, timeout=5)
    assert r.status_code == 200 and r.json()["choices"]
    assert r.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert r.headers["x-request-id"] and "date" in r.headers
    if server != "granian":  # Granian always names itself, with no switch to turn it off
        assert "server" not in r.headers
    streamed = httpx.post(
        f"{url}/v1/chat/completions", json={**body, "stream": True}, headers=auth, timeout=5
    )
    assert streamed.text.rstrip().endswith("data: [DONE]")
    big = httpx.post(
        f"{url}/v1/chat/completions", content=b"x" * (21 * 1024 * 1024), headers=auth, timeout=10
    )
    assert big.status_code == 413  # the app's own limit (server.max_body_mb), not the server's


@pytest.mark.parametrize("server", HTTP_SERVERS)
def test_a_client_that_leaves_a_stream_cancels_the_upstream(
    gateways: dict[str, Served], server: str
) -> None:
    gw = gateways[server]
    body = {"model": "auto", "stream": True, "messages": [{"role": "user", "content": "w " * 40}]}
    headers = {"authorization": f"Bearer {gw.keys['streamer']}"}
    url = f"http://127.0.0.1:{gw.port}/v1/chat/completions"
    gw.upstream.client_gone.clear()
    with httpx.stream("POST", url, json=body, headers=headers, timeout=10) as r:
        assert r.status_code == 200
        next(line for line in r.iter_lines() if line.startswith("data: "))
    left = time.monotonic()
    assert gw.upstream.client_gone.wait(5), "the upstream never saw the client go away"
    assert time.monotonic() - left < 1.5


@pytest.mark.parametrize("server", HTTP_SERVERS)
def test_a_head_over_the_bound_is_refused(gateways: dict[str, Served], server: str) -> None:
    """uvicorn: 16 KiB of head; Hypercorn: 16 KiB of a head not yet complete (h11 buffers no
    more; a whole head that arrives in one read passes); Granian: hyper's read buffer, ~400 KiB.
    An ordinary head passes under all three."""
    port = gateways[server].port
    start = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n".encode()

    def head_of_size(kb: int) -> bytes:
        return start + b"".join(b"X-F-%d: %s\r\n" % (i, b"y" * 1000) for i in range(kb)) + b"\r\n"

    assert exchange(port, head_of_size(8)).startswith(b"HTTP/1.1 200")
    too_big = head_of_size(600 if server == "granian" else 100)
    try:
        got = exchange(port, too_big)
    except (BrokenPipeError, ConnectionResetError):  # refused before all of it was sent
        return
    assert got.startswith(b"HTTP/1.1 431"), got[:200]


def _closed_after(port: int, opening: bytes, then: bytes | None, every: float | None) -> float:
    """Open a connection and send ``opening`` (reading the answer when it is a whole request),
    then ``then`` — once, or every ``every`` s: the seconds until the server closed it (or 20)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(opening)
        if opening.endswith(b"\r\n\r\n"):
            s.settimeout(5)
            assert s.recv(65536).startswith(b"HTTP/1.1 200")
        if then is not None and every is None:
            s.sendall(then)
        s.settimeout(every or 20)
        while time.monotonic() - started < 20:
            try:
                if s.recv(65536) == b"":
                    break
            except TimeoutError:
                pass
            except ConnectionResetError:
                break
            if then is not None and every is not None:
                try:
                    s.sendall(then)
                except (BrokenPipeError, ConnectionResetError):
                    break
    return time.monotonic() - started


def test_slow_heads_and_idle_connections_are_cut_after_10_s(
    gateways: dict[str, Served],
) -> None:
    """All servers at once (10 s each), four clients each: one that sends nothing, one that
    sends its head a field every 0.5 s, one idle after an answer, one that sends the first byte
    of a second head after an answer and nothing more."""
    answered = b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"
    cases: dict[str, tuple[bytes, bytes | None, float | None]] = {
        "silent": (b"", None, None),
        "slow head": (b"GET /health HTTP/1.1\r\nHost: localhost\r\n", b"X-Slow: 1\r\n", 0.5),
        "idle": (answered, None, None),
        "idle, then a partial head": (answered, b"G", None),
    }
    results: dict[tuple[str, str], float] = {}

    def probe(server: str, case: str) -> None:
        results[(server, case)] = _closed_after(gateways[server].port, *cases[case])

    threads = [
        threading.Thread(target=probe, args=(server, case))
        for server in HTTP_SERVERS
        for case in cases
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == len(threads), results
    wrong = {k: round(v, 1) for k, v in results.items() if not 8.5 <= v <= 14}
    assert not wrong, f"not cut after ~10 s: {wrong}"


@pytest.mark.parametrize("server", HTTP_SERVERS)
def test_an_ipv6_address_is_served(tmp_path: Path, server: str) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    path, _keys = write_config(CONFIG.format(state=tmp_path / "state"), tmp_path)
    proc, port = start(path, server, host="::1")
    try:
        wait_healthy(proc, f"http://[::1]:{port}")
        assert httpx.get(f"http://[::1]:{port}/health", timeout=5).status_code == 200
    finally:
        stop(proc)


async def test_changing_the_server_needs_a_restart(tmp_path: Path) -> None:
    from tests.test_reload import DEMO, compile_path

    config = tmp_path / "routers.yaml"
    config.write_text(DEMO, encoding="utf-8")
    source, _holder = compile_path(config)
    other = next(s for s in HTTP_SERVERS if s != DEFAULT_HTTP_SERVER)
    changed = DEMO.replace("port: 3625", f"port: 3625\n  http_server: {other}", 1)
    assert changed != DEMO
    config.write_text(changed, encoding="utf-8")
    outcome = await source.reload("SIGHUP")
    assert outcome.status == "refused" and [d.code for d in outcome.errors] == ["LR504"]
    assert "`server.http_server` changed" in outcome.errors[0].message
