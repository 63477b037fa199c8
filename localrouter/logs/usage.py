"""Usage read from the access log: ``stats`` and ``/v1/usage`` for ranges beyond memory (7d, 30d).

The arithmetic is :mod:`localrouter.runtime.usage_agg`'s, the same the in-memory metrics use, so
the log and the metrics agree exactly on the same lines. A finished day's file never changes: its
per-bucket aggregates are kept (:class:`LogUsage`, keyed by the file's size and mtime), so a 30-day
chart reads today's file and reuses the rest.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from localrouter.logs.reader import day_bounds, log_files, read_range
from localrouter.runtime.metrics import RANGES, series_body
from localrouter.runtime.usage_agg import Agg, name_in

PerName = dict[str, dict[int, Agg]]
CACHE_FILES = 128


def summarise(lines: Iterable[Mapping[str, Any]], by: str | None) -> dict[str, Agg]:
    """One :class:`Agg` per name of dimension ``by`` (or one, ``all``)."""
    out: dict[str, Agg] = {}
    for line in lines:
        name = name_in(line, by) if by else "all"
        agg = out.get(name)
        if agg is None:
            agg = out[name] = Agg()
        agg.add(line)
    return out


def bucketed(
    lines: Iterable[Mapping[str, Any]], step_s: int, by: str | None, client: str | None
) -> PerName:
    """Aggregates per name and per ``step_s`` bucket; ``client``: only that client's lines."""
    out: PerName = {}
    for line in lines:
        if client is not None and line.get("client") != client:
            continue
        name = name_in(line, by) if by else "all"
        points = out.setdefault(name, {})
        p = int(line["ts"] // step_s)
        agg = points.get(p)
        if agg is None:
            agg = points[p] = Agg()
        agg.add(line)
    return out


class LogUsage:
    """``/v1/usage`` from the log files of ``directory`` (thread-safe: run it off the loop)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._cache: OrderedDict[tuple[object, ...], PerName] = OrderedDict()
        self._lock = threading.Lock()

    def _file(self, path: Path, step_s: int, by: str | None, client: str | None) -> PerName:
        st = path.stat()
        key = (path.name, st.st_size, st.st_mtime_ns, step_s, by, client)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        lo, hi = day_bounds(path)
        found = bucketed(read_range([path], lo, hi), step_s, by, client)
        with self._lock:
            self._cache[key] = found
            while len(self._cache) > CACHE_FILES:
                self._cache.popitem(last=False)
        return found

    def usage(
        self, range_name: str, now: float, *, by: str | None = None, client: str | None = None
    ) -> dict[str, Any]:
        span_s, step_s = RANGES[range_name]
        end_p = int(now // step_s)
        periods = range(end_p - span_s // step_s + 1, end_p + 1)
        start, stop = periods.start * step_s, periods.stop * step_s
        per_name: PerName = {}
        for path in log_files(self.directory):
            lo, hi = day_bounds(path)
            if hi <= start or lo >= stop:
                continue
            for name, points in self._file(path, step_s, by, client).items():
                into = per_name.setdefault(name, {})
                for p, agg in points.items():
                    if p not in periods:
                        continue
                    held = into.get(p)
                    if held is None:
                        held = into[p] = Agg()
                    held.merge(agg)
        return series_body(range_name, step_s, periods, by, per_name)
