"""``Retry-After`` and ``x-ratelimit-reset-*`` never exceed the limit's window.

Each unit of usage leaves the window exactly ``W`` after the instant it was recorded at (the ring
keeps each bucket's latest instant), so the wait announced on a 429 is at most ``W`` and, when a
client comes back after exactly that long, it is admitted: checked on the Limiter with an injected
clock at every offset inside a bucket, for 1 s and 1 min windows, and through the running gateway.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import httpx
import pytest

from localrouter.compiler.table import LimitPolicy
from localrouter.runtime.limits import Admission, Limiter, Rejection, usage
from localrouter.runtime.store import MemoryStore
from tests.gateway import running_gateway

T0 = 1_728_000_000.0


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def pol(metric: str, amount: float, window_s: int) -> LimitPolicy:
    return LimitPolicy("client", "c", metric, float(amount), f"{window_s}s", window_s)


@pytest.mark.parametrize("window_s", [1, 60])
@pytest.mark.parametrize("offset_ms", [0, 1, 3, 7, 250, 499])
async def test_retry_after_and_reset_never_exceed_the_window(window_s: int, offset_ms: int) -> None:
    clock = Clock(T0 + offset_ms / 1000)  # anywhere inside a bucket (1 s / 120 = 8.3 ms)
    lim = Limiter(MemoryStore(), clock)
    reqs = pol("requests", 1, window_s)
    first = await lim.check([reqs], usage())
    assert isinstance(first, Admission)
    assert float(first.headers["x-ratelimit-reset-requests"]) <= window_s
    r = await lim.check([reqs], usage())
    assert isinstance(r, Rejection)
    assert int(r.headers["Retry-After"]) <= window_s
    assert float(r.headers["x-ratelimit-reset-requests"]) <= window_s
    assert r.retry_after_s <= window_s + 0.001  # exact to the clock's millisecond
    # the announced wait is exact: one millisecond early refused, on time admitted
    clock.t = first.now + window_s - 0.001
    assert isinstance(await lim.check([reqs], usage()), Rejection)
    clock.t = first.now + window_s
    assert isinstance(await lim.check([reqs], usage()), Admission)


async def test_a_minute_window_announces_at_most_60_seconds() -> None:
    clock = Clock(T0 + 0.010)
    lim = Limiter(MemoryStore(), clock)
    reqs = pol("requests", 3, 60)
    for _ in range(3):
        assert isinstance(await lim.check([reqs], usage()), Admission)
    r = await lim.check([reqs], usage())
    assert isinstance(r, Rejection)
    assert r.headers["Retry-After"] == "60"
    assert r.message.endswith("retry in 60 s")


async def test_restored_counters_keep_the_bound(tmp_path: Path) -> None:
    clock = Clock(T0 + 0.003)
    path = tmp_path / "limits.sqlite3"
    store = MemoryStore(path)
    reqs = pol("requests", 1, 60)
    assert isinstance(await Limiter(store, clock).check([reqs], usage()), Admission)
    store.snapshot()
    clock.t += 5
    again = MemoryStore(path)
    again.restore()
    r = await Limiter(again, clock).check([reqs], usage())
    assert isinstance(r, Rejection)
    assert r.retry_after_s <= 60 - 5 + 1e-9  # never later than the window allows
    assert math.ceil(r.retry_after_s) == int(r.headers["Retry-After"])


CONFIG = """
version: 2
providers:
  spare: {type: mock, models: {slow: {}}}
strategies:
  solo: {models: [spare/slow]}
clients:
  second:
    key_prefix: "{key_prefix:second}"
    key_hash: "{key_hash:second}"
    strategy: solo
    limits: [{requests: 1, per: 1s}]
  minute:
    key_prefix: "{key_prefix:minute}"
    key_hash: "{key_hash:minute}"
    strategy: solo
    limits: [{requests: 1, per: 1m}]
"""
CHAT = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


def test_the_gateway_announces_at_most_the_window(tmp_path: Path) -> None:
    with running_gateway(CONFIG, tmp_path) as gw:
        for name, window in (("second", 1), ("minute", 60)):
            auth = {"authorization": f"Bearer {gw.keys[name]}"}
            ok = httpx.post(f"{gw.v1}/chat/completions", json=CHAT, headers=auth)
            assert ok.status_code == 200, ok.text
            assert float(ok.headers["x-ratelimit-reset-requests"]) <= window
            for _ in range(3):
                r = httpx.post(f"{gw.v1}/chat/completions", json=CHAT, headers=auth)
                assert r.status_code == 429
                assert 1 <= int(r.headers["retry-after"]) <= window
                assert float(r.headers["x-ratelimit-reset-requests"]) <= window
        # and the 1 s window really is free again after the announced second
        auth = {"authorization": f"Bearer {gw.keys['second']}"}
        r = httpx.post(f"{gw.v1}/chat/completions", json=CHAT, headers=auth)
        time.sleep(int(r.headers.get("retry-after", "1")))
        assert httpx.post(f"{gw.v1}/chat/completions", json=CHAT, headers=auth).status_code == 200
