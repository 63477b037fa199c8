"""Hot reload under load, longer and heavier than the test (tests/test_reload_load.py).

A real ``localrouter serve`` process on a free loopback port serves a mock-provider config while
8 threads (4 streaming, 4 not) send requests without a pause; the config is rewritten 100 times
(valid and invalid alternating, an atomic rename save every 0.4 s). Reported: the time from each
valid write until a probe request is answered by the new table (p50, p90, max), and the requests
that failed (any non-200, a stream without ``[DONE]`` or with an error event).

Run by hand: ``python bench/reload_bench.py [--writes N]``.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from localrouter.keygen import new_key  # noqa: E402

CONFIG = """version: 2
server: {{host: 127.0.0.1, port: {port}}}
health: {{interval_s: 3600}}
state_dir: {state}
providers:
  mock:
    type: mock
    models: {{small: {{}}, large: {{}}}}
strategies:
  main:
    models: [{first}, {second}]
clients:
  app: {{key_prefix: "{prefix}", key_hash: "{hash}", strategy: main}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writes", type=int, default=100)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    key = new_key(cost=4)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "routers.yaml"

        def text(first: str, second: str) -> str:
            return CONFIG.format(
                port=port, state=tmp, first=first, second=second, prefix=key.prefix, hash=key.hash
            )

        path.write_text(text("mock/small", "mock/large"), encoding="utf-8")
        log = (Path(tmp) / "serve.log").open("w")  # a file, not a pipe nobody reads
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("localrouter")), "serve", "--config", str(path)],
            stderr=log,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the gateway did not start"
                time.sleep(0.05)
            run(url, key.key, path, text, args.writes, args.threads)
        finally:
            proc.terminate()
            proc.wait(30)
            log.close()


def run(url: str, key: str, path: Path, text: object, writes: int, threads: int) -> None:
    headers = {"authorization": f"Bearer {key}"}
    stop = threading.Event()
    failures: list[str] = []
    done = [0]
    lock = threading.Lock()

    def worker(stream: bool) -> None:
        body = {
            "model": "auto",
            "stream": stream,
            "messages": [{"role": "user", "content": "one two three four five six"}],
        }
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                problem = None
                if stream:
                    with client.stream(
                        "POST", url + "/v1/chat/completions", json=body, headers=headers
                    ) as r:
                        data = [x for x in r.iter_lines() if x.startswith("data: ")]
                    if r.status_code != 200 or not data or data[-1] != "data: [DONE]":
                        problem = f"stream {r.status_code}"
                else:
                    r = client.post(url + "/v1/chat/completions", json=body, headers=headers)
                    if r.status_code != 200:
                        problem = f"{r.status_code}"
                with lock:
                    done[0] += 1
                    if problem:
                        failures.append(problem)

    pool = [
        threading.Thread(target=worker, args=(i % 2 == 0,), daemon=True) for i in range(threads)
    ]
    for t in pool:
        t.start()
    visible: list[float] = []
    probe_body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    started = time.monotonic()
    with httpx.Client(timeout=10) as probe:
        for i in range(writes):
            valid = i % 2 == 0
            first, second = (
                ("mock/large", "mock/small") if (i // 2) % 2 == 0 else ("mock/small", "mock/large")
            )
            body = text(first, second)  # type: ignore[operator]
            if not valid:
                body = body.replace("strategies:", "strategies: [")
            tmp = path.with_name(".routers.yaml.tmp")
            tmp.write_text(body, encoding="utf-8")
            saved = time.monotonic()
            os.replace(tmp, path)
            if valid:
                want = "[" + first.split("/")[1] + "]"
                while True:
                    r = probe.post(url + "/v1/chat/completions", json=probe_body, headers=headers)
                    if r.status_code == 200 and r.json()["choices"][0]["message"][
                        "content"
                    ].startswith(want):
                        break
                    assert time.monotonic() - saved < 5, "a valid change was not served in 5 s"
                    time.sleep(0.01)
                visible.append((time.monotonic() - saved) * 1000)
            time.sleep(max(0.0, 0.4 - (time.monotonic() - saved)))
    elapsed = time.monotonic() - started
    stop.set()
    for t in pool:
        t.join(15)
    visible.sort()
    print(
        f"{writes} rewrites ({writes // 2} valid) in {elapsed:.1f} s under {threads} threads: "
        f"{done[0]} requests ({done[0] / elapsed:.0f}/s), {len(failures)} failed"
    )
    print(
        f"valid change visible after: p50 {statistics.median(visible):.0f} ms, "
        f"p90 {visible[int(len(visible) * 0.9)]:.0f} ms, max {visible[-1]:.0f} ms"
    )
    if failures:
        print("failures:", failures[:10])


if __name__ == "__main__":
    main()
