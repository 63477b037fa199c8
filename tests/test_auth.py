"""Authentication: one bcrypt per key at most, successes and failures cached, reloads respected."""

from __future__ import annotations

import time
from dataclasses import replace
from types import MappingProxyType

import pytest

from localrouter.compiler.settings import compile_settings
from localrouter.compiler.table import Client, RoutingTable
from localrouter.config.spec import ConfigSpec
from localrouter.keygen import new_key
from localrouter.server import auth as auth_module
from localrouter.server.auth import Authenticator, presented_key


def table_with(*clients: Client) -> RoutingTable:
    return RoutingTable(
        sha256="x",
        providers=MappingProxyType({}),
        models=MappingProxyType({}),
        strategies=MappingProxyType({}),
        clients=MappingProxyType({c.name: c for c in clients}),
        clients_by_prefix=MappingProxyType({c.key_prefix: c.name for c in clients}),
        settings=compile_settings(ConfigSpec(version=2)),
        mcp_servers=MappingProxyType({}),
    )


def client(name: str, key_hash: str, prefix: str, enabled: bool = True) -> Client:
    return Client(name, prefix, key_hash, "s", (), (), enabled, False)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = auth_module._check

    def check(key: bytes, key_hash: str) -> bool:
        calls[0] += 1
        return real(key, key_hash)

    monkeypatch.setattr(auth_module, "_check", check)
    return calls


async def test_success_and_failure_are_cached(counted: list[int]) -> None:
    k = new_key(cost=4)
    table = table_with(client("app", k.hash, k.prefix))
    a = Authenticator()
    for _ in range(5):
        assert (await a.authenticate(table, k.key)).status == 200
    assert counted[0] == 1  # bcrypt once, then the HMAC-keyed cache
    wrong = k.prefix + "Z" * (len(k.key) - 11)
    for _ in range(3):
        assert (await a.authenticate(table, wrong)).status == 401
    assert counted[0] == 2  # a wrong key costs one check, then its cached failure; never per client


async def test_unknown_prefix_oversized_and_missing_cost_no_bcrypt(counted: list[int]) -> None:
    k = new_key(cost=4)
    table = table_with(client("app", k.hash, k.prefix))
    a = Authenticator()
    assert (await a.authenticate(table, None)).status == 401
    assert (await a.authenticate(table, "lr-unknownXXXXXXXXXXXXXXXXXXXXXXXX")).status == 401
    assert (await a.authenticate(table, k.prefix + "a" * 80)).status == 401  # > 72 bytes
    assert counted[0] == 0


async def test_rotation_removal_and_disable_apply_at_once(counted: list[int]) -> None:
    old, new = new_key(cost=4), new_key(cost=4)
    a = Authenticator()
    t1 = table_with(client("app", old.hash, old.prefix))
    assert (await a.authenticate(t1, old.key)).status == 200
    rotated = table_with(client("app", new.hash, new.prefix))
    assert (await a.authenticate(rotated, old.key)).status == 401  # cached, but the hash changed
    assert (await a.authenticate(table_with(), old.key)).status == 401  # client removed
    disabled = table_with(replace(client("app", old.hash, old.prefix), enabled=False))
    result = await a.authenticate(disabled, old.key)
    assert result.status == 403 and old.key not in result.message


async def test_cached_check_is_fast() -> None:
    k = new_key()  # the real cost, 12
    table = table_with(client("app", k.hash, k.prefix))
    a = Authenticator()
    t0 = time.perf_counter()
    await a.authenticate(table, k.key)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(100):
        await a.authenticate(table, k.key)
    cached = (time.perf_counter() - t0) / 100
    assert cached * 100 < first  # cached checks are orders of magnitude cheaper


def test_presented_key_sources() -> None:
    assert presented_key({"authorization": "Bearer lr-abc"}) == "lr-abc"
    assert presented_key({"authorization": "bearer  lr-abc "}) == "lr-abc"
    assert presented_key({"x-api-key": "lr-xyz"}) == "lr-xyz"
    assert presented_key({"authorization": "Basic abc"}) is None
