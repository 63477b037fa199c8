"""Real clients that tests run against the gateway, installed as users install them.

- Claude Code, the ``@anthropic-ai/claude-code`` CLI from npm: pinned in ``package.json`` with
  npm's lock file beside it; ``make test`` installs it with ``npm ci --prefix tests/clients``
  (into ``tests/clients/node_modules``, which git ignores). The package is a wrapper whose
  install script puts the native binary of the platform (an optional dependency,
  ``@anthropic-ai/claude-code-linux-x64`` and the like) in place of ``bin/claude.exe``: once
  installed it needs neither Node nor the network.
- Codex, the ``@openai/codex`` CLI from npm, pinned and installed the same way: its helpers are
  in :mod:`tests.clients.codex` (its launcher is a Node script, so it needs Node to run too).
- ``puppeteer-core`` from npm, pinned and installed the same way, drives Debian's firefox-esr
  over WebDriver BiDi for the dashboard's Firefox test (``firefox_dashboard.mjs``).
- :class:`Listener` stands for a CLI's proxy, to see that it contacted nothing but the gateway;
  :func:`logged` reads the gateway's access log for one client.
- The official ``anthropic`` and ``openai`` SDKs come from the Python lock files (``.venv``).

"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localrouter.logs.reader import iter_lines, log_files

if TYPE_CHECKING:
    from tests.gateway import Gateway

HERE = Path(__file__).resolve().parent
CLAUDE = HERE / "node_modules" / ".bin" / "claude"
INSTALL = "npm ci --prefix tests/clients"


def node_missing() -> str | None:
    """Why Claude Code cannot run on this machine (None when it can). Without node and npm the
    CLI cannot be installed: a skip. With them, a CLI that is not installed is a failure that
    says how to install it (``make test`` does), never a silent skip."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node and npm are not installed: Claude Code (npm) cannot be installed here"
    return None


def claude_path() -> Path:
    if not CLAUDE.exists():
        raise AssertionError(f"Claude Code is not installed: run `{INSTALL}` (make test does)")
    return CLAUDE


@dataclass(frozen=True)
class ClaudeRun:
    code: int
    result: dict[str, Any]  # the JSON object `--output-format json` prints
    stderr: str

    @property
    def text(self) -> str:
        text: str = self.result.get("result", "")
        return text


# What docs/claude-code.md tells users to set: nothing leaves the machine but the model calls.
QUIET = {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}


def run_claude(
    prompt: str,
    home: Path,
    env: dict[str, str],
    timeout: float = 90.0,
    extra: tuple[str, ...] = (),
) -> ClaudeRun:
    """``claude -p PROMPT --output-format json [EXTRA…]`` in a fresh ``home`` (no user settings,
    no login), with only ``env`` (plus PATH) in its environment: no proxy or key of the caller's
    leaks in. ``home`` is also its working directory."""
    home.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [str(claude_path()), "-p", prompt, "--output-format", "json", *extra],
        cwd=home,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(
            f"claude printed no JSON (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        ) from None
    return ClaudeRun(proc.returncode, result, proc.stderr)


class Listener:
    """A loopback port that counts the connections made to it: a CLI's proxy (``HTTPS_PROXY``,
    ``HTTP_PROXY``, with ``NO_PROXY=127.0.0.1``), so any request it sends anywhere but the gateway
    (loopback, exempt) is seen here."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.seen: list[bytes] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.seen.append(conn.recv(200))
                except OSError:
                    self.seen.append(b"")

    def close(self) -> None:
        self.sock.close()


def logged(
    gw: Gateway, client: str, timeout: float = 5.0, at_least: int = 1
) -> list[dict[str, Any]]:
    """The access-log lines of ``client`` (waiting for the writer to have written
    ``at_least`` of them)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [
            line
            for path in log_files(gw.config.parent / "logs")
            for line in iter_lines(path)
            if line is not None and line.get("client") == client
        ]
        if len(lines) >= at_least or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)
