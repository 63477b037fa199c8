"""Memory stays bounded against an untrusted upstream, measured on ``localrouter serve`` as a real
process (its ``VmRSS``/``VmHWM`` from ``/proc``):

* an answer that never ends is cut at ``max_response_mb`` — a 502 ``upstream_too_large`` — and
  the process's peak memory grows by about the cap, not by what the provider sends;
* a stream of any length is relayed in constant memory: 200+ MiB through the gateway leave its
  RSS within a few MiB of where it was after a warm-up stream.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.oversize import OversizeState, create_app
from tests.fakes.serve import free_port, serve_app
from tests.gateway import serve_process, write_config
from tests.test_serve_process import wait_healthy

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

CAP_MB = 16
CONFIG = """
version: 2
health: {{interval_s: 3600, failure_threshold: 1000}}
providers:
  big:
    type: openai-compatible
    base_url: "{upstream}/v1"
    discover: false
    models: {{m: {{}}}}
    max_response_mb: {cap}
strategies:
  s: {{models: ["big/m"], fallback: {{attempts: 1}}}}
clients:
  app: {{key_prefix: "{{key_prefix:app}}", key_hash: "{{key_hash:app}}", strategy: s}}
"""
MIB = 1024 * 1024
# measured: the RSS of a relayed 208 MiB stream moves by 3-5 MiB after a warm-up (before the
# relay stopped keeping the text for its estimate: +190 MiB, kept after the stream ended); the
# bound leaves room for allocator noise, far below what keeping anything per event would cost
RSS_GROWTH_MAX_MIB = 16


def memory_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, dict[str, str], OversizeState, int]]:
    state = OversizeState()
    with serve_app(create_app(state)) as upstream:
        text = CONFIG.format(upstream=upstream, cap=CAP_MB)
        path, keys = write_config(text, tmp_path_factory.mktemp("gw"))
        port = free_port()
        proc = serve_process(path, port)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, proc)
            yield url, keys, state, proc.pid
        finally:
            proc.kill()
            proc.wait()
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()


def post(url: str, keys: dict[str, str], stream: bool) -> httpx.Response:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    return httpx.post(
        f"{url}/v1/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {keys['app']}"},
        timeout=30,
    )


def relay(url: str, keys: dict[str, str], pid: int, sample_every: int) -> tuple[int, list[int]]:
    """Stream one answer through the gateway; (bytes received, the gateway's RSS samples)."""
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    got, samples, next_sample = 0, [], sample_every
    headers = {"authorization": f"Bearer {keys['app']}"}
    with httpx.stream(
        "POST", f"{url}/v1/chat/completions", json=body, headers=headers, timeout=30
    ) as r:
        assert r.status_code == 200
        tail = b""
        for chunk in r.iter_raw():
            got += len(chunk)
            tail = (tail + chunk)[-64:]
            if got >= next_sample:
                samples.append(memory_kib(pid, "VmRSS"))
                next_sample += sample_every
    assert tail.endswith(b"data: [DONE]\n\n"), tail
    return got, samples


# first in the file: what an earlier test allocated and freed could hide growth from this one
def test_a_long_stream_is_relayed_in_constant_memory(
    gateway: tuple[str, dict[str, str], OversizeState, int],
) -> None:
    url, keys, state, pid = gateway
    state.mode, state.stream_mb, state.event_kb = "big_stream", 24, 64
    relay(url, keys, pid, 8 * MIB)  # warm-up: buffers, pools, the allocator's arenas
    start = memory_kib(pid, "VmRSS")
    state.stream_mb = 208
    got, samples = relay(url, keys, pid, 8 * MIB)
    assert got >= 200 * MIB
    after = memory_kib(pid, "VmRSS")
    growth = (max([*samples, after]) - start) / 1024
    print(f"\nRSS {start / 1024:.1f} MiB, max growth {growth:.1f} MiB over {got / MIB:.0f} MiB")
    assert growth <= RSS_GROWTH_MAX_MIB, f"RSS grew {growth:.1f} MiB relaying {got / MIB:.0f} MiB"
    if os.environ.get("LR_RSS_TRACE"):  # a profile run: every sample
        print([round(s / 1024, 1) for s in samples])


def test_an_endless_answer_costs_about_its_cap(
    gateway: tuple[str, dict[str, str], OversizeState, int],
) -> None:
    url, keys, state, pid = gateway
    state.mode, state.limit_mb = "endless_body", 1
    assert post(url, keys, stream=False).status_code == 502  # warm the code path up (1 MiB)
    state.limit_mb = 512
    with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as f:
        f.write("5")  # VmHWM := VmRSS: the peak from here on
    before = memory_kib(pid, "VmHWM")
    closed = state.closed
    r = post(url, keys, stream=False)
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_too_large", r.text
    grown = (memory_kib(pid, "VmHWM") - before) / 1024
    print(f"\npeak RSS grew {grown:.1f} MiB for an endless answer, cap {CAP_MB} MiB")
    assert grown <= 2 * CAP_MB, f"peak RSS grew {grown:.0f} MiB for a {CAP_MB} MiB cap"
    assert state.wait_closed(closed + 1)
    assert state.sent[-1] < 4 * CAP_MB * MIB  # what the fake got out before the close
