"""What observability costs: the recording path per request, metric queries, and ``stats``.

    python bench/observe_bench.py [--requests N] [--lines N]

Run by hand, never in the test suite. Three measurements, on this process only:

* **record**: what a finished request costs the gateway — building its generation record and
  access-log line (``logs/record.py``), the metrics update and the log queue (``Observer.record``,
  on the event loop), and the writer thread's encoding and writing. CPU time of the whole process
  (every thread) over N records, divided by N; the part on the calling thread separately.
* **queries**: ``/v1/usage``'s body from memory for 1h and 24h, admin and per client, after a
  day of synthetic traffic spread over 24 hours (clients × models).
* **stats**: one day file of ``--lines`` lines summarised by ``read_range`` + ``summarise``
  (what ``localrouter stats`` does after loading the config), and the whole CLI with ``--logs``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from localrouter.compiler.table import ModelInfo  # noqa: E402
from localrouter.generations import GenerationStore  # noqa: E402
from localrouter.logs.reader import read_range  # noqa: E402
from localrouter.logs.record import access_line, facts_obj  # noqa: E402
from localrouter.logs.usage import summarise  # noqa: E402
from localrouter.logs.writer import AccessLog  # noqa: E402
from localrouter.routing.facts import NowFacts, RequestFacts  # noqa: E402
from localrouter.runtime.metrics import Metrics  # noqa: E402
from localrouter.server.accounting import Usage, generation_record  # noqa: E402

CLIENTS = [f"client-{i}" for i in range(8)]
MODELS = [("openai", "gpt-4o-mini"), ("anthropic", "claude-haiku"), ("ollama", "qwen2.5:7b")]


def model_info(provider: str, name: str) -> ModelInfo:
    kind = "local" if provider == "ollama" else "api"
    return ModelInfo(provider, name, kind, input_per_mtok=0.15, output_per_mtok=0.6)


def one_line(rng: random.Random, ts: float | None = None) -> dict[str, Any]:
    provider, name = rng.choice(MODELS)
    gen = generation_record(
        gen_id=f"gen-{rng.getrandbits(96):024x}",
        request_id=f"req-{rng.getrandbits(96):024x}",
        client=rng.choice(CLIENTS),
        strategy="main",
        route="default",
        model=model_info(provider, name),
        config_sha="ab" * 32,
        usage=Usage(rng.randint(10, 4000), rng.randint(1, 800)),
        latency_ms=rng.lognormvariate(5, 1),
        ttfb_ms=rng.lognormvariate(4, 1),
        stream=rng.random() < 0.5,
        status_code=200 if rng.random() < 0.97 else 502,
        attempts=[{"provider": provider, "model": name, "outcome": "ok", "ms": 12.5,
                   "status": 200, "error": None}],
    )  # fmt: skip
    if ts is not None:
        gen["created"] = ts
    facts = RequestFacts(model="auto", messages_count=3, estimated_tokens=812, stream=True)
    now = NowFacts(hour=13, weekday=5, unix=int(time.time()))
    return access_line(gen, endpoint="chat", error_code=None, facts=facts_obj(facts, now))


def bench_record(n: int, workdir: Path) -> dict[str, float]:
    rng = random.Random(1)
    log = AccessLog(workdir / "logs")
    log.start()
    metrics = Metrics()
    store = GenerationStore(None)
    lines_built = []
    t0 = time.thread_time()
    for _ in range(n):
        lines_built.append(one_line(rng))
    build_cpu = (time.thread_time() - t0) / n * 1e6
    p0, t0 = time.process_time(), time.thread_time()
    for line in lines_built:
        store.add({"id": line["generation_id"], "client": line["client"]})
        metrics.add(line)
        log.write(line)
    caller = (time.thread_time() - t0) / n * 1e6
    log.close()
    total = (time.process_time() - p0) / n * 1e6
    return {"build_us": build_cpu, "record_caller_us": caller, "record_total_us": total}


def bench_queries(n: int) -> dict[str, float]:
    rng = random.Random(2)
    now = time.time()
    metrics = Metrics(clock=lambda: now)
    for _ in range(n):
        metrics.add(one_line(rng, ts=now - rng.random() * 86400))
    out: dict[str, float] = {}
    for label, kwargs in (
        ("usage_1h_all_us", {"range_name": "1h"}),
        ("usage_24h_all_us", {"range_name": "24h"}),
        ("usage_24h_by_model_us", {"range_name": "24h", "by": "model"}),
        ("usage_24h_one_client_by_model_us", {"range_name": "24h", "by": "model",
                                               "client": "client-3"}),
    ):  # fmt: skip
        times = []
        for _ in range(30):
            t0 = time.perf_counter()
            metrics.usage(**kwargs)  # type: ignore[arg-type]
            times.append(time.perf_counter() - t0)
        out[label] = statistics.median(times) * 1e6
    return out


def bench_stats(n: int, workdir: Path) -> dict[str, float]:
    rng = random.Random(3)
    day_start = (int(time.time()) // 86400) * 86400
    log = AccessLog(workdir / "statlogs")
    log.start()
    for _ in range(n):
        log.write(one_line(rng, ts=day_start + rng.random() * 86399))
    log.close()
    directory = workdir / "statlogs"
    size = sum(p.stat().st_size for p in directory.iterdir())
    t0 = time.perf_counter()
    groups = summarise(read_range(directory, day_start, day_start + 86400), "model")
    summary_s = time.perf_counter() - t0
    assert sum(a.requests for a in groups.values()) == n
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "localrouter.cli", "stats", "--logs", str(directory),
         "--since", "2d", "--by", "client"],
        check=True, capture_output=True,
    )  # fmt: skip
    cli_s = time.perf_counter() - t0
    return {"stats_lines": n, "file_mb": size / 1e6, "summary_s": summary_s, "cli_s": cli_s}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--lines", type=int, default=100_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, value in {
            **bench_record(args.requests, work),
            **bench_queries(args.requests),
            **bench_stats(args.lines, work),
        }.items():
            print(f"{name:40s} {value:12.3f}")


if __name__ == "__main__":
    main()
