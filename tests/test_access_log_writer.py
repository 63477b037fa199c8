"""The access-log writer: day files, modes, gzip of past days, retention, no lost line, errors."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from localrouter.logs import writer as writer_mod
from localrouter.logs.writer import LOG_NAME, AccessLog, log_path

DAY1 = dt.date(2026, 12, 4)
DAY2 = dt.date(2026, 12, 5)
MIDNIGHT = dt.datetime(2026, 12, 5, tzinfo=dt.UTC).timestamp()  # DAY1 → DAY2


class FakeClock:
    """A clock the test moves: ``clock.now[0]`` is what it returns."""

    def __init__(self, now: float) -> None:
        self.now = [now]

    def __call__(self) -> float:
        return self.now[0]

    def advance(self, seconds: float) -> None:
        self.now[0] += seconds


def noon(day: dt.date) -> float:
    return dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC).timestamp()


def name(day: dt.date, gz: bool = False) -> str:
    return f"access-{day.isoformat()}.jsonl" + (".gz" if gz else "")


def read_plain(path: Path) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in path.read_bytes().splitlines()]


def read_gz(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rb") as f:
        return [json.loads(raw) for raw in f.read().splitlines()]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def open_files(directory: Path) -> set[str]:
    """Names of the files in ``directory`` this process holds open (Linux: /proc/self/fd)."""
    found, directory = set(), directory.resolve()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = Path(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # closed since listed
            continue
        if target.parent == directory:
            found.add(target.name)
    return found


needs_proc = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="no /proc/self/fd")


@pytest.fixture
def logs() -> Iterator[list[AccessLog]]:
    """Every AccessLog a test appends here is closed at its end, even on failure."""
    made: list[AccessLog] = []
    yield made
    for log in made:
        log.close()


def started(made: list[AccessLog], directory: Path, **kwargs: Any) -> AccessLog:
    log = AccessLog(directory, **kwargs)
    made.append(log)
    log.start()
    return log


def test_lines_land_in_their_ts_day_file_as_json_lines(
    tmp_path: Path, logs: list[AccessLog]
) -> None:
    directory = tmp_path / "logs"
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)  # an older, too open directory is tightened
    (directory / name(DAY1)).write_bytes(b'{"ts": 0}\n')
    os.chmod(directory / name(DAY1), 0o644)  # and an older, too open file
    log = started(logs, directory, clock=FakeClock(noon(DAY1)))
    sent = [
        {"ts": noon(DAY1), "request_id": "a", "status": "ok", "attempts": [{"ms": 1.5}]},
        {"ts": noon(DAY1) + 1, "request_id": "b", "client": None},
        {"ts": noon(DAY2), "request_id": "c"},  # its ts decides its file, not the clock
    ]
    for line in sent:
        log.write(dict(line))
    assert log.flush()
    assert read_plain(directory / name(DAY1)) == [{"ts": 0}, sent[0], sent[1]]
    assert read_plain(directory / name(DAY2)) == [sent[2]]
    assert mode(directory) == 0o700
    assert mode(directory / name(DAY1)) == 0o600
    assert mode(directory / name(DAY2)) == 0o600
    assert (log.written, log.dropped, log.pending) == (3, 0, 0)
    assert log_path(directory, noon(DAY2)) == directory / name(DAY2)
    assert log_path(directory, MIDNIGHT - 0.001) == directory / name(DAY1)
    match = LOG_NAME.match(name(DAY1, gz=True))
    assert match is not None and match.groups() == ("2026-12-04", ".gz")


@needs_proc
def test_past_day_is_gzipped_at_midnight_and_late_lines_join_it(
    tmp_path: Path, logs: list[AccessLog]
) -> None:
    clock = FakeClock(MIDNIGHT - 60)
    log = started(logs, tmp_path, clock=clock)
    day1 = [{"ts": MIDNIGHT - 50 + i, "request_id": f"d1-{i}"} for i in range(5)]
    for line in day1:
        log.write(dict(line))
    assert log.flush()
    assert sorted(p.name for p in tmp_path.iterdir()) == [name(DAY1)]
    assert open_files(tmp_path) == {name(DAY1)}  # the current day's file stays open

    clock.advance(120)  # 00:01 UTC of DAY2
    day2 = [{"ts": MIDNIGHT + 30 + i, "request_id": f"d2-{i}"} for i in range(3)]
    for line in day2:
        log.write(dict(line))
    assert log.flush()
    assert sorted(p.name for p in tmp_path.iterdir()) == [name(DAY1, gz=True), name(DAY2)]
    assert read_gz(tmp_path / name(DAY1, gz=True)) == day1
    assert mode(tmp_path / name(DAY1, gz=True)) == 0o600
    assert read_plain(tmp_path / name(DAY2)) == day2
    assert open_files(tmp_path) == {name(DAY2)}  # the other day's file was closed

    late = {"ts": MIDNIGHT - 0.5, "request_id": "late"}  # ended before midnight, queued after
    log.write(dict(late))
    assert log.flush()
    assert sorted(p.name for p in tmp_path.iterdir()) == [name(DAY1, gz=True), name(DAY2)]
    assert read_gz(tmp_path / name(DAY1, gz=True)) == [*day1, late]
    assert read_plain(tmp_path / name(DAY2)) == day2
    assert log.written == 9
    assert open_files(tmp_path) == {name(DAY2)}  # the late line's file was not kept open
    log.close()
    assert open_files(tmp_path) == set()


def test_hourly_maintenance_gzips_an_idle_past_day(tmp_path: Path, logs: list[AccessLog]) -> None:
    clock = FakeClock(MIDNIGHT - 60)
    log = started(logs, tmp_path, clock=clock)
    log.write({"ts": MIDNIGHT - 10, "request_id": "only"})
    assert log.flush()
    clock.advance(3700)  # DAY2, an hour later, and no request since
    deadline = time.monotonic() + 5
    while not (tmp_path / name(DAY1, gz=True)).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name(DAY1, gz=True)]
    assert read_gz(tmp_path / name(DAY1, gz=True)) == [{"ts": MIDNIGHT - 10, "request_id": "only"}]


def test_retention_deletes_old_days_only_and_follows_a_live_change(
    tmp_path: Path, logs: list[AccessLog]
) -> None:
    today = DAY2
    for age in (1, 8, 30, 31, 45):
        day = today - dt.timedelta(days=age)
        (tmp_path / name(day)).write_bytes(b'{"age": %d}\n' % age)
    for age in (30, 31):
        with gzip.open(tmp_path / name(today - dt.timedelta(days=age), gz=True), "wb") as f:
            f.write(b'{"gz": true}\n')
    others = {
        "notes.txt": b"mine",
        "access-2026-01-01.jsonl.bak": b"a copy",
        "access-latest.jsonl": b"not a day",
        "old-access-2020-01-01.jsonl": b"not ours",
        "access-2020-01-01.jsonl.gz.part": b"not ours either",
    }
    for other, data in others.items():
        (tmp_path / other).write_bytes(data)
    stamps = {other: (tmp_path / other).stat().st_mtime_ns for other in others}

    log = started(logs, tmp_path, clock=FakeClock(noon(today)), retention_days=30)
    assert log.flush()  # waits for the start-up maintenance too
    ago = {age: today - dt.timedelta(days=age) for age in (1, 8, 30, 31, 45)}
    expected = {name(ago[1], gz=True), name(ago[8], gz=True), name(ago[30], gz=True), *others}
    assert {p.name for p in tmp_path.iterdir()} == expected
    # day 30 had both a .gz and a plain file: the plain lines became one more member
    assert read_gz(tmp_path / name(ago[30], gz=True)) == [{"gz": True}, {"age": 30}]
    assert read_gz(tmp_path / name(ago[1], gz=True)) == [{"age": 1}]
    for other, data in others.items():
        assert (tmp_path / other).read_bytes() == data
        assert (tmp_path / other).stat().st_mtime_ns == stamps[other]

    log.retention_days = 7  # a config reload
    log.write({"ts": noon(today), "request_id": "x"})  # a new day's file: maintenance runs
    assert log.flush()
    expected = {name(ago[1], gz=True), name(today), *others}
    assert {p.name for p in tmp_path.iterdir()} == expected


def test_close_loses_no_line_of_50000(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    log = AccessLog(tmp_path, clock=FakeClock(MIDNIGHT + 60))
    log.start()
    assert [t.name for t in set(threading.enumerate()) - before] == ["localrouter-accesslog"]
    for i in range(50_000):
        log.write({"ts": MIDNIGHT + i / 1000, "i": i})
    log.close()
    log.close()  # idempotent
    assert not set(threading.enumerate()) - before  # the writer thread was joined
    ids = [line["i"] for line in read_plain(tmp_path / name(DAY2))]
    assert len(ids) == 50_000
    assert sorted(ids) == list(range(50_000))
    assert (log.written, log.dropped, log.pending) == (50_000, 0, 0)
    log.write({"ts": MIDNIGHT, "i": -1})  # after close: ignored
    assert log.pending == 0
    assert log.flush(timeout=0.1)


def test_flush_returns_with_everything_written(tmp_path: Path, logs: list[AccessLog]) -> None:
    log = started(logs, tmp_path, clock=FakeClock(MIDNIGHT + 60))
    for i in range(50_000):
        log.write({"ts": MIDNIGHT + 1, "i": i})
    assert log.flush(timeout=30)
    assert len((tmp_path / name(DAY2)).read_bytes().splitlines()) == 50_000
    assert (log.written, log.pending) == (50_000, 0)


def test_one_write_per_file_per_batch(
    tmp_path: Path, logs: list[AccessLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, int]] = []
    real = writer_mod._write_all

    def counting(fd: int, data: bytes) -> None:
        calls.append((fd, data.count(b"\n")))
        real(fd, data)

    monkeypatch.setattr(writer_mod, "_write_all", counting)
    log = AccessLog(tmp_path, clock=FakeClock(noon(DAY1)))
    logs.append(log)
    for i in range(1000):  # queued before the thread starts: one batch
        log.write({"ts": noon(DAY1) if i % 3 else noon(DAY2), "i": i})
    log.start()
    assert log.flush()
    assert sorted(n for _, n in calls) == [334, 666]


def test_write_does_no_encoding_or_io_on_the_callers_thread(
    tmp_path: Path, logs: list[AccessLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: set[int] = set()
    real_dumps, real_write = orjson.dumps, writer_mod._write_all

    def dumps(obj: Any) -> bytes:
        threads.add(threading.get_ident())
        return real_dumps(obj)

    def write_all(fd: int, data: bytes) -> None:
        threads.add(threading.get_ident())
        real_write(fd, data)

    monkeypatch.setattr(orjson, "dumps", dumps)
    monkeypatch.setattr(writer_mod, "_write_all", write_all)
    log = started(logs, tmp_path, clock=FakeClock(noon(DAY1)))
    start = time.perf_counter()
    for i in range(10_000):
        log.write({"ts": noon(DAY1), "i": i})
    elapsed = time.perf_counter() - start  # reported only: no timing assertion
    assert log.flush()
    assert log.written == 10_000
    assert threads and threading.get_ident() not in threads
    print(f"write(): {elapsed / 10_000 * 1e6:.2f} µs a call")


def test_disabled_writes_nothing_until_enabled(tmp_path: Path, logs: list[AccessLog]) -> None:
    log = started(logs, tmp_path, clock=FakeClock(noon(DAY1)), enabled=False)
    log.write({"ts": noon(DAY1), "i": 1})
    assert log.flush()
    assert (log.written, log.pending, log.dropped) == (0, 0, 0)
    assert not (tmp_path / name(DAY1)).exists()
    log.enabled = True
    log.write({"ts": noon(DAY1), "i": 2})
    assert log.flush()
    assert read_plain(tmp_path / name(DAY1)) == [{"ts": noon(DAY1), "i": 2}]


def test_a_full_queue_drops_and_logs_once(
    tmp_path: Path, logs: list[AccessLog], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="localrouter.accesslog")
    log = AccessLog(tmp_path, clock=FakeClock(noon(DAY1)), max_pending=10)
    logs.append(log)
    for i in range(15):  # no writer yet: the queue fills
        log.write({"ts": noon(DAY1), "i": i})
    assert (log.pending, log.dropped) == (10, 5)
    assert len(caplog.records) == 1
    log.start()
    assert log.flush()
    assert [line["i"] for line in read_plain(tmp_path / name(DAY1))] == list(range(10))


def test_a_write_error_is_counted_logged_and_survived(
    tmp_path: Path, logs: list[AccessLog], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="localrouter.accesslog")
    blocked = tmp_path / name(DAY1)
    blocked.mkdir()  # a directory where DAY1's file goes: EISDIR, root or not
    clock = FakeClock(noon(DAY1))
    log = started(logs, tmp_path, clock=clock)
    for i in range(3):
        log.write({"ts": noon(DAY1), "i": i})
    assert log.flush()
    log.write({"ts": noon(DAY1), "i": 3})
    log.write({"ts": noon(DAY1), "i": 4, "bad": {1, 2}})  # a set: orjson cannot encode it
    assert log.flush()
    assert (log.written, log.dropped, log.pending) == (0, 5, 0)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2  # once for the file (not per batch), once for the encoding
    assert str(blocked) in messages[0]

    clock.advance(86400)
    log.write({"ts": noon(DAY2), "i": 5})  # a writable day: the thread still writes
    assert log.flush()
    assert read_plain(tmp_path / name(DAY2)) == [{"ts": noon(DAY2), "i": 5}]
    assert (log.written, log.dropped) == (1, 5)
    assert blocked.is_dir()  # not ours to touch: maintenance skips what is not a file


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory")
def test_a_read_only_directory_drops_then_recovers(
    tmp_path: Path, logs: list[AccessLog], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="localrouter.accesslog")
    log = started(logs, tmp_path, clock=FakeClock(noon(DAY1)))
    assert log.flush()
    os.chmod(tmp_path, 0o500)
    try:
        log.write({"ts": noon(DAY1), "i": 0})
        assert log.flush()
    finally:
        os.chmod(tmp_path, 0o700)
    assert (log.written, log.dropped) == (0, 1)
    assert any(str(tmp_path / name(DAY1)) in r.getMessage() for r in caplog.records)
    log.write({"ts": noon(DAY1), "i": 1})
    assert log.flush()
    assert read_plain(tmp_path / name(DAY1)) == [{"ts": noon(DAY1), "i": 1}]
