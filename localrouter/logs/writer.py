"""The access-log writer: one JSON line per request, appended by a thread of its own.

The event loop must never wait for a disk: :meth:`AccessLog.write` only puts the dict on a
``queue.SimpleQueue`` (one C call that also wakes the writer). The writer thread takes batches,
encodes with orjson and appends each UTC day's lines to ``access-YYYY-MM-DD.jsonl``, one
``os.write`` per file per batch. It also maintains the directory (at start, after a batch that
opened a day's file, hourly): past days are gzipped through a fsynced ``.gz.tmp`` and
``os.replace`` (late lines become one more gzip member; a crash between the rename and the unlink
repeats a day's lines rather than losing them), days past ``retention_days`` are deleted, and
nothing that is not a regular file named as :data:`LOG_NAME` says is touched.
See docs/observability.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import logging
import os
import queue
import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import orjson

__all__ = ["LOG_NAME", "MAX_PENDING", "AccessLog", "log_path"]

LOG_NAME: Final = re.compile(r"access-(\d{4}-\d{2}-\d{2})\.jsonl(\.gz)?$")
MAX_PENDING: Final = 1_000_000  # lines queued at most; past that, writes are dropped
FILE_MODE: Final = 0o600
DIR_MODE: Final = 0o700
_BATCH: Final = 10_000  # lines taken at most per batch (bounds one write's size)
_IDLE_WAKE: Final = 0.2  # seconds the writer blocks on an empty queue
# after the first line of a batch, how long the writer lets more gather before writing: one
# wake-up and one write per this many seconds under load, not one per request
_GATHER: Final = 0.05
_MAINTAIN_EVERY: Final = 3600.0
_GZIP_LEVEL: Final = 6  # level 9 costs ~3x the CPU for a few percent
_CHUNK: Final = 1 << 20
_MAX_TS: Final = 253_402_300_800.0  # 10000-01-01: beyond it gmtime fails

_log = logging.getLogger("localrouter.accesslog")

Line = dict[str, Any]


def _day(ts: float) -> str:
    """The UTC date of ``ts``, ``YYYY-MM-DD``: the day whose file a line goes to."""
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


def log_path(directory: Path, ts: float) -> Path:
    """The file that holds a line whose ``ts`` is ``ts``."""
    return directory / f"access-{_day(ts)}.jsonl"


def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` (a regular file can take less than asked only on a full disk)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class AccessLog:
    """Queue lines on the caller's thread; write, rotate, compress and expire in one thread.

    ``write`` is meant for one thread (the event loop); ``flush`` and ``close`` may be called from
    any. ``retention_days`` and ``enabled`` are plain attributes, changed live on a config reload.
    """

    def __init__(
        self,
        directory: Path,
        *,
        retention_days: int = 30,
        clock: Callable[[], float] = time.time,
        enabled: bool = True,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.directory = directory
        self.retention_days = retention_days
        self.enabled = enabled
        self._clock = clock
        self._max_pending = max_pending
        self._queue: queue.SimpleQueue[Line | None] = queue.SimpleQueue()  # None: a wake-up
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._ready = False  # the start-up maintenance is done
        self._sent = 0  # lines queued, counted by the writing thread
        self._done = 0  # lines written or dropped by the writer thread (under _cond)
        self._written = 0
        self._failed = 0  # lines lost to a write or encoding error (writer thread)
        self._overflow = 0  # lines refused because the queue was full (caller's thread)
        self._reported: set[tuple[str, str, int | None]] = set()
        self._fd: int | None = None  # the newest day's file, kept open between batches
        self._fd_day = ""
        self._next_maintenance = 0.0

    @property
    def written(self) -> int:
        """Lines on disk."""
        return self._written

    @property
    def dropped(self) -> int:
        """Lines lost: to a write error, an unencodable value, or a full queue."""
        return self._failed + self._overflow

    @property
    def pending(self) -> int:
        """Lines queued and not yet written."""
        return self._sent - self._done

    def start(self) -> None:
        """Create the directory (0700) and start the writer thread (it maintains first)."""
        if self._closing:
            raise RuntimeError("the access log is closed")
        if self._thread is not None:
            return
        self.directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.chmod(self.directory, DIR_MODE)  # whatever the umask, or an older directory's mode
        self._thread = threading.Thread(target=self._run, name="localrouter-accesslog", daemon=True)
        self._thread.start()

    def write(self, line: Line) -> None:
        """Queue one line: O(1), no I/O, no encoding. The dict belongs to the log afterwards."""
        if not self.enabled or self._closing:
            return
        if self._queue.qsize() >= self._max_pending:
            self._overflow += 1
            if self._overflow == 1:
                _log.error("access log: over %d lines queued, dropping lines", self._max_pending)
            return
        self._sent += 1
        self._queue.put(line)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every line queued before the call is written; False on timeout."""
        target = self._sent
        thread = self._thread
        with self._cond:
            if thread is None or not thread.is_alive():
                return self._done >= target
            return self._cond.wait_for(lambda: self._ready and self._done >= target, timeout)

    def close(self) -> None:
        """Write everything queued, fsync and close the file, stop the thread. Idempotent."""
        if self._closing:
            return
        self._closing = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()

    # --- the writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        self._maintain()
        with self._cond:
            self._ready = True
            self._cond.notify_all()
        while True:
            batch = self._take()
            opened = self._append(batch) if batch else False
            if opened or self._clock() >= self._next_maintenance:
                self._maintain()
            if batch:  # counted after the maintenance it caused: flush() covers both
                with self._cond:
                    self._done += len(batch)
                    self._cond.notify_all()
            elif self._closing and self._queue.empty():
                break
        self._close_fd(sync=True)

    def _take(self) -> list[Line]:
        """Up to ``_BATCH`` queued lines; waits ``_IDLE_WAKE`` s for the first unless closing."""
        batch: list[Line] = []
        try:
            item = self._queue.get(block=not self._closing, timeout=_IDLE_WAKE)
            if not self._closing and self._queue.empty():
                time.sleep(_GATHER)  # let a burst gather: the GIL stays with the event loop
            while True:
                if item is not None:
                    batch.append(item)
                    if len(batch) >= _BATCH:
                        break
                item = self._queue.get_nowait()
        except queue.Empty:
            pass
        return batch

    def _append(self, batch: list[Line]) -> bool:
        """Append ``batch`` by day, one write per file; True when a file had to be opened."""
        groups: dict[str, list[bytes]] = {}
        days: dict[int, str] = {}
        for line in batch:
            try:
                data = orjson.dumps(line) + b"\n"
            except orjson.JSONEncodeError as exc:
                self._failed += 1
                self._report("encode a line for", self.directory, exc)
                continue
            ts = line.get("ts")
            if not (isinstance(ts, int | float) and 0 <= ts < _MAX_TS):
                ts = self._clock()  # a line without a usable ts still gets a file
            number = int(ts // 86400)
            day = days.get(number) or days.setdefault(number, _day(ts))
            groups.setdefault(day, []).append(data)
        opened = False
        for day in sorted(groups):
            lines = groups[day]
            path = self.directory / f"access-{day}.jsonl"
            try:
                if day == self._fd_day and self._fd is not None:
                    fd = self._fd
                else:
                    fd, opened = self._open(day, path), True
                try:
                    _write_all(fd, b"".join(lines))
                finally:
                    if fd != self._fd:  # a late line's day: not kept open
                        os.close(fd)
                self._written += len(lines)
            except OSError as exc:
                self._failed += len(lines)
                self._report("append to", path, exc)
        return opened

    def _open(self, day: str, path: Path) -> int:
        """Open a day's file (0600); a day newer than the open one's replaces it as kept open."""
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)  # an older file's mode, whatever the umask
        except OSError:
            os.close(fd)
            raise
        if day > self._fd_day:
            self._close_fd(sync=False)
            self._fd, self._fd_day = fd, day
        return fd

    def _close_fd(self, *, sync: bool) -> None:
        fd, path = self._fd, self.directory / f"access-{self._fd_day}.jsonl"
        self._fd, self._fd_day = None, ""
        if fd is None:
            return
        try:
            if sync:
                os.fsync(fd)
        except OSError as exc:
            self._report("fsync", path, exc)
        try:
            os.close(fd)
        except OSError as exc:
            self._report("close", path, exc)

    def _maintain(self) -> None:
        """Gzip every past day's plain file but the open one; delete days past retention."""
        now = self._clock()
        self._next_maintenance = now + _MAINTAIN_EVERY
        today = dt.date.fromisoformat(_day(now))
        if self._fd is not None and (
            self._fd_day < today.isoformat() or os.fstat(self._fd).st_nlink == 0
        ):
            self._close_fd(sync=False)  # a past day's idle file, or one deleted under us
        try:
            with os.scandir(self.directory) as it:
                entries = [e for e in it if e.is_file(follow_symlinks=False)]
        except OSError as exc:
            self._report("list", self.directory, exc)
            return
        for entry in entries:
            match = LOG_NAME.match(entry.name)
            if match is None or match.group(1) == self._fd_day:
                continue
            try:
                day = dt.date.fromisoformat(match.group(1))
            except ValueError:  # e.g. access-2026-13-45.jsonl: not ours
                continue
            path = Path(entry.path)
            try:
                if (today - day).days > self.retention_days:
                    path.unlink()
                elif day < today and match.group(2) is None:
                    self._compress(path)
            except OSError as exc:
                self._report("maintain", path, exc)

    def _compress(self, src: Path) -> None:
        """``access-D.jsonl`` into ``access-D.jsonl.gz`` (one more member if it exists)."""
        dst = src.with_name(src.name + ".gz")
        tmp = src.with_name(src.name + ".gz.tmp")
        try:
            with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "wb") as out:
                os.fchmod(out.fileno(), FILE_MODE)
                if dst.exists():
                    with dst.open("rb") as old:
                        shutil.copyfileobj(old, out, _CHUNK)
                with (
                    src.open("rb") as raw,
                    gzip.GzipFile(fileobj=out, mode="wb", compresslevel=_GZIP_LEVEL) as gz,
                ):
                    shutil.copyfileobj(raw, gz, _CHUNK)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, dst)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        src.unlink()

    def _report(self, action: str, path: Path, exc: OSError | TypeError) -> None:
        """Log an error once per (action, file, errno): a full disk must not flood the log."""
        key = (action, path.name, getattr(exc, "errno", None))
        if key not in self._reported:
            self._reported.add(key)
            reason = getattr(exc, "strerror", None) or exc
            _log.error("access log: cannot %s %s: %s", action, path, reason)
