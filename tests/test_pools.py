"""The upstream client pool: one client per provider as configured, a changed provider gets a new
one, the old one is retired and closed once idle (the gateway-level behaviour, with real
connections, is in tests/test_gateway_reload_bounds.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time

import pytest

from localrouter.compiler.table import Provider, SecretValue
from localrouter.providers.transport import HttpTransport
from localrouter.providers.transport_memory import MemoryTransport, Reply, Request
from localrouter.server import bounded, pools
from localrouter.server.bounded import Abandoned, run_bounded
from localrouter.server.pools import ClientPool, client_key
from localrouter.server.upstreams import Upstreams


def provider(name: str = "p", read_s: float = 5.0, **changes: object) -> Provider:
    p = Provider(name, "openai-compatible", "openai", "http://127.0.0.1:9/v1", None, "api", 2.0,
                 read_s, {}, (), False)  # fmt: skip
    return dataclasses.replace(p, **changes)  # type: ignore[arg-type]


def test_every_connection_setting_is_in_the_key() -> None:
    base = client_key(provider())
    assert client_key(provider()) == base  # equal settings: the same client
    for change in (
        {"read_s": 0.5},
        {"connect_s": 9.0},
        {"base_url": "http://127.0.0.1:10/v1"},
        {"headers": {"x-team": "a"}},
        {"api_key": SecretValue("env", "OTHER")},
        {"type": "openai", "wire": "openai"},
    ):
        assert client_key(provider(**change)) != base, change


async def test_a_changed_provider_gets_a_new_client_and_the_old_one_is_closed_when_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pools, "QUIET_S", 0.0)
    up = Upstreams()
    old, new = provider(read_s=5.0), provider(read_s=0.5)
    up.pool.reconcile([old])
    first = up.client(old)
    assert isinstance(first, HttpTransport)
    assert up.client(old) is first and first.read_s == 5.0
    assert up.pool.reconcile([new]) == 1
    second = up.client(new)
    assert isinstance(second, HttpTransport)
    assert second is not first and second.read_s == 0.5
    assert up.client(old) is first  # a request begun on the old table: its own client
    assert up.pool.retired == 1
    assert await up.pool.close_retired() == 1
    assert first.closed and not second.closed
    # a request of the old table after that gets a client that retires at once (no leak)
    late = up.client(old)
    assert isinstance(late, HttpTransport)
    assert late is not first and up.pool.retired == 1
    await up.aclose()
    assert second.closed and late.closed


async def test_a_retired_client_in_use_waits_and_the_grace_period_ends_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pools, "QUIET_S", 0.0)
    pool = ClientPool(lambda p: MemoryTransport(_answer))
    gone = provider("gone")
    pool.reconcile([gone])
    client = pool.get(gone)
    assert isinstance(client, MemoryTransport)
    pool.reconcile([])
    async with client.stream("http://p/v1/x", {}, b"{}"):  # a stream holds a connection
        assert await pool.close_retired() == 0 and not client.closed
        assert await pool.close_retired(grace_s=0.0) == 1 and client.closed


async def _answer(request: Request) -> Reply:
    return Reply(200, {"content-type": "text/event-stream"}, b"data: {}\n\n")


def test_a_provider_put_back_keeps_its_client() -> None:
    pool = ClientPool(lambda p: MemoryTransport(_answer))
    p = provider()
    pool.reconcile([p])
    client = pool.get(p)
    pool.reconcile([provider(read_s=1.0)])
    pool.reconcile([provider()])  # reverted before the old one was closed: live again
    assert pool.get(provider()) is client and pool.retired == 0


async def test_a_bounded_job_returns_raises_and_is_stopped_past_its_deadline() -> None:
    abandoned = Abandoned()
    assert await run_bounded(lambda: 41 + 1, 5, abandoned, "t") == 42
    with pytest.raises(ZeroDivisionError):
        await run_bounded(lambda: 1 // 0, 5, abandoned, "t")
    spinning = threading.Event()

    def forever() -> None:
        spinning.set()
        while True:  # a pure-Python loop, as a config walker stuck in a cycle
            time.sleep(0.001)

    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"within 0\.2 s"):
        await run_bounded(forever, 0.2, abandoned, "t")
    assert time.monotonic() - started < 1.0
    assert spinning.is_set()
    for _ in range(100):  # the thread is stopped, not left spinning
        if abandoned.running == 0:
            break
        await asyncio.sleep(0.02)
    assert abandoned.running == 0


async def test_no_new_job_while_too_many_overran(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bounded, "MAX_ABANDONED", 1)
    abandoned = Abandoned()
    release = threading.Event()
    stuck = threading.Thread(target=release.wait, daemon=True)
    stuck.start()
    abandoned.add(stuck)  # one that would not stop (e.g. inside a C call)
    try:
        with pytest.raises(TimeoutError, match="still running"):
            await run_bounded(lambda: 1, 5, abandoned, "t")
    finally:
        release.set()
        stuck.join()
    assert await run_bounded(lambda: 1, 5, abandoned, "t") == 1
