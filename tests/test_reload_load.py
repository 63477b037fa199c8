"""Hot reload under load (bounded, loopback): streaming and non-streaming requests run without a
pause while the config is rewritten 20 times, valid and invalid alternating. No request fails,
and each valid change is served within 1 s of the write. (``bench/reload_bench.py`` runs the
same scenario longer and heavier.)"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from tests.gateway import Gateway, running_gateway
from tests.test_gateway_reload import answered_by, save, until

CONFIG = """
version: 2
health: {{interval_s: 3600}}
providers:
  mock:
    type: mock
    models: {{small: {{}}, large: {{}}}}
strategies:
  main:
    models: [{first}, {second}]
clients:
  app:
    key_prefix: "{{key_prefix:app}}"
    key_hash: "{{key_hash:app}}"
    strategy: main
"""
WRITES = 20


def version(i: int) -> tuple[str, str | None]:
    """The text of write ``i`` and the model it makes first (None: an invalid write)."""
    if i % 2:
        return CONFIG.format(first="mock/small", second="mock/large").replace(
            "strategy: main", "strategy: [main"
        ), None
    first, second = (
        ("mock/large", "mock/small") if (i // 2) % 2 == 0 else ("mock/small", "mock/large")
    )
    return CONFIG.format(first=first, second=second), first.split("/")[1]


class Load:
    """Threads sending requests until stopped; every failure is kept."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.stop = threading.Event()
        self.failures: list[str] = []
        self.done = 0
        self._lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self.run, args=(stream,), daemon=True)
            for stream in (True, True, False, False)
        ]

    def run(self, stream: bool) -> None:
        headers = {"authorization": f"Bearer {self.gw.keys['app']}"}
        body = {
            "model": "auto",
            "stream": stream,
            "messages": [{"role": "user", "content": "one two three four five six"}],
        }
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set():
                problem = self.one(client, body, headers, stream)
                with self._lock:
                    self.done += 1
                    if problem:
                        self.failures.append(problem)

    def one(
        self, client: httpx.Client, body: dict[str, object], headers: dict[str, str], stream: bool
    ) -> str | None:
        url = self.gw.v1 + "/chat/completions"
        if not stream:
            r = client.post(url, json=body, headers=headers)
            return (
                None
                if r.status_code == 200 and r.json()["choices"]
                else f"{r.status_code} {r.text}"
            )
        with client.stream("POST", url, json=body, headers=headers) as r:
            if r.status_code != 200:
                return f"stream {r.status_code}"
            data = [line for line in r.iter_lines() if line.startswith("data: ")]
        if not data or data[-1] != "data: [DONE]" or any('"error"' in d for d in data):
            return f"stream ended badly: {data[-2:]}"
        return None


def test_twenty_rewrites_under_load_fail_no_request(tmp_path: Path) -> None:
    with running_gateway(
        CONFIG.format(first="mock/small", second="mock/large"), tmp_path, watch=True
    ) as gw:
        time.sleep(0.3)
        load = Load(gw)
        for t in load.threads:
            t.start()
        visible: list[float] = []
        probe = {"authorization": f"Bearer {gw.keys['app']}"}
        body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
        try:
            for i in range(WRITES):
                text, first = version(i)
                saved = save(gw, text)
                if first is None:
                    until(
                        lambda: httpx.get(gw.url + "/health").json()["config"]["status"] == "error"
                    )
                    continue

                def served(first: str = first) -> bool:
                    r = httpx.post(
                        gw.v1 + "/chat/completions", json=body, headers=probe, timeout=10
                    )
                    return answered_by(r) == first

                until(served, timeout=3)
                visible.append(time.monotonic() - saved)
        finally:
            load.stop.set()
            for t in load.threads:
                t.join(15)
        assert load.failures == [], load.failures[:5]
        assert load.done > 100
        assert len(visible) == WRITES // 2
        assert max(visible) < 1.0, visible
        health = httpx.get(gw.url + "/health").json()["config"]
        assert health["reloads"]["swapped"] == WRITES // 2
        assert health["reloads"]["failed"] == WRITES // 2
