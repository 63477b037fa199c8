"""The in-memory metrics against a brute-force reference: whatever the traffic and the clock, a
window's totals and points are exactly the sums of the lines inside it."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from localrouter.logs.usage import bucketed, summarise
from localrouter.runtime.metrics import MAX_NAMES, OTHER, RANGES, Metrics
from localrouter.runtime.usage_agg import Agg, Latency, name_in

CLIENTS = ["a", "b", "c", None]
MODELS = [("p1", "m1"), ("p1", "m2"), ("p2", "m1"), (None, None)]


def line(rng: random.Random, ts: float) -> dict[str, Any]:
    provider, model = rng.choice(MODELS)
    ok = provider is not None and rng.random() < 0.9
    return {
        "ts": round(ts, 3),
        "client": rng.choice(CLIENTS),
        "provider": provider,
        "model": model,
        "status": "ok" if ok else "error",
        "status_code": 200 if ok else 502,
        "input_tokens": rng.randint(0, 5000),
        "output_tokens": rng.randint(0, 900),
        "cost_usd": None if provider is None else round(rng.random() / 1000, 10),
        "latency_ms": round(rng.lognormvariate(5, 1.2), 2),
        "attempts": [],
    }


def reference(lines: list[dict[str, Any]], start: float, stop: float, by: str | None,
              client: str | None) -> dict[str, dict[str, Any]]:  # fmt: skip
    inside = [x for x in lines if start <= x["ts"] < stop]
    if client is not None:
        inside = [x for x in inside if x["client"] == client]
    return {name: agg.as_dict() for name, agg in summarise(inside, by).items()}


@pytest.mark.parametrize("seed", range(6))
def test_windows_equal_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    now = [1_800_000_000.0]
    metrics = Metrics(clock=lambda: now[0])
    lines: list[dict[str, Any]] = []
    for _ in range(40):  # 40 steps over ~30 hours: windows slide, buckets recycle
        for _ in range(rng.randint(0, 30)):
            x = line(rng, now[0] - rng.random() * 50)
            lines.append(x)
            metrics.add(x)
        # asked both in the period of the newest lines (still filling) and after it
        for _query in range(2):
            if _query:
                now[0] += rng.choice([60, 600, 2400, 5000])
            check_windows(rng, metrics, lines)


def check_windows(rng: random.Random, metrics: Metrics, lines: list[dict[str, Any]]) -> None:
    for range_name in ("1h", "24h"):
        by = rng.choice([None, "client", "provider", "model"])
        client = rng.choice([None, "a", "b"])
        doc = metrics.usage(range_name, by=by, client=client)
        span, step = RANGES[range_name]
        assert doc["end"] - doc["start"] == span and doc["step_s"] == step
        want = reference(lines, doc["start"], doc["end"], by, client)
        got = {s["name"]: s["totals"] for s in doc["series"] if s["totals"]["requests"]}
        assert got == want
        for s in doc["series"]:  # every point is its bucket's lines
            assert len(s["points"]) == span // step
            assert sum(p["requests"] for p in s["points"]) == s["totals"]["requests"]


def test_points_are_the_lines_of_each_bucket() -> None:
    rng = random.Random(9)
    now = 1_800_000_000.0
    metrics = Metrics(clock=lambda: now)
    lines = [line(rng, now - rng.random() * 3599) for _ in range(500)]
    metrics.load(lines)
    doc = metrics.usage("1h", by="model")
    want = bucketed(lines, 60, "model", None)
    for s in doc["series"]:
        for p in s["points"]:
            agg = want.get(s["name"], {}).get(p["t"] // 60)
            expect = (agg or Agg()).as_dict()
            assert {k: v for k, v in p.items() if k != "t"} == expect


def test_quantiles_are_within_the_bucket_width() -> None:
    rng = random.Random(4)
    values = [round(rng.lognormvariate(4, 1.5), 2) for _ in range(5000)]
    hist = Latency()
    for v in values:
        hist.add(v)
    ordered = sorted(values)
    for q, got in zip((0.5, 0.95, 0.99), hist.quantiles(), strict=True):
        exact = ordered[math.ceil(q * len(values)) - 1]
        assert got is not None and abs(got - exact) <= 0.011 * exact + 0.01
    assert Latency().quantiles() == [None, None, None]


def test_names_are_capped() -> None:
    metrics = Metrics(clock=lambda: 1_800_000_000.0)
    rng = random.Random(1)
    for i in range(MAX_NAMES + 5):
        x = line(rng, 1_800_000_000.0 - 1)
        x["client"] = f"c{i}"
        metrics.add(x)
    names = {s["name"] for s in metrics.usage("1h", by="client")["series"]}
    assert len(names) == MAX_NAMES + 1 and OTHER in names


def test_name_of_a_line() -> None:
    x = {"client": None, "provider": "p", "model": "m"}
    assert name_in(x, "client") == "-" and name_in(x, "model") == "p/m"
    assert name_in(x, "provider") == "p"
