"""``localrouter serve`` as a real process under load, stopped by SIGTERM: every request it answered
has its access-log line (nothing queued is lost on a graceful stop)."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from localrouter.logs.reader import iter_lines, log_files
from localrouter.server.http_servers import HTTP_SERVERS
from tests.fakes.ollama_fake import FakeState, create_app
from tests.fakes.serve import free_port, serve_app
from tests.gateway import serve_process, write_config
from tests.test_serve_process import CONFIG, wait_healthy


@pytest.mark.parametrize("server", HTTP_SERVERS)
def test_sigterm_under_load_loses_no_log_line(tmp_path: Path, server: str) -> None:
    state = FakeState(chunk_delay=0.01)
    with serve_app(create_app(state)) as upstream:
        path, keys = write_config(CONFIG.format(upstream=upstream), tmp_path)
        port = free_port()
        proc = serve_process(path, port, server)
        url = f"http://127.0.0.1:{port}"
        answered: list[str] = []
        stop = threading.Event()

        def load(stream: bool) -> None:
            body = {
                "model": "auto",
                "stream": stream,
                "messages": [{"role": "user", "content": "count to five"}],
            }
            headers = {"authorization": f"Bearer {keys['app']}"}
            with httpx.Client(timeout=20) as client:
                while not stop.is_set():
                    try:
                        r = client.post(f"{url}/v1/chat/completions", json=body, headers=headers)
                    except httpx.TransportError:  # refused or cut by the shutdown: not answered
                        if proc.poll() is not None:
                            return
                        time.sleep(0.01)
                        continue
                    answered.append(r.headers["x-request-id"])

        try:
            wait_healthy(url, proc)
            workers = [threading.Thread(target=load, args=(i % 2 == 0,)) for i in range(8)]
            for t in workers:
                t.start()
            deadline = time.monotonic() + 30
            while len(answered) < 200 and time.monotonic() < deadline:
                time.sleep(0.02)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=40) == 0
            stop.set()
            for t in workers:
                t.join(timeout=30)
        finally:
            stop.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    lines = [line for f in log_files(tmp_path / "logs") for line in iter_lines(f)]
    assert None not in lines
    logged = {line["request_id"]: line for line in lines if line is not None}
    assert len(answered) >= 200
    assert set(answered) <= set(logged), "an answered request has no log line"
    # a request the shutdown cut before its answer reached the client is logged as cut (499) when
    # it streamed; a non-streamed answer made while its connection was being closed is recorded
    # as answered and dropped on the way (server.md: a disconnect during a non-streamed answer is
    # not noticed) - it was seen once in 2,000+ requests under hypercorn on a loaded machine
    extra = [logged[r] for r in set(logged) - set(answered)]
    assert all(x["status_code"] == 499 or not x["stream"] for x in extra), [
        (x["status_code"], x["stream"], x["error_code"]) for x in extra
    ]
    assert len(lines) == len(logged)  # one line per request
