"""The files ``serve`` keeps in ``state_dir``: every file 0600 (SQLite's ``-wal``/``-shm`` too) in a
0700 directory whatever the umask, and a corrupt ``generations.sqlite3`` or
``responses/responses.sqlite3`` stops ``serve`` with one line naming the file and how to
recover."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.serve import free_port
from tests.gateway import running_gateway, write_config

CONFIG = """
version: 2
state_dir: state
providers: {mock: {type: mock, models: {small: {}}}}
strategies: {s: {models: [mock/small]}}
clients: {app: {key_prefix: "{key_prefix:app}", key_hash: "{key_hash:app}", strategy: s}}
"""


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def modes(directory: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(directory.stat().st_mode)}
    for p in directory.rglob("*"):
        found[str(p.relative_to(directory))] = stat.S_IMODE(p.stat().st_mode)
    return found


def wrong(found: dict[str, int], directory: Path) -> dict[str, str]:
    return {
        name: oct(mode)
        for name, mode in found.items()
        if mode != (0o700 if (directory / name).is_dir() else 0o600)
    }


def test_state_files_are_0600_in_a_0700_directory(tmp_path: Path, umask_022: None) -> None:
    state = tmp_path / "state"
    with running_gateway(CONFIG, tmp_path) as gw:
        body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
        r = httpx.post(f"{gw.v1}/chat/completions", json=body, timeout=10,
                       headers={"authorization": f"Bearer {gw.keys['app']}"})  # fmt: skip
        assert r.status_code == 200, r.text
        r = httpx.post(f"{gw.v1}/responses", json={"model": "auto", "input": "hi"}, timeout=10,
                       headers={"authorization": f"Bearer {gw.keys['app']}"})  # fmt: skip
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 5
        while not (state / "generations.sqlite3-wal").exists():  # the record's batch is written
            assert time.monotonic() < deadline, sorted(modes(state))
            time.sleep(0.05)
        serving = modes(state)
    assert {"generations.sqlite3", "generations.sqlite3-wal", "generations.sqlite3-shm"} <= set(
        serving
    )
    assert "responses/responses.sqlite3" in serving
    assert wrong(serving, state) == {}
    stopped = modes(state)
    assert "limits.sqlite3" in stopped  # written at shutdown
    assert wrong(stopped, state) == {}


@pytest.mark.parametrize("name", ["generations.sqlite3", "responses/responses.sqlite3"])
def test_a_corrupt_database_stops_serve_with_one_line(tmp_path: Path, name: str) -> None:
    path, _keys = write_config(CONFIG, tmp_path)
    bad = tmp_path / "state" / name
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"this is not a database" * 200)
    done = subprocess.run(
        [sys.executable, "-m", "localrouter.cli", "serve", "--config", str(path), "--port",
         str(free_port()), "--no-watch"],
        capture_output=True,
        text=True,
        timeout=30,
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and str(bad) in lines[0]
    assert "To recover" in lines[0] and f"{bad}-wal" in lines[0]
    assert bad.read_bytes() == b"this is not a database" * 200  # left as it was, for a look
