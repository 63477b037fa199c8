"""CEL over client data, through the real gateway: hostile ``tags``, ``metadata`` and headers are
refused with a clear 400/431 (never a 500), quickly, in bounded memory, without stalling the
requests of others; data within the bounds routes as before."""

from __future__ import annotations

import resource
import statistics
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from localrouter.routing.client_data import MAX_HEADERS, MAX_METADATA_DEPTH, MAX_TAGS
from tests.gateway import Gateway, running_gateway
from tests.openapi import validate

CONFIG = """
version: 2
providers:
  mock:
    type: mock
    models:
      small: {context_window: 8192}
      large: {context_window: 200000}
strategies:
  tagged:
    routes:
      - name: vip
        when: 'request.tags.map(t, t + "!").exists(t, t == "vip!")'
        models: [mock/large]
    models: [mock/small]
  meta:
    routes:
      - name: ml
        when: 'request.metadata.team == "ml" || size(request.headers) > 90'
        models: [mock/large]
    models: [mock/small]
clients:
  app: {key_prefix: {key_prefix:app}, key_hash: {key_hash:app}, strategy: tagged}
  meta: {key_prefix: {key_prefix:meta}, key_hash: {key_hash:meta}, strategy: meta}
"""

CHAT = "/v1/chat/completions"
MSG = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with running_gateway(CONFIG, tmp_path_factory.mktemp("gw")) as gateway:
        yield gateway


def post(gw: Gateway, client: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    auth = {"authorization": f"Bearer {gw.keys[client]}"}
    return httpx.post(gw.url + CHAT, json=body, headers=auth | headers, timeout=30)


def refused(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    validate("ErrorResponse", response.json())
    assert error["type"] == "invalid_request_error"
    for word in words:
        assert word in error["message"], error["message"]


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"team": "ml"}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_ten_thousand_tags_are_refused_fast_in_bounded_memory(gw: Gateway) -> None:
    body = {**MSG, "tags": [f"tag-{i}" for i in range(9_999)] + ["vip"]}  # ~0.1 MB
    assert post(gw, "app", MSG).status_code == 200  # the first request's own start-up costs
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB; the gateway is in-process
    started = time.perf_counter()
    response = post(gw, "app", body)
    elapsed = time.perf_counter() - started
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    refused(response, 400, "`tags` has 10000 items", f"at most {MAX_TAGS}")
    assert elapsed < 0.75, elapsed  # was a 500 after 1.5-7 s (~20 ms on an idle machine now)
    assert grown_mb < 20, grown_mb  # was ~1.6 GB


def test_tags_within_the_bound_route_as_before(gw: Gateway) -> None:
    tags = [f"tag-{i}" for i in range(MAX_TAGS - 1)] + ["vip"]
    response = post(gw, "app", {**MSG, "tags": tags})
    assert response.status_code == 200, response.text
    assert response.headers["x-localrouter-model"] == "large"
    plain = post(gw, "app", {**MSG, "tags": ["x", 7]})  # a non-string item is ignored, as before
    assert plain.headers["x-localrouter-model"] == "small"
    refused(post(gw, "app", {**MSG, "tags": ["v" * 129]}), 400, "`tags[0]`", "129 characters")


def test_metadata_nested_40_levels_is_a_400_not_a_500(gw: Gateway) -> None:
    refused(post(gw, "meta", {**MSG, "metadata": nested(40)}), 400, "nested deeper than 8")
    ok = post(gw, "meta", {**MSG, "metadata": nested(MAX_METADATA_DEPTH)})
    assert ok.status_code == 200 and ok.headers["x-localrouter-model"] == "small"  # no match
    assert (
        post(gw, "meta", {**MSG, "metadata": {"team": "ml"}}).headers["x-localrouter-model"]
        == "large"
    )


def test_metadata_out_of_range_or_too_big_is_a_400(gw: Gateway) -> None:
    # 2**63 reached cel-python's converter and answered 500
    refused(post(gw, "meta", {**MSG, "metadata": {"n": 2**63}}), 400, "`metadata.n`", "64-bit")
    many = {f"k{i}": i for i in range(200)}
    refused(post(gw, "meta", {**MSG, "metadata": many}), 400, "more than 128 values")
    long_text = {"a": "x" * 20_000}
    refused(post(gw, "meta", {**MSG, "metadata": long_text}), 400, "characters of text")


def test_too_many_headers_are_a_431(gw: Gateway) -> None:
    extra = {f"x-h{i}": "v" for i in range(MAX_HEADERS + 5)}
    refused(post(gw, "meta", MSG, **extra), 431, "header fields")
    some = {f"x-h{i}": "v" for i in range(MAX_HEADERS - 10)}
    assert post(gw, "meta", MSG, **some).headers["x-localrouter-model"] == "large"


def test_hostile_requests_do_not_stall_the_others(gw: Gateway) -> None:
    """While hostile bodies are sent back to back, a plain request's latency stays low."""
    hostile = [
        {**MSG, "tags": ["t"] * 9_999 + ["vip"]},
        {**MSG, "metadata": nested(40)},
        {**MSG, "metadata": {f"k{i}": "v" * 100 for i in range(60)}},  # within the bounds
    ]
    stop = threading.Event()
    statuses: list[int] = []

    def attack() -> None:
        with httpx.Client(timeout=30) as c:
            i = 0
            while not stop.is_set():
                body = hostile[i % len(hostile)]
                auth = {"authorization": f"Bearer {gw.keys['app' if i % 3 == 0 else 'meta']}"}
                statuses.append(c.post(gw.url + CHAT, json=body, headers=auth).status_code)
                i += 1

    attacker = threading.Thread(target=attack)
    attacker.start()
    latencies = []
    try:
        with httpx.Client(timeout=30) as c:
            auth = {"authorization": f"Bearer {gw.keys['app']}"}
            for _ in range(40):
                t0 = time.perf_counter()
                assert c.post(gw.url + CHAT, json=MSG, headers=auth).status_code == 200
                latencies.append(time.perf_counter() - t0)
    finally:
        stop.set()
        attacker.join()
    assert statuses and 500 not in statuses, statuses
    assert set(statuses) <= {200, 400}, set(statuses)
    # was p50 3.7 s, max 9 s: a 10,000-tag map held the loop for seconds (generous bounds
    # here: the suite shares two cores; an idle machine answers in a few ms)
    assert statistics.median(latencies) < 0.25, latencies
    assert max(latencies) < 1.0, latencies
