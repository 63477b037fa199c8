"""Hot reload in a real ``localrouter serve`` process: a saved file is picked up by the watcher,
``--no-watch`` ignores it until SIGHUP, and each reload is logged in one line."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from localrouter.server.http_servers import HTTP_SERVERS
from tests.fakes.serve import free_port
from tests.gateway import render
from tests.test_restart_process import serve_process

CONFIG = """
version: 2
state_dir: {state}
providers:
  mock: {{type: mock, models: {{small: {{}}, large: {{}}}}}}
strategies:
  s: {{models: [{first}, {second}]}}
clients:
  app: {{key_prefix: "{{key_prefix:app}}", key_hash: "{{key_hash:app}}", strategy: s}}
"""


def generation(url: str) -> int:
    return int(httpx.get(f"{url}/health", timeout=5).json()["config"]["generation"])


def until_generation(url: str, n: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while generation(url) != n:
        assert time.monotonic() < deadline, f"generation never reached {n}"
        time.sleep(0.05)


def setup(tmp_path: Path) -> tuple[Path, dict[str, object], dict[str, str]]:
    made: dict[str, object] = {}
    keys: dict[str, str] = {}
    path = tmp_path / "routers.yaml"
    text = CONFIG.format(state=tmp_path / "state", first="mock/small", second="mock/large")
    path.write_text(render(text, made, keys), encoding="utf-8")  # type: ignore[arg-type]
    return path, made, keys


def rewrite(path: Path, made: dict[str, object], keys: dict[str, str]) -> None:
    text = CONFIG.format(state=path.parent / "state", first="mock/large", second="mock/small")
    tmp = path.with_name("routers.yaml.new")
    tmp.write_text(render(text, made, keys), encoding="utf-8")  # type: ignore[arg-type]
    os.replace(tmp, path)


def test_the_watcher_reloads_a_saved_file(tmp_path: Path) -> None:
    path, made, keys = setup(tmp_path)
    log = tmp_path / "serve.log"
    with serve_process(path, free_port(), watch=True, log=log) as (url, _proc):
        time.sleep(0.3)
        rewrite(path, made, keys)
        until_generation(url, 2)
    lines = [line for line in log.read_text().splitlines() if "reloaded (file changed)" in line]
    assert len(lines) == 1, log.read_text()
    assert "client app: route 'default': re-ordered mock/small > mock/large" in lines[0]
    assert "change detected" not in log.read_text()  # watchfiles' own line is not repeated


@pytest.mark.parametrize("server", HTTP_SERVERS)
def test_no_watch_waits_for_sighup(tmp_path: Path, server: str) -> None:
    path, made, keys = setup(tmp_path)
    log = tmp_path / "serve.log"
    with serve_process(path, free_port(), log=log, http_server=server) as (url, proc):
        rewrite(path, made, keys)
        time.sleep(1.0)
        assert generation(url) == 1  # not watched
        proc.send_signal(signal.SIGHUP)
        until_generation(url, 2)
    assert "reloaded (SIGHUP)" in log.read_text()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_recursive_alias_is_refused_at_once_and_the_next_save_applies(tmp_path: Path) -> None:
    # before: the reload walked `&b [*b]` forever (RSS +60 MB/s) and no later save was applied
    path, made, keys = setup(tmp_path)
    with serve_process(path, free_port(), watch=True) as (url, proc):
        time.sleep(0.3)
        before = rss_mb(proc.pid)
        with path.open("a", encoding="utf-8") as f:
            f.write("x-loop: &b [*b]\n")
        deadline = time.monotonic() + 3
        while (config := httpx.get(f"{url}/health", timeout=5).json()["config"])["status"] == "ok":
            assert time.monotonic() < deadline, "the refusal never showed on /health"
            time.sleep(0.05)
        assert [e["code"] for e in config["errors"]] == ["LR103"]
        assert config["last_reload"]["outcome"] == "failed"
        time.sleep(0.5)
        assert rss_mb(proc.pid) - before < 30  # nothing keeps growing
        rewrite(path, made, keys)
        until_generation(url, 2)
        assert httpx.get(f"{url}/health", timeout=5).json()["config"]["status"] == "ok"
