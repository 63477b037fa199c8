"""In-memory traffic metrics: the last 24 hours by minute, overall and per client, provider, model.

Fed one access-log line per request (:meth:`Metrics.add`, on the event loop: a few dict updates),
and read by ``/v1/usage``, ``/metrics`` and the dashboard. Two rings of buckets hold the recent
past — 1,440 one-minute buckets and 144 ten-minute buckets (the latter so a day's summary merges
144 buckets, not 1,440) — each bucket an :class:`~localrouter.runtime.usage_agg.Agg` per key:
everything, each client, each model (``provider/model``; a provider is the merge of its models)
and each client's use of each model (what a client that is not an admin may see of itself).

Memory is bounded whatever the traffic: a ring has a fixed number of buckets, and names are
capped (:data:`MAX_NAMES` clients and models; any further name is counted as ``(other)``).
Since-start totals (:class:`Lifetime`) feed Prometheus' counters and histograms.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from localrouter.runtime.usage_agg import NONE, Agg, Sample, cost_units, merged, sample

MAX_NAMES = 1000
OTHER = "(other)"
# request duration buckets for Prometheus (seconds), from 5 ms to 5 min
PROM_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
# /v1/usage ranges: (span, step) in seconds
RANGES = {
    "1h": (3600, 60),
    "24h": (86400, 600),
    "7d": (7 * 86400, 3600),
    "30d": (30 * 86400, 21600),
}


class Bucket:
    """The aggregates of one stretch of time: everything, per client, per model, per pair."""

    __slots__ = ("all", "clients", "models", "pairs")

    def __init__(self) -> None:
        self.all = Agg()
        self.clients: dict[str, Agg] = {}
        self.models: dict[str, Agg] = {}
        self.pairs: dict[str, dict[str, Agg]] = {}  # client → model → Agg

    def add(self, s: Sample, client: str, model: str) -> None:
        self.all.add_sample(s)
        _agg(self.clients, client).add_sample(s)
        _agg(self.models, model).add_sample(s)
        per = self.pairs.get(client)
        if per is None:
            per = self.pairs[client] = {}
        _agg(per, model).add_sample(s)

    def merge(self, other: Bucket, sign: int = 1) -> None:
        """Add ``other`` in (``sign`` 1) or take it out again (-1; emptied entries dropped)."""
        if sign > 0:
            self.all.merge(other.all)
        else:
            self.all.subtract(other.all)
        for src, dst in ((other.clients, self.clients), (other.models, self.models)):
            _fold(src, dst, sign)
        for client, per in other.pairs.items():
            dst = self.pairs.setdefault(client, {})
            _fold(per, dst, sign)
            if not dst:
                del self.pairs[client]

    def entries(self, by: str | None, client: str | None) -> Iterator[tuple[str, Agg]]:
        """(series name, aggregate) for a query: ``by`` a dimension or None, ``client`` only
        that client's own traffic (None: everyone's)."""
        if client is None:
            if by is None:
                if self.all.requests:
                    yield "all", self.all
            elif by == "client":
                yield from self.clients.items()
            elif by == "model":
                yield from self.models.items()
            else:
                yield from ((_provider_of(m), a) for m, a in self.models.items())
            return
        if by is None or by == "client":
            own = self.clients.get(client)
            if own is not None:
                yield (client if by else "all"), own
            return
        per = self.pairs.get(client, {})
        if by == "model":
            yield from per.items()
        else:
            yield from ((_provider_of(m), a) for m, a in per.items())


def _agg(table: dict[str, Agg], name: str) -> Agg:
    agg = table.get(name)
    if agg is None:
        agg = table[name] = Agg()
    return agg


def _fold(src: Mapping[str, Agg], dst: dict[str, Agg], sign: int) -> None:
    for name, agg in src.items():
        held = dst.get(name)
        if sign > 0:
            _agg(dst, name).merge(agg)
        elif held is not None:
            held.subtract(agg)
            if not held.requests:
                del dst[name]


class Ring:
    """``slots`` buckets of ``step_s`` seconds (the latest ``slots × step_s`` seconds), and the
    running total of the latest ``window`` of them: a window's totals are read, not summed.

    The running total holds the buckets that are closed (every period of the window before the
    newest); the newest, still filling, is added in when the total is read
    (:meth:`window_total`). So a line costs one bucket's update, not two: when a newer period
    begins, the bucket that was newest is folded into the total once."""

    def __init__(self, step_s: int, slots: int, window: int) -> None:
        self.step_s = step_s
        self.slots = slots
        self.window = window
        self._period = [-1] * slots
        self._data: list[Bucket] = [Bucket() for _ in range(slots)]
        self.total = Bucket()  # the sum of the buckets of periods lo … hi - 1
        self.lo = 0
        self.hi = -1  # the newest period: its bucket is not in ``total`` yet

    def advance(self, period: int) -> None:
        """Slide the window so it ends at ``period``: the newest bucket is folded into the
        total when a newer period begins, buckets falling out are subtracted."""
        if period > self.hi:
            held = self.get(self.hi) if self.hi >= self.lo else None
            if held is not None:
                self.total.merge(held)
            self.hi = period
        lo = period - self.window + 1
        if lo <= self.lo:
            return
        if lo - self.lo >= self.window:  # everything in it has expired
            self.total = Bucket()
        else:
            for p in range(self.lo, lo):
                held = self.get(p)
                if held is not None:
                    self.total.merge(held, -1)
        self.lo = lo

    def add(self, ts: float, s: Sample, client: str, model: str) -> None:
        p = int(ts // self.step_s)
        self.advance(p)
        i = p % self.slots
        held = self._period[i]
        if held != p:
            if p < held:
                return  # older than the ring holds
            self._period[i] = p
            self._data[i] = Bucket()
        self._data[i].add(s, client, model)
        if self.lo <= p < self.hi:  # a late line, for a bucket already in the total
            self.total.add(s, client, model)

    def window_total(self) -> Bucket:
        """The sum of the window's buckets, the newest included."""
        newest = self.get(self.hi) if self.hi >= self.lo else None
        if newest is None:
            return self.total
        out = Bucket()
        out.merge(self.total)
        out.merge(newest)
        return out

    def get(self, period: int) -> Bucket | None:
        i = period % self.slots
        return self._data[i] if self._period[i] == period else None


@dataclass
class Lifetime:
    """Totals since the process started, for Prometheus (counters never go down)."""

    requests: dict[tuple[str, str, str, str], list[int]] = field(default_factory=dict)
    durations: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    attempts: dict[tuple[str, str, str], int] = field(default_factory=dict)

    def add(self, line: Mapping[str, Any], client: str, provider: str, model: str) -> None:
        key = (client, provider, model, str(line["status_code"]))
        row = self.requests.get(key)
        if row is None:
            row = self.requests[key] = [0, 0, 0, 0]
        row[0] += 1
        row[1] += line["input_tokens"]
        row[2] += line["output_tokens"]
        row[3] += cost_units(line["cost_usd"])
        hist = self.durations.get((provider, model))
        if hist is None:  # one count per bucket (+Inf last), then the sum of seconds
            hist = self.durations[(provider, model)] = [0.0] * (len(PROM_BUCKETS_S) + 2)
        seconds = line["latency_ms"] / 1000
        hist[bisect.bisect_left(PROM_BUCKETS_S, seconds)] += 1
        hist[-1] += seconds
        for a in line.get("attempts") or ():
            akey = (a["provider"], a["model"], a["outcome"])
            self.attempts[akey] = self.attempts.get(akey, 0) + 1


class Metrics:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.minutes = Ring(60, 1440, window=60)  # and the running total of the last hour
        self.tens = Ring(600, 144, window=144)  # and of the last 24 hours
        self.lifetime = Lifetime()
        self._clients: set[str] = set()
        self._models: set[str] = set()
        self.last_seen: dict[str, float] = {}  # client → when it was last answered (unix s)

    def _capped(self, names: set[str], name: str) -> str:
        if name in names:
            return name
        if len(names) >= MAX_NAMES:
            return OTHER
        names.add(name)
        return name

    def add(self, line: Mapping[str, Any], *, live: bool = True) -> None:
        """Count one access-log line; ``live=False`` for lines read back from the log at start
        (they fill the 24-hour rings, not the since-start totals)."""
        client = self._capped(self._clients, line.get("client") or NONE)
        provider, name = line.get("provider"), line.get("model")
        model = self._capped(self._models, f"{provider}/{name}" if provider and name else NONE)
        ts, s = line["ts"], sample(line)
        if ts > self.last_seen.get(client, 0.0):
            self.last_seen[client] = ts
        self.minutes.add(ts, s, client, model)
        self.tens.add(ts, s, client, model)
        if live:
            self.lifetime.add(line, client, provider or NONE, name or NONE)

    def load(self, lines: Iterable[Mapping[str, Any]]) -> int:
        """Fill the rings from lines read back from the access log; returns how many."""
        n = 0
        for line in lines:
            self.add(line, live=False)
            n += 1
        return n

    def usage(
        self, range_name: str, *, by: str | None = None, client: str | None = None
    ) -> dict[str, Any]:
        """``/v1/usage``'s body for ``range_name`` (``1h`` or ``24h``): one series per name of
        dimension ``by`` (or one, ``all``), every bucket present (empty ones zero). ``client``:
        only that client's own traffic (None: everyone's, for an admin)."""
        span_s, step_s = RANGES[range_name]
        ring = self.minutes if step_s == 60 else self.tens
        end_p = int(self.clock() // step_s)
        ring.advance(end_p)
        periods = range(end_p - span_s // step_s + 1, end_p + 1)
        per_name: dict[str, dict[int, Agg]] = {}
        for p in periods:
            bucket = ring.get(p)
            if bucket is None:
                continue
            for name, agg in bucket.entries(by, client):
                points = per_name.setdefault(name, {})
                held = points.get(p)
                if held is None:
                    points[p] = agg  # read only: series_body never changes it
                else:  # a provider's models: merged into a fresh aggregate
                    fresh = Agg()
                    fresh.merge(held)
                    fresh.merge(agg)
                    points[p] = fresh
        totals: dict[str, Agg] = {}
        for name, agg in ring.window_total().entries(by, client):
            held = totals.get(name)
            if held is None:
                totals[name] = agg
            else:
                fresh = Agg()
                fresh.merge(held)
                fresh.merge(agg)
                totals[name] = fresh
        return series_body(range_name, step_s, periods, by, per_name, totals)


def _provider_of(model_id: str) -> str:
    return model_id.split("/", 1)[0] if model_id not in (NONE, OTHER) else model_id


def series_body(
    range_name: str,
    step_s: int,
    periods: range,
    by: str | None,
    per_name: Mapping[str, Mapping[int, Agg]],
    totals: Mapping[str, Agg] | None = None,
) -> dict[str, Any]:
    """The ``/v1/usage`` body from per-name, per-period aggregates (empty buckets filled);
    ``totals``: each name's total when known (else summed from its points)."""
    series = []
    empty = Agg().as_dict()
    names = sorted(set(per_name) | set(totals or ()))
    sums: dict[str, Agg] = {}
    for name in names:
        points = per_name.get(name, {})
        known = (totals or {}).get(name)
        sums[name] = known if known is not None else merged(list(points.values()))
        series.append(
            {
                "name": name,
                "totals": sums[name].as_dict(),
                "points": [
                    {"t": p * step_s, **(points[p].as_dict() if p in points else empty)}
                    for p in periods
                ],
            }
        )
    everything = merged(list(sums.values()))
    return {
        "object": "usage",
        "range": range_name,
        "by": by,
        "step_s": step_s,
        "start": periods.start * step_s,
        "end": periods.stop * step_s,
        "totals": everything.as_dict(),
        "series": series,
    }
