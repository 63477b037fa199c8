"""Start the upstream MCP servers from tests: the argv of each over stdio, and the HTTP ones as
subprocesses on free loopback ports.

An HTTP server is started with ``--port 0`` (the kernel picks the port as the server binds it,
so no two tests race for one) and is ready when it writes ``READY <port>`` on stderr; the wait is
bounded, and a server that exits or stays silent fails the test with its stderr. At the end it
is terminated, then killed if it lingers. Its stderr keeps being drained (a full pipe would stall
it), the last lines kept for diagnostics.

The argvs run the servers' files by path, not ``-m``, so they work from any working directory
(the gateway starts stdio servers in its own); ``python -m tests.mcp_servers.fixture`` works too
from the repository root.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FIXTURE = HERE / "fixture.py"
BROKEN = HERE / "broken.py"
CLIENTS = ROOT / "tests" / "clients"
EVERYTHING = CLIENTS / "node_modules" / "@modelcontextprotocol" / "server-everything"
INSTALL = "npm ci --prefix tests/clients"

HttpTransport = Literal["sse", "streamable_http"]
PATHS: dict[str, str] = {"sse": "/sse", "streamable_http": "/mcp"}
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


def fixture_argv(
    transport: Literal["stdio", "sse", "streamable_http"] = "stdio",
    *,
    name: str | None = None,
    port: int = 0,
    stateless: bool = False,
) -> list[str]:
    """The command line of the fixture server."""
    argv = [sys.executable, str(FIXTURE), "--transport", transport]
    if transport != "stdio":
        argv += ["--port", str(port)]
    if name is not None:
        argv += ["--name", name]
    if stateless:
        argv.append("--stateless")
    return argv


def stdio_argv(name: str | None = None) -> list[str]:
    """The fixture over stdio, as a gateway's ``command`` + ``args``."""
    return fixture_argv("stdio", name=name)


def broken_argv(
    mode: Literal["garbage", "hang", "exit", "slow_start"], *, delay: float | None = None
) -> list[str]:
    """A misbehaving stdio server (see :mod:`tests.mcp_servers.broken`)."""
    argv = [sys.executable, str(BROKEN), "--mode", mode]
    if delay is not None:
        argv += ["--delay", str(delay)]
    return argv


def time_argv() -> list[str]:
    """``mcp-server-time`` (PyPI) over stdio: the console script beside this Python, or the
    module when the script is not there."""
    script = Path(sys.executable).parent / "mcp-server-time"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "mcp_server_time"]


def everything_missing() -> str | None:
    """Why ``@modelcontextprotocol/server-everything`` cannot run here (None when it can).
    Without Node it cannot: a skip. With Node, a package that is not installed is a failure that
    says how to install it (``make test`` does), never a silent skip."""
    if shutil.which("node") is None:
        return "node is not installed: @modelcontextprotocol/server-everything (npm) cannot run"
    return None


def everything_argv() -> list[str] | None:
    """``@modelcontextprotocol/server-everything`` over stdio (its bin, ``dist/index.js``, with
    the argument ``stdio``), or None when Node is missing (:func:`everything_missing` says so)."""
    node = shutil.which("node")
    if node is None:
        return None
    script = EVERYTHING / "dist" / "index.js"
    if not script.exists():
        raise AssertionError(
            f"server-everything is not installed: run `{INSTALL}` (make test does)"
        )
    return [node, str(script), "stdio"]


@dataclass
class Served:
    """A server running as a subprocess on 127.0.0.1:``port``."""

    proc: subprocess.Popen[bytes]
    port: int
    url: str  # the MCP endpoint (``/sse`` or ``/mcp``)
    started_ms: float  # from spawn to READY
    _tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=50))

    @property
    def stderr_tail(self) -> str:
        return "".join(self._tail)


def _pump(
    stream: Iterator[bytes], lines: queue.Queue[str | None], tail: collections.deque[str]
) -> None:
    """Copy stderr lines to the queue (until READY is seen) and to the tail, until EOF."""
    for raw in stream:
        line = raw.decode("utf-8", "replace")
        tail.append(line)
        lines.put(line)
    lines.put(None)


@contextlib.contextmanager
def serve(
    argv: Sequence[str],
    *,
    path: str = "/mcp",
    env: dict[str, str] | None = None,
    timeout: float = READY_TIMEOUT,
) -> Iterator[Served]:
    """Run ``argv`` (a server that prints ``READY <port>`` on stderr) until the block ends."""
    started = time.monotonic()
    proc = subprocess.Popen(
        list(argv),
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: a kill reaches its children too
    )
    assert proc.stderr is not None
    lines: queue.Queue[str | None] = queue.Queue()
    tail: collections.deque[str] = collections.deque(maxlen=50)
    threading.Thread(target=_pump, args=(proc.stderr, lines, tail), daemon=True).start()
    try:
        port = _wait_ready(proc, lines, tail, started + timeout)
        served = Served(
            proc, port, f"http://127.0.0.1:{port}{path}", (time.monotonic() - started) * 1000, tail
        )
        yield served
    finally:
        stop(proc)


def _wait_ready(
    proc: subprocess.Popen[bytes],
    lines: queue.Queue[str | None],
    tail: collections.deque[str],
    deadline: float,
) -> int:
    while True:
        left = deadline - time.monotonic()
        try:
            line = lines.get(timeout=max(left, 0.0)) if left > 0 else None
        except queue.Empty:
            line = None
        if line is None:
            proc.poll()
            why = "exited" if proc.returncode is not None else "did not say READY in time"
            raise AssertionError(
                f"{proc.args!r} {why} (status {proc.returncode}):\n{''.join(tail)}"
            )
        if line.startswith("READY "):
            return int(line.split()[1])


def stop(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """Terminate the server's process group, then kill it if it lingers."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)
    if proc.stderr is not None:
        proc.stderr.close()


@contextlib.contextmanager
def serve_fixture(
    transport: HttpTransport,
    *,
    name: str | None = None,
    env: dict[str, str] | None = None,
    stateless: bool = False,
    timeout: float = READY_TIMEOUT,
) -> Iterator[Served]:
    """The fixture server over SSE (``url`` ends in ``/sse``) or Streamable HTTP (``/mcp``)."""
    argv = fixture_argv(transport, name=name, stateless=stateless)
    with serve(argv, path=PATHS[transport], env=env, timeout=timeout) as served:
        yield served


@contextlib.contextmanager
def serve_broken_http(
    mode: Literal["garbage", "http500", "hang"], *, timeout: float = READY_TIMEOUT
) -> Iterator[Served]:
    """A broken Streamable HTTP server (``url`` ends in ``/mcp``; any path gets the same)."""
    argv = [
        sys.executable,
        str(BROKEN),
        "--transport",
        "streamable_http",
        "--mode",
        mode,
        "--port",
        "0",
    ]
    with serve(argv, path="/mcp", timeout=timeout) as served:
        yield served
