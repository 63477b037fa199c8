"""Model discovery (runtime/catalog.py): cache, background rounds, change detection, reconcile.

Every test drives the real :class:`Discovery` with scripted ``list_models`` functions (no network):
a script is a list of outcomes, one per call — a list of models, an exception to raise, or
``HANG`` (sleep far past any timeout). Hypothesis checks the cache round trip and, against a
plain reference model, that after any sequence of rounds the snapshot holds each provider's last
successful listing and ``on_change`` fired exactly once per real change.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localrouter.compiler.build import build
from localrouter.compiler.catalog import CatalogSnapshot, DiscoveredModel, build_catalog
from localrouter.compiler.table import Provider
from localrouter.config.spec import ConfigSpec
from localrouter.errors import UpstreamConnectError, UpstreamHTTPError
from localrouter.runtime.catalog import (
    CACHE_NAME,
    MAX_CACHE_BYTES,
    Discovery,
    clean_models,
    write_atomic,
)

HANG = "hang"
T0 = 1_700_000_000.0
Outcome = Sequence[DiscoveredModel] | BaseException | str


def provider(
    name: str,
    *,
    type_: str = "ollama",
    wire: str | None = None,
    base_url: str | None = "http://127.0.0.1:11434",
    discover: bool = True,
) -> Provider:
    return Provider(
        name=name,
        type=type_,
        wire=wire or ("openai" if type_ == "openai-compatible" else type_),
        base_url=base_url,
        api_key=None,
        kind="local",
        connect_s=5.0,
        read_s=600.0,
        headers=MappingProxyType({}),
        limits=(),
        discover=discover,
    )


def models(*names: str, **fields: object) -> list[DiscoveredModel]:
    return [DiscoveredModel(n, **fields) for n in names]  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


class Lister:
    """A scripted ``list_models``: each call pops the provider's next outcome (the last repeats)."""

    def __init__(self, scripts: dict[str, list[Outcome]]) -> None:
        self.scripts = scripts
        self.calls: list[str] = []

    async def __call__(self, p: Provider) -> list[DiscoveredModel]:
        self.calls.append(p.name)
        script = self.scripts[p.name]
        outcome = script.pop(0) if len(script) > 1 else script[0]
        await asyncio.sleep(0)
        if outcome == HANG:
            await asyncio.sleep(60)
        if isinstance(outcome, BaseException):
            raise outcome
        assert not isinstance(outcome, str)
        return list(outcome)


async def never_called(p: Provider) -> list[DiscoveredModel]:
    raise AssertionError(f"list_models called for {p.name} at start-up")


class Changes:
    def __init__(self) -> None:
        self.seen: list[CatalogSnapshot] = []

    def __call__(self, snapshot: CatalogSnapshot) -> None:
        self.seen.append(snapshot)


def names_of(snapshot: CatalogSnapshot) -> dict[str, list[str]]:
    return {p: [m.name for m in ms] for p, ms in snapshot.providers.items()}


# ------------------------------------------------------------------ cache on disk


async def test_start_up_loads_the_cache_without_the_network(tmp_path: Path) -> None:
    first = Discovery(
        Clock(), tmp_path, list_models=Lister({"local": [models("qwen2.5-coder:7b", "llama3:8b")]})
    )
    first.reconcile([provider("local")])
    await first.refresh_now()
    second = Discovery(Clock(), tmp_path, list_models=never_called)
    t = time.perf_counter()
    snapshot = second.load_cached()
    assert time.perf_counter() - t < 0.05
    assert names_of(snapshot) == {"local": ["llama3:8b", "qwen2.5-coder:7b"]}
    assert snapshot == first.snapshot and second.snapshot == snapshot
    assert second.status()["local"].models == 2
    assert second.status()["local"].fetched_at == T0 + 1


def test_a_hand_written_cache_of_this_format_loads(tmp_path: Path) -> None:
    doc = {
        "format": "localrouter-catalog",
        "version": 1,
        "written_at": T0,
        "providers": {
            "local": {
                "identity": "0123456789abcdef",
                "fetched_at": T0,
                "models": [
                    {"name": "b:7b", "context_window": 8192, "params_b": 7},
                    {"name": "a", "input_per_mtok": 0.5, "capabilities": ["tools", "chat"]},
                ],
            }
        },
    }
    (tmp_path / CACHE_NAME).write_text(json.dumps(doc))
    snap = Discovery(Clock(), tmp_path, list_models=never_called).load_cached()
    assert snap.providers["local"] == (
        DiscoveredModel("a", input_per_mtok=0.5, capabilities=("chat", "tools")),
        DiscoveredModel("b:7b", context_window=8192, params_b=7.0),
    )


def test_no_cache_and_no_state_dir_are_empty(tmp_path: Path) -> None:
    assert Discovery(Clock(), tmp_path, list_models=never_called).load_cached() == CatalogSnapshot()
    assert Discovery(Clock(), None, list_models=never_called).load_cached() == CatalogSnapshot()


async def test_cache_is_written_atomically_with_mode_0600(tmp_path: Path) -> None:
    state = tmp_path / "state"
    path = state / CACHE_NAME
    d = Discovery(Clock(), state, list_models=Lister({"local": [models("a", "b")]}))
    d.reconcile([provider("local")])
    await d.refresh_now()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert os.listdir(state) == [CACHE_NAME]  # no temp file left behind
    doc = json.loads(path.read_bytes())
    assert (doc["format"], doc["version"]) == ("localrouter-catalog", 1)
    assert [m["name"] for m in doc["providers"]["local"]["models"]] == ["a", "b"]
    # an existing file with looser permissions is replaced, not rewritten in place
    path.chmod(0o644)
    before = path.stat().st_ino
    await d.refresh_now()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.stat().st_ino != before


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / CACHE_NAME
    write_atomic(path, b"old")
    with pytest.raises(TypeError):
        write_atomic(path, "not bytes")  # type: ignore[arg-type]  # fails mid-write
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == [CACHE_NAME]


GOOD_MODEL = {"name": "m", "params_b": 7}
CORRUPT = {
    "truncated": b'{"format": "localrouter-catalog", "vers',
    "empty": b"",
    "not utf-8": b"\xff\xfe{}",
    "a list": b"[]",
    "another format": json.dumps({"format": "x", "version": 1, "providers": {}}).encode(),
    "a newer version": json.dumps(
        {"format": "localrouter-catalog", "version": 2, "providers": {}}
    ).encode(),
    "NaN": b'{"format": "localrouter-catalog", "version": 1, "providers": {"p": {"identity": "x",'
    b' "models": [{"name": "m", "params_b": NaN}]}}}',
    "negative params": {"name": "m", "params_b": -7},
    "bool context": {"name": "m", "context_window": True},
    "unknown field": {"name": "m", "colour": "red"},
    "nameless": {"params_b": 7},
    "capabilities not strings": {"name": "m", "capabilities": [1]},
    "capabilities a string": {"name": "m", "capabilities": "chat"},
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
}


def _cache_with(model: object) -> bytes:
    entry = {"identity": "x", "fetched_at": T0, "models": [GOOD_MODEL, model]}
    doc = {"format": "localrouter-catalog", "version": 1, "providers": {"p": entry}}
    return json.dumps(doc).encode()


@pytest.mark.parametrize("case", sorted(CORRUPT))
async def test_a_corrupt_cache_is_ignored_with_a_warning_and_refilled(
    case: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    raw = CORRUPT[case]
    (tmp_path / CACHE_NAME).write_bytes(raw if isinstance(raw, bytes) else _cache_with(raw))
    d = Discovery(Clock(), tmp_path, list_models=Lister({"p": [models("fresh")]}))
    with caplog.at_level(logging.WARNING, "localrouter.discovery"):
        assert d.load_cached() == CatalogSnapshot()
    assert "ignored" in caplog.text and "discovery will refill it" in caplog.text
    d.reconcile([provider("p")])
    await d.refresh_now()
    snap = Discovery(Clock(), tmp_path, list_models=never_called).load_cached()
    assert names_of(snap) == {"p": ["fresh"]}


def test_an_oversized_cache_is_ignored_unread(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with open(tmp_path / CACHE_NAME, "wb") as f:
        f.truncate(MAX_CACHE_BYTES + 1)  # sparse: instant
    with caplog.at_level(logging.WARNING, "localrouter.discovery"):
        assert Discovery(Clock(), tmp_path, list_models=never_called).load_cached().providers == {}
    assert "over" in caplog.text


# ------------------------------------------------------------------ rounds


async def test_a_round_merges_every_provider_and_normalises_listings(tmp_path: Path) -> None:
    lister = Lister(
        {
            "local": [
                [
                    *models("b", "a", ""),
                    DiscoveredModel("a", context_window=4096, params_b=float("nan")),
                ]
            ],
            "cloud": [models("gpt-4o", context_window=128_000, params_b=-1.0)],
            "off": [models("never")],
            "mock": [models("never")],
        }
    )
    d = Discovery(Clock(), tmp_path, list_models=lister)
    d.reconcile(
        {
            "local": provider("local"),
            "cloud": provider("cloud", type_="openai", base_url="https://api.openai.com/v1"),
            "off": provider("off", discover=False),
            "mock": provider("mock", type_="mock", base_url=None),
        }
    )
    report = await d.refresh_now()
    assert report.listed == ("cloud", "local") and not report.failed and report.changed
    assert sorted(lister.calls) == ["cloud", "local"]
    assert d.snapshot.providers == {
        "cloud": (DiscoveredModel("gpt-4o", context_window=128_000),),
        "local": (DiscoveredModel("a", context_window=4096), DiscoveredModel("b")),  # last wins
    }
    assert list(d.snapshot.providers) == ["cloud", "local"]


async def test_a_failing_provider_keeps_its_last_known_models(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lister = Lister(
        {
            "a": [
                models("a1"),
                UpstreamConnectError("a: connection refused", provider="a"),
                UpstreamHTTPError("a answered 503", provider="a", status=503),
                models("a2"),
            ],
            "b": [models("b1"), models("b2"), models("b2"), models("b2")],
        }
    )
    d = Discovery(Clock(), tmp_path, list_models=lister)
    d.reconcile([provider("a"), provider("b")])
    await d.refresh_now()
    with caplog.at_level(logging.WARNING, "localrouter.discovery"):
        report = await d.refresh_now()
    assert report.failed == {"a": "a: connection refused"} and report.listed == ("b",)
    assert names_of(d.snapshot) == {"a": ["a1"], "b": ["b2"]}
    assert "keeping its last known models" in caplog.text
    await d.refresh_now()
    st_a = d.status()["a"]
    assert (st_a.models, st_a.failures, st_a.error) == (1, 2, "a answered 503")
    assert st_a.fetched_at is not None and st_a.attempted_at is not None
    assert st_a.fetched_at < st_a.attempted_at
    await d.refresh_now()
    assert names_of(d.snapshot) == {"a": ["a2"], "b": ["b2"]}
    assert d.status()["a"].failures == 0 and d.status()["a"].error is None
    # what survives a failure also survives a restart: the cache has it
    again = Discovery(Clock(), tmp_path, list_models=Lister({"a": [RuntimeError()], "b": [[]]}))
    again.load_cached()
    again.reconcile([provider("a"), provider("b")])
    await again.refresh_now()
    assert names_of(again.snapshot) == {"a": ["a2"]}  # b listed nothing: gone


async def test_failures_are_reported_without_leaking_messages(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-live-0123456789abcdef"
    d = Discovery(
        Clock(), tmp_path, list_models=Lister({"p": [RuntimeError(f"GET ?key={secret} failed")]})
    )
    d.reconcile([provider("p")])
    with caplog.at_level(logging.DEBUG):
        report = await d.refresh_now()
    assert report.failed["p"].startswith("unexpected RuntimeError at test_discovery.py:")
    assert secret not in caplog.text and secret not in str(d.status())


async def test_not_a_list_is_a_failure(tmp_path: Path) -> None:
    async def bad(p: Provider) -> list[DiscoveredModel]:
        return "oops"  # type: ignore[return-value]

    d = Discovery(Clock(), None, list_models=bad)
    d.reconcile([provider("p")])
    report = await d.refresh_now()
    assert "TypeError" in report.failed["p"] and d.snapshot == CatalogSnapshot()


async def test_the_timeout_is_per_provider() -> None:
    lister = Lister(
        {
            "slow": [HANG, models("late")],
            "s2": [HANG],
            "s3": [HANG],
            "s4": [HANG],
            "fast": [models("x")],
        }
    )
    d = Discovery(Clock(), None, list_models=lister, timeout_s=0.2)
    d.reconcile([provider(n) for n in ("slow", "s2", "s3", "fast")])
    t = time.perf_counter()
    report = await d.refresh_now()
    elapsed = time.perf_counter() - t
    assert 0.2 <= elapsed < 0.5  # concurrent: one timeout, not three
    assert report.failed == {n: "no model list within 0.2 s" for n in ("s2", "s3", "slow")}
    assert report.listed == ("fast",)
    # bounded concurrency: three hanging providers one at a time take three timeouts
    serial = Discovery(Clock(), None, list_models=lister, timeout_s=0.2, concurrency=1)
    serial.reconcile([provider(n) for n in ("s2", "s3", "s4", "fast")])
    t = time.perf_counter()
    await serial.refresh_now()
    assert time.perf_counter() - t >= 0.6
    # the slow one answers next time
    await d.refresh_now()
    assert names_of(d.snapshot)["slow"] == ["late"]


# ------------------------------------------------------------------ on_change


async def test_on_change_fires_once_per_real_change(tmp_path: Path) -> None:
    lister = Lister(
        {
            "p": [
                models("a"),
                models("a"),
                [DiscoveredModel("a")],  # equal content, new objects
                models("a", "b"),
                models("b", "a"),  # order is not a change
                UpstreamConnectError("down", provider="p"),  # a failure keeps the models
                models("a", "b"),
                models("a", params_b=3.0),  # a field is a change
            ]
        }
    )
    changes = Changes()
    d = Discovery(Clock(), tmp_path, list_models=lister, on_change=changes)
    d.reconcile([provider("p")])
    flags = [(await d.refresh_now()).changed for _ in range(8)]
    assert flags == [True, False, False, True, False, False, False, True]
    assert [names_of(s) for s in changes.seen] == [{"p": ["a"]}, {"p": ["a", "b"]}, {"p": ["a"]}]
    assert changes.seen[-1].providers["p"][0].params_b == 3.0
    assert changes.seen[-1] is d.snapshot


async def test_the_cached_snapshot_is_the_baseline(tmp_path: Path) -> None:
    seed = Discovery(Clock(), tmp_path, list_models=Lister({"p": [models("a")]}))
    seed.reconcile([provider("p")])
    await seed.refresh_now()
    changes = Changes()
    d = Discovery(
        Clock(), tmp_path, list_models=Lister({"p": [models("a"), models("b")]}), on_change=changes
    )
    d.load_cached()
    d.reconcile([provider("p")])
    await d.refresh_now()
    assert changes.seen == []  # the server compiled with the cache: nothing new
    await d.refresh_now()
    assert [names_of(s) for s in changes.seen] == [{"p": ["b"]}]


async def test_an_async_on_change_that_fails_is_retried_after_the_next_round() -> None:
    calls: list[dict[str, list[str]]] = []

    async def on_change(snapshot: CatalogSnapshot) -> None:
        calls.append(names_of(snapshot))
        await asyncio.sleep(0)
        if len(calls) == 1:
            raise RuntimeError("recompile failed")

    d = Discovery(Clock(), None, list_models=Lister({"p": [models("a")]}), on_change=on_change)
    d.reconcile([provider("p")])
    for _ in range(3):
        await d.refresh_now()
    assert calls == [{"p": ["a"]}, {"p": ["a"]}]  # failed, retried, then delivered once


# ------------------------------------------------------------------ reconcile


async def test_reconcile_follows_the_table(tmp_path: Path) -> None:
    lister = Lister({"a": [models("a1")], "b": [models("b1")], "c": [models("c1")]})
    changes = Changes()
    d = Discovery(Clock(), tmp_path, list_models=lister, on_change=changes)
    r = d.reconcile([provider("a"), provider("b")])
    assert (r.added, r.removed, r.changed) == (("a", "b"), (), ())
    await d.refresh_now()
    assert len(changes.seen) == 1
    moved = provider("b", base_url="http://10.0.0.2:11434")
    r = d.reconcile([moved, provider("c"), provider("a", discover=False)])
    assert (r.added, r.removed, r.changed) == (("c",), ("a",), ("b",))
    assert d.snapshot.providers == {}  # a is gone; b's models were another server's
    assert len(changes.seen) == 1  # reconcile never calls on_change
    assert set(d.status()) == {"b", "c"} and d.status()["c"].models == 0
    lister.calls.clear()
    await d.refresh_now()
    assert sorted(lister.calls) == ["b", "c"]
    assert names_of(d.snapshot) == {"b": ["b1"], "c": ["c1"]}
    assert len(changes.seen) == 2


async def test_a_moved_provider_that_cannot_be_listed_loses_its_old_models() -> None:
    changes = Changes()
    lister = Lister({"b": [models("b1"), UpstreamConnectError("refused", provider="b")]})
    d = Discovery(Clock(), None, list_models=lister, on_change=changes)
    d.reconcile([provider("b")])
    await d.refresh_now()
    d.reconcile([provider("b", base_url="http://10.0.0.2:11434")])  # the table still has b1
    report = await d.refresh_now()
    assert report.failed == {"b": "refused"}
    assert [names_of(s) for s in changes.seen] == [{"b": ["b1"]}, {}]


async def test_removing_a_provider_is_no_change_to_deliver() -> None:
    changes = Changes()
    lister = Lister({"a": [models("a1")], "b": [models("b1")]})
    d = Discovery(Clock(), None, list_models=lister, on_change=changes)
    d.reconcile([provider("a"), provider("b")])
    await d.refresh_now()
    d.reconcile([provider("b")])  # the server compiled a table without "a" already
    report = await d.refresh_now()
    assert not report.changed and len(changes.seen) == 1
    assert names_of(d.snapshot) == {"b": ["b1"]}


async def test_reconcile_drops_cached_providers_not_in_the_table(tmp_path: Path) -> None:
    seed = Discovery(Clock(), tmp_path, list_models=Lister({"a": [models("x")], "b": [[]]}))
    seed.reconcile([provider("a"), provider("b")])
    await seed.refresh_now()
    d = Discovery(Clock(), tmp_path, list_models=never_called)
    d.load_cached()
    r = d.reconcile([provider("b")])
    assert r.removed == ("a",) and r.added == () and d.snapshot.providers == {}
    # after reconcile, a cache load keeps only the table's providers with the same identity
    assert d.load_cached().providers == {}


async def test_an_answer_for_a_provider_removed_meanwhile_is_discarded() -> None:
    gate = asyncio.Event()

    async def slow(p: Provider) -> list[DiscoveredModel]:
        await gate.wait()
        return models("stale")

    d = Discovery(Clock(), None, list_models=slow)
    d.reconcile([provider("a")])
    round_ = asyncio.ensure_future(d.refresh_now())
    await asyncio.sleep(0.01)
    d.reconcile([provider("a", base_url="http://elsewhere:11434")])
    gate.set()
    report = await round_
    assert report.listed == () and d.snapshot.providers == {}


# ------------------------------------------------------------------ the background task


async def until(condition: Callable[[], bool], within_s: float = 3.0) -> float:
    """Wait until ``condition()`` holds; the seconds it took."""
    t = time.perf_counter()
    while not condition():
        assert time.perf_counter() - t < within_s, "condition not reached"
        await asyncio.sleep(0.005)
    return time.perf_counter() - t


async def test_run_refreshes_at_once_then_every_interval() -> None:
    lister = Lister({"p": [models("a"), models("b"), models("c")]})
    changes = Changes()
    d = Discovery(Clock(), None, interval_s=0.3, list_models=lister, on_change=changes)
    d.reconcile([provider("p")])
    task = asyncio.ensure_future(d.run())  # start-up does not wait for it
    try:
        first = await until(lambda: len(changes.seen) == 1)
        assert first < 0.3 and len(lister.calls) == 1  # at once, not after an interval
        second = first + await until(lambda: len(changes.seen) == 2)
        assert second >= 0.25 and len(lister.calls) == 2
        assert [names_of(s) for s in changes.seen] == [{"p": ["a"]}, {"p": ["b"]}]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_run_lists_a_new_provider_early_and_survives_cancelling() -> None:
    lister = Lister({"a": [models("a1")], "b": [models("b1")], "h": [HANG]})
    d = Discovery(Clock(), None, interval_s=3600, list_models=lister, timeout_s=30)
    d.reconcile([provider("a")])
    task = asyncio.ensure_future(d.run())
    try:
        await until(lambda: lister.calls == ["a"])
        d.reconcile([provider("a"), provider("b")])
        await until(lambda: "b" in d.snapshot.providers)  # long before the hour is up
        assert lister.calls == ["a", "b"]  # only the new one
        assert names_of(d.snapshot) == {"a": ["a1"], "b": ["b1"]}
        d.reconcile([provider("a"), provider("b"), provider("h")])
        await until(lambda: "h" in lister.calls)
    finally:
        task.cancel()  # while "h" hangs
        with pytest.raises(asyncio.CancelledError):
            await task
    assert names_of(d.snapshot) == {"a": ["a1"], "b": ["b1"]}


# ------------------------------------------------------------------ properties

model_names = st.from_regex(r"[a-z][a-z0-9.:-]{0,12}", fullmatch=True)
numbers = st.one_of(st.none(), st.floats(0, 1e6, allow_nan=False), st.integers(0, 10**6))
listed_models = st.builds(
    DiscoveredModel,
    name=model_names,
    context_window=st.one_of(st.none(), st.integers(1, 10**7)),
    params_b=numbers,
    input_per_mtok=numbers,
    output_per_mtok=numbers,
    capabilities=st.one_of(
        st.none(), st.lists(st.sampled_from(["chat", "tools", "vision"])).map(tuple)
    ),
)
listings = st.lists(listed_models, max_size=6)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), listings, max_size=3))
def test_property_the_cache_round_trips(found: dict[str, list[DiscoveredModel]]) -> None:
    async def go(state: str) -> None:
        d = Discovery(Clock(), state, list_models=Lister({n: [ms] for n, ms in found.items()}))
        d.reconcile([provider(n) for n in found])
        await d.refresh_now()
        loaded = Discovery(Clock(), state, list_models=never_called).load_cached()
        assert loaded == d.snapshot
        assert loaded.providers == {n: clean_models(ms) for n, ms in found.items() if ms}

    with tempfile.TemporaryDirectory() as state:
        asyncio.run(go(state))


@settings(max_examples=60, deadline=None)
@given(st.lists(listings, min_size=2, max_size=4).map(lambda xs: [*xs, list(reversed(xs[0]))]))
def test_property_listing_order_never_matters(variants: list[list[DiscoveredModel]]) -> None:
    unique = list({m.name: m for m in variants[0]}.values())
    assert clean_models(unique) == clean_models(list(reversed(unique)))
    for v in variants:
        cleaned = clean_models(v)
        assert [m.name for m in cleaned] == sorted({m.name for m in v})
        assert clean_models(cleaned) == cleaned  # idempotent


rounds = st.lists(
    st.fixed_dictionaries(
        {
            n: st.one_of(st.none(), st.lists(st.sampled_from(["x:7b", "y", "z"]), max_size=3))
            for n in ("a", "b")
        }
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=80, deadline=None)
@given(rounds)
def test_property_rounds_match_a_reference_model(script: list[dict[str, list[str] | None]]) -> None:
    """None is a failed listing. Reference: each provider's last successful listing; on_change
    fires exactly when that differs from what it last delivered."""
    scripts: dict[str, list[Outcome]] = {"a": [], "b": []}
    for r in script:
        for n, listing in r.items():
            scripts[n].append(UpstreamConnectError("down") if listing is None else models(*listing))

    async def go() -> None:
        changes = Changes()
        d = Discovery(Clock(), None, list_models=Lister(scripts), on_change=changes)
        d.reconcile([provider("a"), provider("b")])
        known: dict[str, list[str]] = {}
        delivered: dict[str, list[str]] = {}
        expected_calls = 0
        for r in script:
            for n, listing in r.items():
                if listing is not None:
                    known[n] = sorted(set(listing))
            current = {n: ms for n, ms in sorted(known.items()) if ms}
            if current != delivered:
                expected_calls += 1
                delivered = current
            report = await d.refresh_now()
            assert names_of(d.snapshot) == current
            assert set(report.failed) == {n for n, ms in r.items() if ms is None}
            assert len(changes.seen) == expected_calls
            for m in (m for ms in d.snapshot.providers.values() for m in ms):
                assert m.params_b is None  # discovery leaves names to build_catalog

    asyncio.run(go())


# ------------------------------------------------------------------ into the compiler


async def test_the_snapshot_feeds_build_catalog_static_entries_win_field_by_field() -> None:
    found = {
        "local": [
            DiscoveredModel("qwen2.5-coder:7b", context_window=32_768),
            DiscoveredModel("llama3.3:70b", context_window=131_072, params_b=70.6),
            DiscoveredModel("mixtral:8x7b"),
            DiscoveredModel("nomic-embed-text", capabilities=("embeddings",)),
        ],
        "hidden": [DiscoveredModel("ignored:1b")],
    }
    d = Discovery(Clock(), None, list_models=Lister({n: [ms] for n, ms in found.items()}))
    d.reconcile([provider("local"), provider("hidden")])
    await d.refresh_now()
    config = ConfigSpec.model_validate(
        {
            "version": 2,
            "providers": {
                "local": {
                    "type": "ollama",
                    "models": {
                        "llama3.3:70b": {"context_window": 8192, "quality": 0.8},
                        "static-only": {"params_b": 3, "capabilities": ["chat", "tools"]},
                    },
                },
                "hidden": {"type": "ollama", "discover": False},
            },
        }
    )
    catalog = {m.name: m for m in build_catalog(config, d.snapshot)["local"]}
    assert sorted(catalog) == [
        "llama3.3:70b",
        "mixtral:8x7b",
        "nomic-embed-text",
        "qwen2.5-coder:7b",
        "static-only",
    ]
    llama = catalog["llama3.3:70b"]
    assert llama.source == "static"
    assert llama.context_window == 8192  # static wins
    assert llama.params_b == 70.6  # discovered fills what the static entry leaves out
    assert llama.quality == 0.8
    assert catalog["qwen2.5-coder:7b"].params_b == 7.0  # params_from_name
    assert catalog["qwen2.5-coder:7b"].context_window == 32_768
    assert catalog["qwen2.5-coder:7b"].source == "discovered"
    assert catalog["mixtral:8x7b"].params_b == 56.0
    assert catalog["nomic-embed-text"].capabilities == ("embeddings",)
    assert catalog["static-only"].capabilities == ("chat", "tools")
    assert build_catalog(config, d.snapshot)["hidden"] == ()  # discover: false ignores it


CONFIG = """\
version: 2
state_dir: state
providers:
  local:
    type: ollama
    models:
      qwen2.5-coder:7b: {context_window: 4096}
strategies:
  small:
    models: ["local/*"]
    params_b: {max: 10}
clients:
  dev:
    key_prefix: lr-abcdefgh
    key_hash: "$2b$04$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    strategy: small
"""


async def test_the_server_cycle_recompiles_on_a_real_change(tmp_path: Path) -> None:
    """The integration the server does: cache → build → reconcile → round → on_change → build."""
    path = tmp_path / "routers.yaml"
    path.write_text(CONFIG)
    first = build(path)
    assert first.table is not None, first.diagnostics
    state_dir = first.table.settings.state_dir
    tables = [first.table]

    def recompile(snapshot: CatalogSnapshot) -> None:
        result = build(path, snapshot=snapshot)
        assert result.table is not None, result.diagnostics
        tables.append(result.table)

    lister = Lister({"local": [models("qwen2.5-coder:7b", "phi3:3.8b", "llama3.3:70b")]})
    d = Discovery(time.time, state_dir, list_models=lister, on_change=recompile)
    assert d.load_cached() == CatalogSnapshot()
    d.reconcile(first.table.providers)
    await d.refresh_now()
    await d.refresh_now()
    assert len(tables) == 2  # one real change, one recompile
    small = tables[-1].strategies["small"].default.candidates
    assert sorted(m.name for m in small) == ["phi3:3.8b", "qwen2.5-coder:7b"]  # 70b filtered
    assert tables[-1].models["local/qwen2.5-coder:7b"].context_window == 4096
    assert tables[-1].sha256 != tables[0].sha256
    # after a restart, the cache alone compiles the same table, no network
    restarted = Discovery(time.time, state_dir, list_models=never_called)
    again = build(path, snapshot=restarted.load_cached()).table
    assert again is not None and again.sha256 == tables[-1].sha256
    assert (Path(state_dir) / CACHE_NAME).is_file()
