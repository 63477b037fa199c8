"""Spent budgets survive a real restart of ``localrouter serve``: the process is stopped with
SIGTERM (its graceful shutdown writes ``state_dir/limits.sqlite3``), a new process starts on the
same config and state, and the clients whose limits were reached are still answered 429 with a
``Retry-After`` that counts from the original spending, and the ``x-ratelimit-*`` headers."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from localrouter.server.http_servers import HTTP_SERVERS
from tests.fakes.serve import free_port
from tests.gateway import write_config

CONFIG = """
version: 2
state_dir: {state}
providers:
  mock:
    type: mock
    models: {{gold: {{input_per_mtok: 1000, output_per_mtok: 1000}}}}
strategies:
  s: {{models: [mock/gold]}}
clients:
  counted:
    key_prefix: "{{key_prefix:counted}}"
    key_hash: "{{key_hash:counted}}"
    strategy: s
    limits: [{{requests: 2, per: 1m}}]
  spender:
    key_prefix: "{{key_prefix:spender}}"
    key_hash: "{{key_hash:spender}}"
    strategy: s
    limits: [{{cost_usd: 0.05, per: 1d}}]
  idle: {{key_prefix: "{{key_prefix:idle}}", key_hash: "{{key_hash:idle}}", strategy: s}}
"""
BODY = {"model": "auto", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


@contextmanager
def serving(config: Path, port: int, http_server: str | None = None) -> Iterator[str]:
    """``localrouter serve --no-watch`` as a process: see :func:`serve_process`."""
    with serve_process(config, port, http_server=http_server) as (url, _proc):
        yield url


@contextmanager
def serve_process(
    config: Path,
    port: int,
    *,
    watch: bool = False,
    log: Path | None = None,
    http_server: str | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``localrouter serve`` as a process, healthy; stopped with SIGTERM at the end, and it
    must exit 0 (the graceful shutdown, which writes the limits file). ``log``: its stderr;
    ``http_server``: ``--http-server`` (else the config's)."""
    command = ["serve", "--config", str(config), "--port", str(port)]
    if not watch:
        command.append("--no-watch")
    if http_server is not None:
        command += ["--http-server", http_server]
    err = log.open("w") if log is not None else subprocess.PIPE
    proc = subprocess.Popen(
        [sys.executable, "-m", "localrouter.cli", *command],
        stdout=subprocess.DEVNULL,
        stderr=err,
        env={**os.environ},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "exited"
            assert time.monotonic() < deadline, "the gateway never became healthy"
            try:
                if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.02)
        yield url, proc
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if log is not None:
            err.close()  # type: ignore[union-attr]


def post(url: str, key: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions",
        json=BODY,
        headers={"authorization": f"Bearer {key}"},
        timeout=10,
    )


@pytest.mark.parametrize("server", HTTP_SERVERS)  # the app's lifespan shutdown saves the state
def test_spent_budgets_stay_spent_across_a_restart_of_the_process(
    tmp_path: Path, server: str
) -> None:
    state = tmp_path / "state"
    config, keys = write_config(CONFIG.format(state=state), tmp_path)
    port = free_port()
    with serving(config, port, server) as url:
        spent_at = time.time()
        assert [post(url, keys["counted"]).status_code for _ in range(3)] == [200, 200, 429]
        served = 0
        while (r := post(url, keys["spender"])).status_code == 200:
            served += 1
            assert served < 50
        assert r.status_code == 429 and served >= 1
        before = r.headers
    assert (state / "limits.sqlite3").is_file()

    with serving(config, port, server) as url:
        again = post(url, keys["counted"])
        elapsed = time.time() - spent_at
        assert again.status_code == 429, again.text
        assert again.json()["error"]["code"] == "rate_limit_exceeded"
        # the window counts from the first request before the restart (1m, in 0.5 s buckets)
        wait = int(again.headers["retry-after"])
        assert math.floor(60 - elapsed) <= wait <= 61
        assert again.headers["x-ratelimit-limit-requests"] == "2"
        assert again.headers["x-ratelimit-remaining-requests"] == "0"
        assert 60 - elapsed - 1 <= float(again.headers["x-ratelimit-reset-requests"]) <= 61

        broke = post(url, keys["spender"])
        assert broke.status_code == 429, broke.text
        assert broke.headers["x-ratelimit-limit-cost_usd"] == "0.05"
        assert (
            broke.headers["x-ratelimit-remaining-cost_usd"]
            == before["x-ratelimit-remaining-cost_usd"]
        )
        day = 86400
        assert day - elapsed - day / 120 - 1 <= int(broke.headers["retry-after"]) <= day + day / 120

        assert post(url, keys["idle"]).status_code == 200  # the server itself serves
