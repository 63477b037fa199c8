"""CPU per adapter call through the upstream transport, against ``bench/fake_upstream.py``.

    python bench/adapter_bench.py [--concurrency 16] [--calls 2000] [--rounds 5]

What one request's provider call costs the gateway process, without the server around it: the
OpenAI adapter's ``chat`` (one JSON answer) and ``chat_stream`` (20 SSE events, read to the end)
through the transport the server builds (``Upstreams().client(provider)``), ``--concurrency``
calls at a time, on uvloop when installed. Reported: this process's CPU time (``process_time``)
per call, best and median of ``--rounds``; the fake upstream runs in its own process and is not
counted. Run by hand, never in the test suite; on a shared machine take the best of a few runs.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from localrouter.compiler.table import Provider  # noqa: E402
from localrouter.providers.base import Target  # noqa: E402
from localrouter.providers.openai import OpenAIAdapter  # noqa: E402
from localrouter.server.upstreams import Upstreams  # noqa: E402

ADAPTER = OpenAIAdapter()
BODY = {"messages": [{"role": "user", "content": "hi"}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def measure(port: int, concurrency: int, calls: int, rounds: int) -> None:
    upstreams = Upstreams()
    p = Provider("bench", "openai-compatible", "openai", f"http://127.0.0.1:{port}/v1", None,
                 "api", 5.0, 30.0, {}, (), False)  # fmt: skip
    client, target = upstreams.client(p), Target(p, "bench-model", api_key="k")

    async def json_call() -> None:
        await ADAPTER.chat(client, target, BODY)

    async def stream_call() -> None:
        async for _ in ADAPTER.chat_stream(client, target, BODY):
            pass

    async def batch(call: Callable[[], Awaitable[None]], n: int) -> None:
        left = n

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await call()

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    try:
        for name, call in (("JSON", json_call), ("SSE 20 events", stream_call)):
            await batch(call, 300)  # warm-up: connections, code paths
            got = []
            for _ in range(rounds):
                start = time.process_time()
                await batch(call, calls)
                got.append((time.process_time() - start) / calls * 1e6)
            print(
                f"{name}, c={concurrency}: best {min(got):.1f} µs CPU a call, "
                f"median {statistics.median(got):.1f} ({', '.join(f'{g:.0f}' for g in got)})",
                flush=True,
            )
    finally:
        await upstreams.aclose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--calls", type=int, default=2000, help="calls per round")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    port = free_port()
    fake = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "fake_upstream.py"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        run = measure(port, args.concurrency, args.calls, args.rounds)
        try:
            import uvloop

            uvloop.run(run)
        except ImportError:
            asyncio.run(run)
    finally:
        fake.terminate()
        fake.wait(5)


if __name__ == "__main__":
    main()
