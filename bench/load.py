"""A bounded asyncio load driver for the gateway benchmark (aiohttp, closed loop).

    python bench/load.py --url http://127.0.0.1:9002/v1/chat/completions --concurrency 16 \
        --duration 5 [--stream] [--key lr-…] [--requests N] [--warmup 1]

``concurrency`` workers share one ``aiohttp.ClientSession`` whose pool holds exactly
``concurrency`` keep-alive connections; each worker sends its next request as soon as the last
one is answered (closed loop: the offered load is what the target can take). A run is bounded by
a duration, a request count, or both (whichever ends first); a warm-up phase runs first and is
not counted. Every request's latency (request sent → last byte read) is kept; for streams also
the time to first byte (→ first body bytes). A request counts as an error when it raises, the
status is not 200, or a stream's last event does not hold ``done`` (default ``data: [DONE]``,
OpenAI's last line; ``bench/ingress_bench.py`` passes Anthropic's ``message_stop`` data line and
the Responses API's ``"type":"response.completed"``).

``drive`` is what ``bench/gateway_bench.py`` calls (in its own process, pinned away from the
target); ``hooks`` let it read the target's CPU counters exactly at the measured window's edges.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

CHAT_BODY: dict[str, object] = {
    "model": "auto",
    "messages": [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "Say hello in one short sentence, please."},
    ],
    "max_tokens": 64,
}


def chat_body(stream: bool) -> bytes:
    return json.dumps({**CHAT_BODY, "stream": stream}).encode()


@dataclass
class Result:
    """One measured window."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, completed requests
    ttfb: list[float] = field(default_factory=list)  # seconds, streams only
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def completed(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    def note(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); NaN for an empty list."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


async def _one(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    stream: bool,
    result: Result,
    done: bytes = b"data: [DONE]",
) -> None:
    t0 = time.perf_counter()
    try:
        async with session.post(url, data=body, headers=headers) as response:
            if stream:
                first = await response.content.readany()
                t1 = time.perf_counter()
                rest = [first]
                while True:
                    piece = await response.content.readany()
                    if not piece:
                        break
                    rest.append(piece)
                data = b"".join(rest)
            else:
                data = await response.read()
                t1 = time.perf_counter()
            t2 = time.perf_counter()
            if response.status != 200:
                result.note(f"HTTP {response.status}")
                return
            if stream and done not in data.rstrip().rsplit(b"\n\n", 1)[-1]:
                result.note("stream without its last event")
                return
            if not stream and not data:
                result.note("empty body")
                return
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        result.note(type(exc).__name__)
        return
    result.latencies.append(t2 - t0)
    if stream:
        result.ttfb.append(t1 - t0)


async def drive(
    session: aiohttp.ClientSession,
    url: str,
    *,
    concurrency: int,
    duration: float | None = None,
    requests: int | None = None,
    stream: bool = False,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    done: bytes = b"data: [DONE]",
) -> Result:
    """Run ``concurrency`` closed-loop workers until ``duration`` s or ``requests`` are done."""
    if duration is None and requests is None:
        raise ValueError("give a duration, a request count, or both")
    payload = body if body is not None else chat_body(stream)
    sent = {"n": 0}
    all_headers = {"content-type": "application/json", **(headers or {})}
    result = Result()
    start = time.perf_counter()
    deadline = start + duration if duration is not None else float("inf")

    async def worker() -> None:
        while time.perf_counter() < deadline and (requests is None or sent["n"] < requests):
            sent["n"] += 1
            await _one(session, url, payload, all_headers, stream, result, done)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - start
    return result


def session_for(concurrency: int, timeout_s: float = 60.0) -> aiohttp.ClientSession:
    """A session whose pool keeps exactly ``concurrency`` connections to one host."""
    connector = aiohttp.TCPConnector(
        limit=concurrency, limit_per_host=concurrency, force_close=False, use_dns_cache=True
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        auto_decompress=False,
        trust_env=False,
    )


async def measure(
    url: str,
    *,
    concurrency: int,
    duration: float | None = None,
    requests: int | None = None,
    warmup: float = 1.0,
    stream: bool = False,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    before: Callable[[], None] | None = None,
    after: Callable[[], None] | None = None,
    done: bytes = b"data: [DONE]",
) -> Result:
    """Warm up (not counted), call ``before``, run the measured window, call ``after``."""
    async with session_for(concurrency) as session:
        if warmup > 0:
            await drive(
                session,
                url,
                concurrency=concurrency,
                duration=warmup,
                stream=stream,
                headers=headers,
                body=body,
                done=done,
            )
        if before is not None:
            before()
        result = await drive(
            session,
            url,
            concurrency=concurrency,
            duration=duration,
            requests=requests,
            stream=stream,
            headers=headers,
            body=body,
            done=done,
        )
        if after is not None:
            after()
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--duration", type=float, default=None, help="seconds (default 5)")
    ap.add_argument("--requests", type=int, default=None)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--key", default=None, help="sent as Authorization: Bearer KEY")
    args = ap.parse_args(argv)
    if not args.url.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]")):
        ap.error("this driver only sends traffic to loopback")
    duration = args.duration if args.duration or args.requests else 5.0
    headers = {"authorization": f"Bearer {args.key}"} if args.key else None
    result = asyncio.run(
        measure(
            args.url,
            concurrency=args.concurrency,
            duration=duration,
            requests=args.requests,
            warmup=args.warmup,
            stream=args.stream,
            headers=headers,
        )
    )
    ms = [x * 1000 for x in result.latencies]
    line = (
        f"{result.completed} requests in {result.seconds:.2f} s: {result.rps:.0f} req/s, "
        f"p50 {percentile(ms, 50):.2f} ms, p99 {percentile(ms, 99):.2f} ms, "
        f"errors {result.errors} {result.error_kinds or ''}"
    )
    if result.ttfb:
        ttfb = [x * 1000 for x in result.ttfb]
        line += f", TTFB p50 {percentile(ttfb, 50):.2f} ms p99 {percentile(ttfb, 99):.2f} ms"
    print(line)


if __name__ == "__main__":
    main()
