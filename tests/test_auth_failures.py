"""A wrong key that shares a real key's prefix is checked by bcrypt once, then refused from a
bounded cache of failures: later tries are cheap, and the real key is never locked out."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from localrouter.compiler.table import Client, RoutingTable
from localrouter.keygen import new_key
from localrouter.server import auth as auth_module
from localrouter.server.auth import Authenticator
from tests.gateway import running_gateway
from tests.test_auth import table_with

COST = 10  # ~0.05-0.2 s a check here (`keys create` uses 12: four times that)


def _timed(a: Authenticator, table: RoutingTable, key: str) -> tuple[int, float]:
    t0 = time.perf_counter()
    status = asyncio.run(a.authenticate(table, key)).status
    return status, time.perf_counter() - t0


def test_a_wrong_key_with_a_real_prefix_is_cheap_after_its_first_try() -> None:
    k = new_key(cost=COST)
    table = table_with(Client("app", k.prefix, k.hash, "s", (), (), True, False))
    a = Authenticator()
    wrong = k.prefix + "Z" * (len(k.key) - 11)
    status, first = _timed(a, table, wrong)
    assert status == 401 and first > 0.02  # one real bcrypt check
    cpu = time.process_time()  # CPU, not wall time: the suite runs beside another worker
    later = [_timed(a, table, wrong) for _ in range(20)]
    spent = (time.process_time() - cpu) / len(later)  # bcrypt's thread included
    assert all(s == 401 for s, _ in later)
    assert spent < 0.005, (spent, later)  # no bcrypt (~50 ms of CPU): a cached failure
    # the failure cache cannot lock the real key out
    assert _timed(a, table, k.key)[0] == 200
    assert _timed(a, table, wrong)[0] == 401


def test_the_failure_cache_is_bounded_and_follows_the_clients_hash() -> None:
    k = new_key(cost=4)
    app = Client("app", k.prefix, k.hash, "s", (), (), True, False)
    a = Authenticator(failure_cache_size=8)
    for i in range(50):
        asyncio.run(a.authenticate(table_with(app), k.prefix + f"{i:0>32}"))
    assert len(a._failed) == 8
    # the client's key rotated (same prefix here, new hash): the old failure is checked again
    wrong = k.prefix + "1" * 32
    rotated = new_key(cost=4)
    asyncio.run(a.authenticate(table_with(app), wrong))
    assert a._failed[a._mac(wrong)] == k.hash
    moved = Client("app", k.prefix, rotated.hash, "s", (), (), True, False)
    asyncio.run(a.authenticate(table_with(moved), wrong))
    assert a._failed[a._mac(wrong)] == rotated.hash


CONFIG = """
version: 2
providers:
  spare: {{type: mock, models: {{slow: {{}}}}}}
strategies:
  solo: {{models: [spare/slow]}}
clients:
  app: {{key_prefix: "{prefix}", key_hash: "{hash}", strategy: solo}}
"""
CHAT = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


def test_through_the_gateway_later_wrong_tries_take_no_bcrypt(tmp_path: Path) -> None:
    k = new_key(cost=COST)
    wrong = k.prefix + "Q" * (len(k.key) - 11)
    with running_gateway(CONFIG.format(prefix=k.prefix, hash=k.hash), tmp_path) as gw:
        # a connection per request: on a kept-alive one this harness adds a ~40 ms delayed ACK
        fresh = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=gw.v1, limits=fresh) as http:
            bad = {"authorization": f"Bearer {wrong}"}
            http.get("/models", headers=bad)  # the one bcrypt check
            times = []
            for _ in range(10):
                t0 = time.perf_counter()
                r = http.get("/models", headers=bad)  # no body: only the key is timed
                times.append(time.perf_counter() - t0)
                assert r.status_code == 401
            # one bcrypt check at cost 10 alone takes ~0.05-0.2 s: no try comes near it (the
            # whole HTTP round trip, on a machine shared with other work, is a few ms)
            assert min(times) < 0.005 and sorted(times)[len(times) // 2] < 0.05, times
            good = {"authorization": f"Bearer {k.key}"}
            assert http.post("/chat/completions", json=CHAT, headers=good).status_code == 200


def test_tries_of_one_key_arriving_together_cost_at_most_two_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = [0]
    real = auth_module._check

    def counted(key: bytes, key_hash: str) -> bool:
        calls[0] += 1
        return real(key, key_hash)

    monkeypatch.setattr(auth_module, "_check", counted)
    k = new_key(cost=COST)
    table = table_with(Client("app", k.prefix, k.hash, "s", (), (), True, False))
    a = Authenticator()
    wrong = k.prefix + "W" * (len(k.key) - 11)

    async def burst() -> list[int]:
        got = await asyncio.gather(*(a.authenticate(table, wrong) for _ in range(20)))
        return [r.status for r in got]

    assert asyncio.run(burst()) == [401] * 20
    assert calls[0] <= auth_module.MAX_CONCURRENT_CHECKS
