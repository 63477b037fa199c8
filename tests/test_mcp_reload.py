"""``/mcp`` across changes: an upstream's ``list_changed`` and a reload that adds and removes a
server while a client is connected. An unchanged server keeps its session and its process; a
removed one's process ends."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import mcp_types as types

from tests.gateway import Gateway, running_gateway
from tests.mcp_client import names, session, text
from tests.mcp_servers.run import broken_argv, stdio_argv, time_argv

BASE = """
version: 2
providers:
  mock: {{type: mock}}
strategies:
  agents:
    models: [mock/echo]
    mcp: {{servers: [{servers}]}}
clients:
  app: {{key_prefix: "{{key_prefix:app}}", key_hash: "{{key_hash:app}}", strategy: agents}}
mcp_servers:
{entries}
"""


def _entry(name: str, argv: list[str]) -> str:
    return f"  {name}: {{transport: stdio, command: {json.dumps(argv)}}}"


def _config(servers: dict[str, list[str]]) -> str:
    entries = "\n".join(_entry(n, a) for n, a in servers.items())
    return BASE.format(servers=", ".join(servers), entries=entries)


def _health(gw: Gateway) -> dict[str, Any]:
    with urllib.request.urlopen(gw.url + "/health", timeout=5) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


async def _until(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


def _processes(marker: str) -> set[int]:
    """PIDs whose command line contains ``marker`` (the fixture's ``--name``)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.add(int(entry.name))
    return found


def _ready(gw: Gateway, *servers: str) -> bool:
    states = _health(gw)["mcp_servers"]
    return all(states.get(s, {}).get("state") == "ready" for s in servers)


def _changes(notes: list[Any]) -> int:
    return sum(isinstance(n, types.ToolListChangedNotification) for n in notes)


async def test_an_upstream_list_changed_reaches_the_client(tmp_path: Path) -> None:
    with running_gateway(_config({"fx": stdio_argv("fx-lc")}), tmp_path) as gw:
        notes: list[Any] = []
        async with session(gw.url, gw.keys["app"], notes) as s:
            await _until(lambda: _ready(gw, "fx"))
            assert "fx__late" not in names(await s.list_tools())
            before = _changes(notes)
            assert text(await s.call_tool("fx__add_tool_later", {})) == "added late"
            await _until(lambda: _changes(notes) > before)
            assert "fx__late" in names(await s.list_tools())
            assert text(await s.call_tool("fx__late", {})) == "late"


async def test_a_reload_adds_and_removes_servers_under_a_connected_client(
    tmp_path: Path,
) -> None:
    first = {"time": time_argv(), "old": stdio_argv("fx-old-reload")}
    with running_gateway(_config(first), tmp_path, watch=True) as gw:
        notes: list[Any] = []
        async with session(gw.url, gw.keys["app"], notes) as s:
            await _until(lambda: _ready(gw, "time", "old"))
            got = names(await s.list_tools())
            assert "old__echo" in got and "new__echo" not in got
            old_pids = _processes("fx-old-reload")
            assert len(old_pids) == 1
            sha = _health(gw)["config"]["sha"]
            before = _changes(notes)

            second = {"time": time_argv(), "new": stdio_argv("fx-new-reload")}
            gw.config.write_text(gw.render(_config(second)), encoding="utf-8")
            await _until(lambda: _health(gw)["config"]["sha"] != sha)
            await _until(lambda: _ready(gw, "time", "new"))
            await _until(lambda: _changes(notes) > before)  # the client is told

            got = names(await s.list_tools())  # the same session, the new table
            assert "new__echo" in got and "old__echo" not in got
            assert text(await s.call_tool("new__echo", {"text": "after"})) == "after"
            now = await s.call_tool("time__get_current_time", {"timezone": "UTC"})
            assert not now.is_error
            states = _health(gw)["mcp_servers"]
            assert set(states) == {"time", "new"}
            assert states["time"]["restarts"] == 0  # unchanged: kept its session
            await _until(lambda: not (_processes("fx-old-reload") & old_pids))  # its process ended
            assert len(_processes("fx-new-reload")) == 1


async def test_a_changed_server_is_restarted(tmp_path: Path) -> None:
    first = {"fx": stdio_argv("fx-changed-a")}
    with running_gateway(_config(first), tmp_path, watch=True) as gw:
        async with session(gw.url, gw.keys["app"]) as s:
            await _until(lambda: _ready(gw, "fx"))
            assert text(await s.call_tool("fx__echo", {"text": "a"})) == "a"
            sha = _health(gw)["config"]["sha"]
            gw.config.write_text(
                gw.render(_config({"fx": stdio_argv("fx-changed-b")})), encoding="utf-8"
            )
            await _until(lambda: _health(gw)["config"]["sha"] != sha)
            await _until(lambda: _processes("fx-changed-b") and _ready(gw, "fx"))
            await _until(lambda: not _processes("fx-changed-a"))
            assert text(await s.call_tool("fx__echo", {"text": "b"})) == "b"


def _with_mark(mark: str) -> set[int]:
    """PIDs whose environment holds ``LR_TEST_MARK=mark``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if f"LR_TEST_MARK={mark}".encode() in (entry / "environ").read_bytes():
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


async def test_no_server_process_outlives_the_gateway(tmp_path: Path) -> None:
    """Even a server that ignores its stdin closing (``hang``, still starting: it never answers
    initialize) is stopped on shutdown: the SDK's escalation (stdin closed, SIGTERM, SIGKILL)
    runs to its end."""
    mark = f"outlive-{time.monotonic_ns()}"
    entries = "\n".join(
        f"  {name}: {{transport: stdio, command: {json.dumps(argv)}, "
        f"connect_timeout_s: 60, env: {{LR_TEST_MARK: {mark}}}}}"
        for name, argv in (("fx", stdio_argv("fx-outlive")), ("stuck", broken_argv("hang")))
    )
    text = BASE.format(servers="fx, stuck", entries=entries)
    with running_gateway(text, tmp_path) as gw:
        await _until(lambda: _ready(gw, "fx") and len(_with_mark(mark)) == 2)
    await _until(lambda: not _with_mark(mark), timeout=15)
