"""One routing decision, measured: facts built from a request body, a CEL route, a CEL filter over
a 50-candidate strategy, the ORDER keys and the limit checks. Target ≤ 100 µs p50 on one core.

As the server decides: candidates are judged lazily (``want=1``: until the first eligible one;
the dispatcher judges more only if it falls back). The request asks for 30,000 output tokens,
so the filter turns down the three cheapest models (8k, 16k, 24k context) before the fourth
passes: a route evaluation plus four filter evaluations, the health/breaker view and the
provider-cap check per judged candidate, then the client and strategy limit reservation.

It also measures what awaiting the embedded counter store adds over its sync view (its async
calls never suspend; ``tests/test_store_async.py`` proves that, this measures the cost).

Run by hand: `python bench/route_bench.py` (pin it with `taskset -c 0` for steadier numbers).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from localrouter.compiler.build import build  # noqa: E402
from localrouter.routing.facts import NowFacts, facts_from_openai  # noqa: E402
from localrouter.routing.route import route  # noqa: E402
from localrouter.runtime.caps import caps_skip  # noqa: E402
from localrouter.runtime.health import HealthMonitor  # noqa: E402
from localrouter.runtime.limits import Limiter, estimate_for  # noqa: E402
from localrouter.runtime.store import MemoryStore  # noqa: E402

HASH = "$2b$04$" + "a" * 53


def config() -> str:
    models = "\n".join(
        f"      m{i}: {{input_per_mtok: {0.1 + i / 10:.2f}, output_per_mtok: {0.3 + i / 5:.2f}, "
        f"context_window: {8192 * (1 + i % 8)}, params_b: {(7, 13, 34, 70)[i % 4]}, "
        f"quality: {0.5 + (i % 10) / 25:.2f}}}"
        for i in range(50)
    )
    return f"""version: 2
providers:
  p:
    type: openai-compatible
    base_url: http://127.0.0.1:9/v1
    discover: false
    limits: [{{requests: 100000, per: 1m}}]
    models:
{models}
strategies:
  s:
    routes:
      - name: hard
        when: 'request.has_tools || request.complexity >= 0.7 || "vip" in request.tags'
        models: ["p/*"]
        order: [highest_quality, lowest_cost]
    models: ["p/*"]
    order: [lowest_cost, local_first]
    filter: 'model.context_window >= request.estimated_tokens + request.max_tokens'
    limits: [{{requests: 1000000, per: 1m}}, {{cost_usd: 1000000, per: 30d}}]
clients:
  c:
    key_prefix: lr-00000000
    key_hash: {HASH}
    strategy: s
    limits: [{{requests: 1000000, per: 1m}}]
"""


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.yaml"
        path.write_text(config(), encoding="utf-8")
        table = build(path).table
    assert table is not None
    client = table.clients["c"]
    strategy = table.strategies["s"]
    limiter = Limiter(MemoryStore(None), time.time)
    now = NowFacts(hour=12, weekday=2, unix=int(time.time()))
    body = {
        "model": "auto",
        "max_tokens": 30000,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Explain how a hash map works, briefly. " * 8},
        ],
    }
    headers = {"content-type": "application/json", "user-agent": "bench"}

    async def no_probe(_p: object) -> None:
        return None

    health = HealthMonitor(time.monotonic, probe=no_probe)
    health.reconcile(table.providers)

    async def decide() -> None:  # routing is sync; the limit reservation is awaited
        facts = facts_from_openai(body, headers)
        out = facts.max_tokens

        capped = caps_skip(limiter, table, facts.estimated_tokens, out)  # as the server does
        d = route(table, client, facts, now, health.view(also=capped), want=1)
        assert d.status == 200 and d.candidates and d.candidates[0].name == "m3", d
        verdict = await limiter.check(
            (*client.limits, *strategy.limits),
            estimate_for(d.candidates[0], facts.estimated_tokens, out),
        )
        await limiter.release(verdict)  # type: ignore[arg-type]

    for _ in range(500):
        await decide()
    samples, cpu = [], []
    for _ in range(100):  # 100 batches of 50: wall time per decision, and CPU time per batch
        c0 = time.thread_time_ns()
        for _ in range(50):
            t0 = time.perf_counter_ns()
            await decide()
            samples.append((time.perf_counter_ns() - t0) / 1000)
        cpu.append((time.thread_time_ns() - c0) / 50 / 1000)
    samples.sort()
    p50 = statistics.median(samples)
    p99 = samples[int(len(samples) * 0.99)]
    print(
        f"routing decision (facts + CEL route + CEL filter judged lazily over a 50-candidate "
        f"strategy, 4 evaluations + ORDER + health + caps + limits): p50 {p50:.1f} µs, "
        f"p99 {p99:.1f} µs wall, CPU {statistics.median(cpu):.1f} µs a decision "
        f"(median of 100 batches), n={len(samples)}"
    )


async def store_await_cost() -> None:
    """What ``await store.readings(...)`` costs over the sync ``store.local_readings(...)``."""
    store = MemoryStore(None)
    keys = [("client", "c", "requests", 60)]
    t0_ms = int(time.time() * 1000)
    await store.reserve([(keys[0], 1.0, 1e9, 1.0)], t0_ms)
    n = 20_000

    async def awaited() -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            await store.readings(keys, t0_ms)
        return time.perf_counter() - t0

    def called() -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            store.local_readings(keys, t0_ms)
        return time.perf_counter() - t0

    runs = [(await awaited(), called()) for _ in range(7)]
    extra_us = (min(a for a, _ in runs) - min(c for _, c in runs)) / n * 1e6
    print(f"awaiting a MemoryStore call: +{extra_us:.3f} µs over the sync call (best of 7 × {n})")


if __name__ == "__main__":
    asyncio.run(main())
    asyncio.run(store_await_cost())
