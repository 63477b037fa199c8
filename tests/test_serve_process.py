"""`localrouter serve` as a real process, under each HTTP server it can run: it starts, serves, and
on SIGTERM accepts no new connection but lets an open stream finish (bounded by the graceful
timeout) instead of cutting it; a taken port is a clear error."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from localrouter.server.http_servers import HTTP_SERVERS
from tests.fakes.ollama_fake import FakeState, create_app
from tests.fakes.serve import free_port, serve_app
from tests.gateway import serve_process, write_config

CONFIG = """
version: 2
providers:
  ollama:
    type: ollama
    base_url: {upstream}
    discover: false
    models: {{"qwen2.5-coder:7b": {{}}}}
strategies:
  s: {{models: ["ollama/*"]}}
clients:
  app: {{key_prefix: "{{key_prefix:app}}", key_hash: "{{key_hash:app}}", strategy: s}}
"""


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 15) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("gateway never became healthy")


@pytest.mark.parametrize("server", HTTP_SERVERS)
def test_sigterm_lets_an_open_stream_finish(tmp_path: Path, server: str) -> None:
    state = FakeState(chunk_delay=0.2)
    with serve_app(create_app(state)) as upstream:
        path, keys = write_config(CONFIG.format(upstream=upstream), tmp_path)
        port = free_port()
        proc = serve_process(path, port, server)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, proc)
            body = {
                "model": "auto",
                "stream": True,
                "messages": [{"role": "user", "content": " ".join("w" * 30)}],
            }
            with httpx.stream(
                "POST",
                f"{url}/v1/chat/completions",
                json=body,
                timeout=20,
                headers={"authorization": f"Bearer {keys['app']}"},
            ) as r:
                lines = r.iter_lines()
                first = next(line for line in lines if line.startswith("data: "))
                proc.send_signal(signal.SIGTERM)
                time.sleep(0.5)
                with pytest.raises(httpx.ConnectError):  # no new connection once stopping
                    httpx.get(f"{url}/health", timeout=2)
                rest = [line for line in lines if line.startswith("data: ")]
            assert first.startswith("data: {")
            assert rest[-1] == "data: [DONE]", "the stream was cut by the shutdown"
            assert proc.wait(timeout=35) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.parametrize("server", HTTP_SERVERS)
def test_port_in_use_is_a_clear_error(tmp_path: Path, server: str) -> None:
    import socket

    path, _keys = write_config(CONFIG.format(upstream="http://127.0.0.1:9"), tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "localrouter.cli",
                "serve",
                "--config",
                str(path),
                "--port",
                str(port),
                "--http-server",
                server,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 1
    assert f"error: cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_corrupt_limits_file_fails_closed(tmp_path: Path) -> None:
    path, _keys = write_config(CONFIG.format(upstream="http://127.0.0.1:9"), tmp_path)
    (tmp_path / "limits.sqlite3").write_bytes(b"this is not a database" * 100)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "localrouter.cli",
            "serve",
            "--config",
            str(path),
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert "limits.sqlite3" in done.stderr and "Traceback" not in done.stderr
