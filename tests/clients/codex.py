"""The Codex CLI (``@openai/codex`` from npm), run the way docs/codex.md sets it up.

The npm package is a Node script (``bin/codex.js``) that finds the native binary of the platform
(an optional dependency, ``@openai/codex-linux-x64`` and the like, installed under the alias of
``@openai/codex@VERSION-linux-x64``) and executes it. So unlike Claude Code it needs Node at run
time, not only to install.

A run gets a fresh ``CODEX_HOME`` holding the ``config.toml`` of the docs (a custom model
provider at the gateway, Responses wire API, the key read from :data:`ENV_KEY`), plus what only
tests want: no retries (Codex retries a failed request five times, six seconds in all), and
``HOME``, the working directory and everything Codex writes (sessions, its sqlite state) inside
that temporary directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.clients import HERE, INSTALL

CODEX = HERE / "node_modules" / ".bin" / "codex"
ENV_KEY = "LOCALROUTER_API_KEY"  # the variable config.toml's env_key names

# What docs/codex.md tells users to put in config.toml: nothing leaves the machine but the model
# calls. Measured on 0.171.0: without `features.plugins = false` codex exec clones
# github.com/openai/plugins and asks api.github.com and chatgpt.com; without
# `analytics.enabled = false` it posts to ab.chatgpt.com. The update check and feedback are
# the interactive CLI's; they are off for the same reason.
QUIET = """\
check_for_update_on_startup = false

[features]
plugins = false

[analytics]
enabled = false

[feedback]
enabled = false
"""


def codex_missing() -> str | None:
    """Why Codex cannot run on this machine (None when it can). Without node and npm the CLI
    can be neither installed nor started (its entry point is a Node script): a skip. With them,
    a CLI that is not installed is a failure that says how to install it (``make test`` does)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return (
            "node and npm are not installed: the Codex CLI (npm, a Node launcher) cannot run here"
        )
    return None


def codex_path() -> Path:
    if not CODEX.exists():
        raise AssertionError(f"the Codex CLI is not installed: run `{INSTALL}` (make test does)")
    return CODEX


def config_toml(
    base_url: str, model: str, *, retries: bool = False, web_search: bool = False, extra: str = ""
) -> str:
    """The ``config.toml`` of docs/codex.md: ``base_url`` is the gateway's ``…/v1``. Codex
    retries a failed request (``request_max_retries``, ``stream_max_retries``, five by default)
    unless ``retries`` is false, as the tests want it: one request, one answer. Its hosted
    ``web_search`` tool is off unless ``web_search``: only a provider that serves the Responses
    API natively can take a request that offers it."""
    tuning = "" if retries else "request_max_retries = 0\nstream_max_retries = 0\n"
    search = "" if web_search else 'web_search = "disabled"\n'
    return (
        f'model = "{model}"\n'
        'model_provider = "localrouter"\n'
        'approval_policy = "never"\n'
        'sandbox_mode = "read-only"\n'
        f"{search}"
        f"{extra}"
        f"{QUIET}\n"
        "[model_providers.localrouter]\n"
        'name = "LocalRouter"\n'
        f'base_url = "{base_url}"\n'
        f'env_key = "{ENV_KEY}"\n'
        'wire_api = "responses"\n'
        f"{tuning}"
    )


@dataclass(frozen=True)
class CodexRun:
    code: int
    events: list[dict[str, Any]]  # the JSON lines `codex exec --json` printed
    stderr: str

    def items(self, kind: str) -> list[dict[str, Any]]:
        """The completed items of one type: ``agent_message``, ``command_execution``, …"""
        return [
            e["item"]
            for e in self.events
            if e.get("type") == "item.completed" and e["item"].get("type") == kind
        ]

    @property
    def answer(self) -> str:
        """The model's last message, as Codex printed it."""
        messages = self.items("agent_message")
        return str(messages[-1]["text"]) if messages else ""

    @property
    def usage(self) -> dict[str, Any]:
        done = [e for e in self.events if e.get("type") == "turn.completed"]
        return dict(done[-1]["usage"]) if done else {}

    def explain(self) -> str:
        return (
            f"exit {self.code}\n{json.dumps(self.events, indent=1)[:4000]}\n{self.stderr[-4000:]}"
        )


def run_codex(
    prompt: str,
    root: Path,
    config: str,
    env: dict[str, str],
    *,
    timeout: float = 90.0,
) -> CodexRun:
    """``codex exec --json PROMPT`` with ``CODEX_HOME=root/codex`` holding ``config``, ``HOME``
    ``root/home`` and the working directory ``root/work`` (not a git repository: hence
    ``--skip-git-repo-check``). Its environment is ``env`` and PATH, nothing of the caller's
    (no proxy, no key, no ``OPENAI_*``). Stdin is empty: exec reads it as more of the prompt."""
    codex_home, home, work = root / "codex", root / "home", root / "work"
    for path in (codex_home, home, work):
        path.mkdir(parents=True, exist_ok=True)
    (codex_home / "config.toml").write_text(config, encoding="utf-8")
    argv = [str(codex_path()), "exec", "--json", "--strict-config", "--skip-git-repo-check"]
    proc = subprocess.run(
        [*argv, prompt],
        cwd=work,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "CODEX_HOME": str(codex_home),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    events: list[dict[str, Any]] = []
    for line in proc.stdout.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            raise AssertionError(
                f"codex exec --json printed a line that is not JSON (exit {proc.returncode}):\n"
                f"{proc.stdout}\n{proc.stderr}"
            ) from None
    return CodexRun(proc.returncode, events, proc.stderr)
