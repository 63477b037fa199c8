"""The dialect ingresses against the chat path: CPU per request of ``localrouter serve``.

    python bench/ingress_bench.py [--ingress messages|responses|all] [--quick] [--rounds N]
                                  [--duration S] [--write] [--doc PATH]
    python bench/ingress_bench.py --ingress responses --profile [--profile-s S]   # py-spy

Run by hand, never in the test suite. Each ingress (``bench/ingresses.py``: Anthropic's
``POST /v1/messages`` and OpenAI's ``POST /v1/responses``) is measured against the chat path
and the framework floor: translated to an OpenAI upstream at most 1.2× the chat path's CPU per
request, and a stream at most 1.3× the floor's (issue 15's targets and the Responses issue's).

One ``bench/fake_upstream.py`` (instant answers: OpenAI's chat completions and Responses API,
Anthropic's Messages, JSON and 20-event streams) on core 1 with the load driver, and two targets
on core 0: one ``localrouter serve --no-watch`` and the floor of ``bench/gateway_bench.py``
(``bench/floor_proxy.py``). Four or five targets, all but the floor the same gateway: ``chat``
(``load.chat_body`` → the OpenAI-compatible provider), the ingress's own (the same conversation
in its shape, translated to that provider, or to the ingress's own provider type on the same
fake, sent as it is), and ``floor`` (the floor proxy forwarding the chat body). With
``--ingress all`` the ingresses run one after the other, each with a gateway of its own.

Cells are measured like ``gateway_bench.py`` (its process helpers, imported): rounds, each
scenario's targets interleaved with the first rotating every round; a warm-up, then a closed-loop
window; CPU per request is the target process's utime+stime over the window ÷ completed
requests. Ratios are taken between cells of the same round; the report gives the median over
rounds with min–max, and the best (lowest) CPU per request of each cell. ``--write`` replaces
each ingress's generated block (between its markers) in its doc's section (``--doc`` overrides
the page when one ingress runs), made at the end of the page when missing; the prose around the
block is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import gateway_bench as gb  # noqa: E402  (bench/ is not a package)
import load  # noqa: E402
from ingresses import INGRESSES, Ingress, config_text  # noqa: E402

Scenario = gb.Scenario  # the gateway benchmark's (its ``slow`` upstream is not used here)


SCENARIOS = (
    Scenario("json-c1", "JSON, c=1", 1),
    Scenario("json-c16", "JSON, c=16", 16),
    Scenario("sse-c1", "SSE 20 chunks, c=1", 1, stream=True),
    Scenario("sse-c16", "SSE 20 chunks, c=16", 16, stream=True),
)


@dataclass(frozen=True)
class Setup:
    ingress: Ingress
    upstream: gb.Proc
    gateway: gb.Proc
    floor: gb.Proc
    key: str

    def request(self, target: str, stream: bool) -> tuple[gb.Proc, str, dict[str, str], bytes]:
        """(process, url, headers, body) of one target's requests."""
        if target == "floor":
            return self.floor, "/v1/chat/completions", {}, load.chat_body(stream)
        if target == "chat":
            headers = {"authorization": f"Bearer {self.key}"}
            return self.gateway, "/v1/chat/completions", headers, load.chat_body(stream)
        return (self.gateway, *self.ingress.request(target, self.key, stream))


def start(procs: gb.Procs, workdir: Path, ingress: Ingress) -> Setup:
    from localrouter.keygen import new_key

    port = gb.free_port()
    argv = [sys.executable, str(gb.BENCH / "fake_upstream.py"), "--port", str(port)]
    upstream = procs.start("upstream", argv, port, gb.UPSTREAM_CORE)
    gb.wait_ready(upstream)
    key = new_key(cost=4)
    config = workdir / "routers.yaml"
    config.write_text(config_text(ingress, port, key.prefix, key.hash), encoding="utf-8")
    procs.env[ingress.key_env] = ingress.key
    gateway = gb.start_gateway(procs, config)
    gb.wait_ready(gateway)
    floor = gb.start_floor(procs, upstream, upstream)
    gb.wait_ready(floor)
    return Setup(ingress, upstream, gateway, floor, key.key)


@dataclass
class Cell(gb.Cell):
    tail_ms_per_req: float = 0.0  # of cpu_ms_per_req: spent after the window, till idle


def settle(pid: int, idle_ms: float = 2.0, every_s: float = 0.1, limit_s: float = 60.0) -> None:
    """Wait until the process is idle (under ``idle_ms`` of CPU in ``every_s``): work a request
    leaves behind (the response store's and the generation store's writes) is done by then."""
    end = time.monotonic() + limit_s
    last = gb.cpu_seconds(pid)
    while time.monotonic() < end:
        time.sleep(every_s)
        now = gb.cpu_seconds(pid)
        if (now - last) * 1000 < idle_ms:
            return
        last = now
    log(f"  pid {pid} still busy after {limit_s:g} s")


def run_cell(
    setup: Setup, target: str, scenario: Scenario, rnd: int, duration: float, warmup: float
) -> Cell:
    """One cell. Its CPU runs from an idle process (after the warm-up's work is done) to an idle
    process again: what a request leaves to background tasks and threads counts too."""
    proc, path, headers, body = setup.request(target, scenario.stream)
    done = b"data: [DONE]" if path == "/v1/chat/completions" else setup.ingress.done
    marks: list[tuple[float, float]] = []

    def mark() -> None:
        marks.append((gb.cpu_seconds(proc.pid), gb.thread_cpu_seconds(proc.pid)))

    def before() -> None:
        settle(proc.pid)
        mark()

    def after() -> None:
        mark()
        settle(proc.pid)
        mark()

    result = asyncio.run(
        load.measure(
            f"http://127.0.0.1:{proc.port}{path}",
            concurrency=scenario.concurrency,
            duration=duration,
            warmup=warmup,
            stream=scenario.stream,
            headers=headers,
            body=body,
            before=before,
            after=after,
            done=done,
        )
    )
    if result.errors:
        print(f"  {target} {scenario.key}: errors {result.error_kinds}", file=sys.stderr)
    n = max(1, result.completed)
    numbers = gb.measured(result, marks[0], marks[2], proc.pid)
    tail = (marks[2][0] - marks[1][0]) * 1000 / n
    return Cell(scenario.key, target, rnd, **numbers, tail_ms_per_req=tail)


def check_paths(setup: Setup) -> None:
    """One request per target and mode before measuring: a 200 and the right last line."""
    for target in setup.ingress.targets:
        for stream in (False, True):
            scenario = Scenario("check", "check", 1, stream)
            cell = run_cell(setup, target, scenario, -1, 0.2, 0.0)
            if cell.errors or not cell.requests:
                raise SystemExit(f"{target} (stream={stream}) does not answer: see above")


# ------------------------------------------------------------------------------ the report


def ratio(a: gb.Cell, b: gb.Cell) -> float:
    return a.cpu_ms_per_req / b.cpu_ms_per_req if b.cpu_ms_per_req else float("nan")


def report(
    cells: list[Cell], ingress: Ingress, args: argparse.Namespace, meta: dict[str, str]
) -> str:
    rounds = max(c.round for c in cells) + 1
    targets = ingress.targets
    out = [
        f"Machine: {meta['machine']}. Run {meta['date']}, LocalRouter {meta['revision']}, "
        f"HTTP server {gb.default_http_server()}. {rounds} rounds × {len(SCENARIOS)} scenarios × "
        f"{len(targets)} targets, each cell {args.warmup:g} s warm-up + {args.duration:g} s "
        f"measured (closed loop); targets pinned to core {gb.TARGET_CORE}, the fake upstream and "
        f"the load driver to core {gb.UPSTREAM_CORE}"
        f"{'' if gb.pinning() else ' (NOT pinned)'}. Load average before/after: "
        f"{meta['load_before']} / {meta['load_after']} ({meta['quiet']}); wall {meta['wall']}.",
        "",
        "CPU ms/req: median over rounds (min–max), from an idle process to an idle process again; "
        "best is the lowest round; after the window: the part of it spent after the last "
        "request was answered (writes left to background tasks); other threads: the part spent "
        "outside the event loop's thread (LocalRouter: the access log's writer, the generation "
        "store, the response store's writes).",
        "",
        "| scenario | target | req/s | p50 ms | TTFB p50 ms | errors | CPU ms/req | best "
        "| after the window | other threads |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in SCENARIOS:
        for t in targets:
            cs = gb.by(cells, s.key, t)
            if not cs:
                continue
            cpu = [c.cpu_ms_per_req for c in cs]
            out.append(
                f"| {s.label} | {t} | {gb.spread([c.rps for c in cs], '{:.0f}')} "
                f"| {gb.spread([c.p50_ms for c in cs])} "
                f"| {gb.spread([c.ttfb_p50_ms for c in cs]) if s.stream else '–'} "
                f"| {sum(c.errors for c in cs)} of {sum(c.requests + c.errors for c in cs)} "
                f"| {gb.spread(cpu, '{:.3f}')} | {min(cpu):.3f} "
                f"| {gb.spread([c.tail_ms_per_req for c in cs], '{:.3f}')} "
                f"| {gb.spread([c.thread_ms_per_req for c in cs], '{:.3f}')} |"
            )
    out += [
        "",
        "CPU per request ratios, taken within each round: median (min–max); ratio of the best "
        "cells in the last column.",
        "",
        "| scenario | ratio | target | per round | of the best | met |",
        "|---|---|---|---|---|---|",
    ]
    for s in SCENARIOS:
        for kind, a, b, limit in ingress.checks:
            if not s.key.startswith(kind):
                continue
            vals = [v for v in gb.paired(cells, s.key, a, b, ratio) if v == v]
            if not vals:
                continue
            best_a = min(c.cpu_ms_per_req for c in gb.by(cells, s.key, a))
            best_b = min(c.cpu_ms_per_req for c in gb.by(cells, s.key, b))
            mid = statistics.median(vals)
            met = "(information)" if limit is None else ("yes" if mid <= limit else "**no**")
            out.append(
                f"| {s.label} | {a} ÷ {b} | {'–' if limit is None else f'≤ {limit:g}×'} "
                f"| {gb.spread(vals, '{:.2f}×')} | {best_a / best_b:.2f}× | {met} |"
            )
    return "\n".join(out) + "\n"


def replace_block(text: str, ingress: Ingress, body: str) -> str:
    begin, end = ingress.begin, ingress.end
    block = f"{begin}\n{body.rstrip()}\n{end}"
    if begin in text and end in text:
        i, j = text.index(begin), text.index(end) + len(end)
        return text[:i] + block + text[j:]
    return text.rstrip("\n") + f"\n\n{ingress.heading}\n\n{block}\n"


# ------------------------------------------------------------------------------ profiling


def profile(args: argparse.Namespace, workdir: Path, ingress: Ingress) -> str:
    """py-spy on each target under load (``gateway_bench.py --profile``'s method and parser):
    what the ingress's paths spend beyond the chat path and beyond the floor."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("py-spy is not installed: pip install py-spy")
    own = tuple(t for t in ingress.targets if t not in ("chat", "floor"))
    profiled = (("json-c16", ("chat", *own)), ("sse-c16", ingress.targets))
    profiles: dict[tuple[str, str], tuple[gb.Profile, float]] = {}
    scenarios = {s.key: s for s in SCENARIOS}
    with gb.processes(workdir) as procs:
        setup = start(procs, workdir, ingress)
        for key, targets in profiled:
            for target in targets:
                out = workdir / f"{target}-{key}.txt"
                proc = setup.request(target, False)[0]
                argv = [spy, "record", "--pid", str(proc.pid), "--rate", str(args.rate)]
                argv += ["--duration", str(int(args.profile_s)), "--nonblocking"]
                argv += ["--function", "--format", "raw", "-o", str(out)]
                run_cell(setup, target, scenarios[key], 0, 1.0, 0.5)  # warm
                sampler = procs.start("py-spy", argv, 0, gb.UPSTREAM_CORE)
                try:
                    time.sleep(0.5)  # attached by then
                    cell = run_cell(setup, target, scenarios[key], 0, args.profile_s, 0.0)
                    sampler.popen.wait(args.profile_s + 30)
                finally:
                    procs.stop(sampler)
                profiles[(target, key)] = (gb.parse_raw(out), cell.cpu_ms_per_req)
                log(f"profiled {target} {key}: {cell.cpu_ms_per_req:.3f} ms/req")
    lines = [
        f"{ingress.title}: LocalRouter {gb.revision()}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {gb.loadavg()}. "
        f"py-spy {args.rate} Hz, {args.profile_s:g} s a target, `--nonblocking --function`; "
        "ms/req = share of samples × the CPU per request measured in the same window.",
    ]
    head = ["| ms/req | function (file) |", "|---|---|"]
    for key, targets in profiled:
        lines += [
            "",
            f"{key}: CPU ms/request "
            + ", ".join(f"{t} {profiles[(t, key)][1]:.3f}" for t in targets),
        ]
        for target in own:
            prof, cpu = profiles[(target, key)]
            for base in ("chat", "floor"):
                if (base, key) not in profiles:
                    continue
                other, other_cpu = profiles[(base, key)]
                lines += ["", f"{key}, {target}: self CPU beyond {base}, largest", "", *head]
                lines += gb.beyond(prof, cpu, other, other_cpu, 12)
            lines += ["", f"{key}, {target}: LocalRouter's own functions, cumulative", ""]
            lines += ["| share | ms/req | function (file) |", "|---|---|---|"]
            lines += gb.top(prof.cumulative, prof, 15, cpu, only="(localrouter/")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ main


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def bench(ingress: Ingress, args: argparse.Namespace) -> str:
    """One ingress's rounds, and its report."""
    meta = {
        "machine": gb.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "revision": gb.revision(),
        "quiet": gb.wait_for_quiet(),
        "load_before": gb.loadavg(),
    }
    wall = time.perf_counter()
    cells: list[Cell] = []
    targets = ingress.targets
    with (
        tempfile.TemporaryDirectory(prefix=f"lr-{ingress.name}-bench-") as tmp,
        gb.processes(Path(tmp)) as procs,
    ):
        setup = start(procs, Path(tmp), ingress)
        check_paths(setup)
        for rnd in range(args.rounds):
            k = rnd % len(targets)
            order = targets[k:] + targets[:k]
            for scenario in SCENARIOS:
                for target in order:
                    cell = run_cell(setup, target, scenario, rnd, args.duration, args.warmup)
                    cells.append(cell)
                    log(
                        f"round {rnd + 1} {scenario.key:>8} {target:>20}: {cell.rps:6.0f} "
                        f"req/s cpu {cell.cpu_ms_per_req:.3f} ms/req err {cell.errors}"
                    )
    meta["load_after"] = gb.loadavg()
    meta["wall"] = f"{time.perf_counter() - wall:.0f} s"
    return report(cells, ingress, args, meta)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ingress", choices=[*INGRESSES, "all"], default="all")
    ap.add_argument("--quick", action="store_true", help="fewer, shorter cells")
    ap.add_argument("--rounds", type=int, default=None, help="default 5 (quick: 2)")
    ap.add_argument("--duration", type=float, default=None, help="s per cell (3; quick 0.8)")
    ap.add_argument("--warmup", type=float, default=None, help="s per cell (0.5; quick 0.3)")
    ap.add_argument("--write", action="store_true", help="replace each ingress's block in its doc")
    ap.add_argument("--doc", type=Path, default=None, help="the page (one ingress only)")
    ap.add_argument("--profile", action="store_true", help="py-spy profile instead of the table")
    ap.add_argument("--profile-s", type=float, default=10.0, help="s per target (default 10)")
    ap.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    args = ap.parse_args(argv)
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.duration = args.duration or (0.8 if args.quick else 3.0)
    args.warmup = args.warmup if args.warmup is not None else (0.3 if args.quick else 0.5)
    chosen = list(INGRESSES.values()) if args.ingress == "all" else [INGRESSES[args.ingress]]
    if args.doc is not None and len(chosen) > 1:
        ap.error("--doc needs one --ingress")
    if gb.pinning():
        os.sched_setaffinity(0, {gb.UPSTREAM_CORE})  # the driver shares the upstream's core
    for ingress in chosen:
        if args.profile:
            with tempfile.TemporaryDirectory(prefix=f"lr-{ingress.name}-profile-") as tmp:
                print(profile(args, Path(tmp), ingress))
            continue
        text = bench(ingress, args)
        print(f"{ingress.title}:\n\n{text}")
        if args.write:
            doc: Path = args.doc or ingress.doc
            old = doc.read_text(encoding="utf-8") if doc.exists() else "# Performance\n"
            doc.write_text(replace_block(old, ingress, text), encoding="utf-8")
            log(f"wrote the block in {doc}")


if __name__ == "__main__":
    main()
