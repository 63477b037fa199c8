"""Compiler benchmark: a generated large config, each stage timed, and validate's wall time.

Run by hand (`make bench`), never in the test suite. Prints a markdown table for
docs/performance.md. Generated config: 200 providers, 2,000 models, 500 clients, 200 CEL routes.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HASH = "$2b$12$PmcTqb0wG9pwHVCaxTgxruh7koJgeUH5Y8ySfyUhspI77J2CV/cD6"


def generate(
    providers: int = 200, models_per: int = 10, clients: int = 500, routes: int = 200
) -> str:
    out = ["version: 2", "providers:"]
    for p in range(providers):
        kind = "ollama" if p % 4 == 0 else "openai-compatible"
        out.append(f"  p{p}:")
        out.append(f"    type: {kind}")
        if kind != "ollama":
            out.append(f"    base_url: https://api{p}.example.com/v1")
            out.append(f"    api_key: ${{env:P{p}_KEY}}")
        out.append("    discover: false")
        out.append("    models:")
        for m in range(models_per):
            size = (7, 13, 34, 70, 8)[m % 5]
            out.append(
                f"      model-{m}-{size}b: {{input_per_mtok: {0.1 * (m + 1):.2f}, "
                f"output_per_mtok: {0.3 * (m + 1):.2f}, context_window: "
                f"{8192 * (1 + m % 4)}, params_b: {size}, quality: {0.5 + m / 40:.3f}}}"
            )
    out.append("strategies:")
    per_strategy = max(1, routes // 50)
    for s in range(50):
        out.append(f"  s{s}:")
        out.append(f'    models: ["p{s}/*", "p{s + 50}/*", "p{s + 100}/model-1-*"]')
        out.append("    order: [lowest_cost, local_first]")
        out.append(f"    filter: 'model.context_window >= request.estimated_tokens + {s}'")
        out.append("    routes:")
        for r in range(per_strategy):
            out.append(f"      - name: r{r}")
            out.append(
                f"        when: 'request.complexity >= 0.{r + 5} || "
                f'(request.has_tools && "s{s}t{r}" in request.tags)\''
            )
            out.append(f'        models: ["p{(s + r) % providers}/*"]')
            out.append("        order: [highest_quality]")
        out.append("    limits:")
        out.append("      - {cost_usd: 50, per: 30d}")
    out.append("clients:")
    for c in range(clients):
        out.append(f"  c{c}:")
        out.append(f"    key_prefix: lr-{c:08d}")
        out.append(f"    key_hash: {HASH}")
        out.append(f"    strategy: s{c % 50}")
        out.append("    limits:")
        out.append("      - {requests: 60, per: 1m}")
    return "\n".join(out) + "\n"


def timed(fn: Callable[[], Any], rounds: int) -> tuple[float, list[float], Any]:
    times, value = [], None
    for _ in range(rounds):
        t = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times, value


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    from localrouter.compiler.catalog import build_catalog
    from localrouter.compiler.compile import compile_config
    from localrouter.config import schema_check, semantic
    from localrouter.config.source import load
    from localrouter.config.spec import ConfigSpec

    text = generate()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.yaml"
        path.write_text(text, encoding="utf-8")
        rows = []
        load_t, _, (doc, _d) = timed(lambda: load(path), args.rounds)
        rows.append(("load (YAML → data + spans)", load_t))
        assert doc is not None
        schema_t, _, problems = timed(lambda: schema_check.check(doc.data, doc.spans), args.rounds)
        assert not problems, problems[:3]
        rows.append(("JSON Schema check", schema_t))
        spec_t, _, config = timed(lambda: ConfigSpec.model_validate(doc.data), args.rounds)
        rows.append(("pydantic specs", spec_t))
        catalog = build_catalog(config)
        sem_t, _, diags = timed(lambda: semantic.check(config, doc.spans, catalog), args.rounds)
        rows.append(("semantic checks", sem_t))
        comp_t, _, result = timed(
            lambda: compile_config(config, catalog, spans=doc.spans), args.rounds
        )
        assert result.table is not None, result.diagnostics[:3]
        rows.append(("compile (table, CEL, sha)", comp_t))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        exe = [sys.executable, "-m", "localrouter.cli", "validate"]
        big_t, _, _ = timed(
            lambda: subprocess.run([*exe, str(path)], env=env, capture_output=True, check=False), 3
        )
    demo = ROOT / "configs" / "demo.yaml"
    demo_t, demo_all, proc = timed(
        lambda: subprocess.run([*exe, str(demo)], env=env, capture_output=True, check=True),
        max(args.rounds, 5),
    )
    t = result.table
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; {time.strftime('%Y-%m-%d')}; median of {args.rounds}"
    )
    print(
        f"generated config: {len(text):,} bytes, {len(t.providers)} providers, "
        f"{len(t.models)} models, {len(t.clients)} clients, "
        f"{sum(len(s.routes) for s in t.strategies.values())} CEL routes "
        f"(+{sum(1 for s in t.strategies.values() if s.filter)} filters)\n"
    )
    print("| stage | median |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value * 1000:.0f} ms |")
    print(
        f"| **compile total (specs + semantic + compile)** | "
        f"**{(spec_t + sem_t + comp_t) * 1000:.0f} ms** |"
    )
    print(f"| `localrouter validate` on it, wall | {big_t * 1000:.0f} ms |")
    print(
        f"| `localrouter validate configs/demo.yaml`, wall | {demo_t * 1000:.0f} ms "
        f"(min {min(demo_all) * 1000:.0f}) |"
    )
    del diags, proc


if __name__ == "__main__":
    main()
