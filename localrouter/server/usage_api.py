"""``GET /v1/usage`` (time series for charts) and ``GET /metrics`` (Prometheus' text format).

``/v1/usage?range=1h|24h|7d|30d&by=client|provider|model`` needs a client key: a client sees its
own traffic, an ``admin: true`` client everyone's. 1h and 24h come from the in-memory metrics,
7d and 30d from the access log (read in a worker thread). Every bucket of the range is present,
empty ones with zeros.

``/metrics`` is open to loopback callers by default (``server.metrics: loopback``); ``public``
opens it to every address, ``admin`` asks every caller for an admin client's key. It is built by
``prometheus-client`` at scrape time from the since-start totals (:class:`~localrouter.runtime.
metrics.Lifetime`): the request path never touches a Prometheus object.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from localrouter.runtime.breakers import breaker_key
from localrouter.runtime.metrics import PROM_BUCKETS_S, RANGES
from localrouter.runtime.usage_agg import COST_SCALE, DIMENSIONS
from localrouter.server.auth import authenticated
from localrouter.server.errors import error_response
from localrouter.server.incoming import Call
from localrouter.server.reply import Reply
from localrouter.server.state import Runtime

CIRCUIT = {"closed": 0, "half_open": 1, "open": 2}


async def usage(rt: Runtime, call: Call) -> Reply:
    """``GET /v1/usage?range=…&by=…``."""
    got = await authenticated(rt, call.headers)
    if isinstance(got, Reply):
        return got
    who = got[1]
    range_name = call.args.get("range", "24h")
    by = call.args.get("by") or None
    if range_name not in RANGES:
        choices = "|".join(RANGES)
        return error_response(400, f"`range` must be one of {choices}", param="range")
    if by is not None and by not in DIMENSIONS:
        choices = "|".join(DIMENSIONS)
        return error_response(400, f"`by` must be one of {choices}", param="by")
    own = None if who.admin else who.name
    observer = rt.observer
    if range_name in ("1h", "24h"):
        body = observer.metrics.usage(range_name, by=by, client=own)
    elif observer.log_usage is None:
        return error_response(404, f"range {range_name} is read from the access log: no state_dir")
    else:
        logs = observer.log_usage
        if observer.access_log is not None:  # what this process answered is on disk first
            await asyncio.to_thread(observer.access_log.flush)
        body = await asyncio.to_thread(logs.usage, range_name, time.time(), by=by, client=own)
    body["client"] = who.name
    body["scope"] = "all" if who.admin else "own"
    return Reply.json(body)


def _loopback(addr: str | None) -> bool:
    try:
        return addr is not None and ipaddress.ip_address(addr).is_loopback
    except ValueError:  # a unix socket or no address: not a network caller
        return addr in ("", "unix")


async def metrics(rt: Runtime, call: Call) -> Reply:
    """``GET /metrics`` (loopback callers, or admin clients: ``server.metrics``)."""
    access = rt.holder.current.settings.server.metrics
    if access == "admin" or (access == "loopback" and not _loopback(call.remote_addr)):
        got = await authenticated(rt, call.headers)
        if isinstance(got, Reply):
            return got
        if not got[1].admin:
            return error_response(403, "/metrics needs an admin client's key", code="not_admin")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(rt))
    return Reply(200, {"content-type": CONTENT_TYPE_LATEST}, generate_latest(registry))


class _Collector:
    """prometheus-client's view of the since-start totals, built per scrape."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self) -> Iterator[Metric]:
        rt = self.rt
        life = rt.observer.metrics.lifetime
        cpm = ["client", "provider", "model"]
        requests = CounterMetricFamily(
            "localrouter_requests", "Requests answered", labels=[*cpm, "code"]
        )
        tokens = CounterMetricFamily(
            "localrouter_tokens", "Tokens used", labels=[*cpm, "direction"]
        )
        cost = CounterMetricFamily("localrouter_cost_usd", "Cost of the requests", labels=cpm)
        sums: dict[tuple[str, str, str], list[int]] = {}
        for (client, provider, model, code), row in life.requests.items():
            requests.add_metric([client, provider, model, code], row[0])
            acc = sums.setdefault((client, provider, model), [0, 0, 0])
            for i in range(3):
                acc[i] += row[i + 1]
        for key, (inp, out, units) in sums.items():
            tokens.add_metric([*key, "input"], inp)
            tokens.add_metric([*key, "output"], out)
            cost.add_metric(list(key), units / COST_SCALE)
        duration = HistogramMetricFamily(
            "localrouter_request_duration_seconds",
            "Time from a request's arrival to its end",
            labels=["provider", "model"],
        )
        for (provider, model), hist in life.durations.items():
            running, buckets = 0.0, []
            for le, n in zip((*PROM_BUCKETS_S, float("inf")), hist[:-1], strict=True):
                running += n
                buckets.append(("+Inf" if le == float("inf") else repr(le), running))
            duration.add_metric([provider, model], buckets, sum_value=hist[-1])
        attempts = CounterMetricFamily(
            "localrouter_upstream_attempts",
            "Upstream calls and skips, by outcome (ok, error, skipped)",
            labels=["provider", "model", "outcome"],
        )
        for (provider, model, outcome), n in life.attempts.items():
            attempts.add_metric([provider, model, outcome], n)
        yield from (requests, tokens, cost, duration, attempts)
        yield from self._state()

    def _state(self) -> Iterator[Metric]:
        rt = self.rt
        table = rt.holder.current
        info = GaugeMetricFamily(
            "localrouter_config_info", "The routing table served", labels=["sha256"]
        )
        info.add_metric([table.sha256], 1)
        reloads = GaugeMetricFamily("localrouter_config_generation", "Tables swapped in so far")
        reloads.add_metric([], rt.holder.generation)
        yield from (info, reloads)
        if rt.health is not None:
            circuit = GaugeMetricFamily(
                "localrouter_circuit_state",
                "Circuit breaker per provider: 0 closed, 1 half-open, 2 open",
                labels=["provider"],
            )
            states = {(b.provider, b.base_url): b for b in rt.health.breakers.info()}
            for name, p in table.providers.items():
                b = states.get(breaker_key(p))
                circuit.add_metric([name], CIRCUIT.get(str(b.state), 0) if b else 0)
            yield circuit
        log = rt.observer.access_log
        if log is not None:
            lines = CounterMetricFamily(
                "localrouter_access_log_lines", "Access-log lines", labels=["outcome"]
            )
            lines.add_metric(["written"], log.written)
            lines.add_metric(["dropped"], log.dropped)
            yield lines
