"""Reading access-log files: one JSON object a line, plain (``.jsonl``) or gzip (``.jsonl.gz``).

A day's file is ``access-YYYY-MM-DD.jsonl``; once the day is over it is compressed to
``access-YYYY-MM-DD.jsonl.gz`` (docs/observability.md). Reading never fails on content: a line
that is not a JSON object (a truncated last line, a torn write) comes out as ``None``, and so
does the rest of a damaged gzip file, so callers can count what they skipped.
"""

from __future__ import annotations

import calendar
import gzip
import io
import re
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

_NAME = re.compile(r"access-(\d{4}-\d{2}-\d{2})\.jsonl(\.gz)?")


def log_files(directory: Path) -> list[Path]:
    """The access-log files in ``directory``, oldest day first; other files are ignored.

    A past day can have both files: the writer puts a late line in the plain file, which it
    later appends to the ``.gz`` as one more member. The ``.gz`` (the earlier lines) comes first.
    """
    found: list[tuple[str, bool, Path]] = []
    for path in directory.iterdir():
        match = _NAME.fullmatch(path.name)
        if match is not None and path.is_file():
            found.append((match.group(1), match.group(2) is None, path))
    return [path for _day, _plain, path in sorted(found)]


def _open(path: Path) -> io.BufferedIOBase:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")
    return path.open("rb")


def iter_lines(path: Path) -> Iterator[dict[str, Any] | None]:
    """Each non-blank line of one log file as a dict, or ``None`` when it is not a JSON object.

    A gzip file that ends early or is corrupt yields one ``None`` for its unreadable rest.
    ``OSError`` (missing, unreadable) propagates.
    """
    with _open(path) as stream:
        try:
            for raw in stream:
                if not raw.strip():
                    continue
                try:
                    value = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    yield None
                    continue
                yield value if isinstance(value, dict) else None
        except (EOFError, gzip.BadGzipFile, zlib.error):
            yield None


def day_bounds(path: Path) -> tuple[float, float]:
    """The UTC day a log file holds, as ``[start, end)`` Unix seconds (from its name)."""
    match = _NAME.fullmatch(path.name)
    if match is None:
        raise ValueError(f"{path.name} is not an access-log file name")
    start = calendar.timegm(time.strptime(match.group(1), "%Y-%m-%d"))
    return float(start), float(start + 86400)


_NUMBERS = ("ts", "input_tokens", "output_tokens", "latency_ms")


def usable(line: dict[str, Any]) -> bool:
    """Does ``line`` have what usage arithmetic reads (a hand-edited file may not)?"""
    for key in _NUMBERS:
        value = line.get(key)
        if type(value) is not int and type(value) is not float:
            return False
    cost = line.get("cost_usd")
    return isinstance(line.get("status"), str) and (cost is None or type(cost) in (int, float))


class Skipped:
    """How many lines a read could not use (not JSON, or missing usage fields)."""

    def __init__(self) -> None:
        self.count = 0


def read_range(
    where: Path | Sequence[Path], since: float, until: float, skipped: Skipped | None = None
) -> Iterator[dict[str, Any]]:
    """The usable lines with ``since <= ts < until`` from a log directory (or the given files),
    oldest file first; only files whose day overlaps the range are opened."""
    files = log_files(where) if isinstance(where, Path) else list(where)
    for path in files:
        lo, hi = day_bounds(path)
        if hi <= since or lo >= until:
            continue
        for line in iter_lines(path):
            if line is None or not usable(line):
                if skipped is not None:
                    skipped.count += 1
                continue
            if since <= line["ts"] < until:
                yield line
