"""The command line itself: ``--version``, ``python -m localrouter``, help on every argument,
``init`` without a PATH, and colour in diagnostics only where it is wanted."""

from __future__ import annotations

import argparse
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from localrouter import __version__
from localrouter.cli import _parser
from tests.conftest import ROOT, run_cli

ESC = "\x1b["
BAD = (
    "version: 2\nproviders: {m: {type: mock, models: {x: {}}}}\nstrategies: {s: {models: [m/y]}}\n"
)


def test_version() -> None:
    result = run_cli("--version")
    assert (result.code, result.out) == (0, f"localrouter {__version__}\n")


def test_python_m_localrouter_works_like_localrouter() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "localrouter", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
    )
    assert (done.returncode, done.stdout) == (0, f"localrouter {__version__}\n"), done.stderr


def _parsers(p: argparse.ArgumentParser, name: str) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(name, p)]
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                found += _parsers(sub, f"{name} {sub_name}")
    return found


def test_every_argument_of_every_command_has_help() -> None:
    walked = _parsers(_parser(), "localrouter")
    assert len(walked) > 15  # every command and every keys/secrets action
    missing = [
        f"{name}: {action.dest}"
        for name, p in walked
        for action in p._actions
        if not action.help or action.help == argparse.SUPPRESS
    ]
    summaries = [  # each command's one line in its parent's list of commands
        f"{name} {choice.dest}"
        for name, p in walked
        for action in p._actions
        if isinstance(action, argparse._SubParsersAction)
        for choice in action._choices_actions
        if not choice.help
    ]
    assert missing == [] and summaries == []


# -- init without PATH -------------------------------------------------------------------------


def test_init_without_path_writes_the_user_config_and_prints_only_the_key(tmp_path: Path) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "LOCALROUTER_CONFIG"}
    env["HOME"] = str(home)
    argv = [sys.executable, "-m", "localrouter", "init"]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=work, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    key = done.stdout
    assert key.startswith("lr-") and key.endswith("\n") and len(key.strip()) == 46
    assert key.count("\n") == 1  # `KEY=$(localrouter init)` gets the key and nothing else
    written = home / ".localrouter" / "routers.yaml"
    assert written.is_file() and str(written) in done.stderr
    assert (home / ".localrouter").stat().st_mode & 0o777 == 0o700
    assert written.stat().st_mode & 0o777 == 0o600
    assert list(work.iterdir()) == []  # nothing in the working directory
    # the lookup finds it: with no --config, `validate` from any directory uses it
    check = subprocess.run(
        [sys.executable, "-m", "localrouter", "validate"],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
        timeout=60,
    )
    assert check.returncode == 0 and str(written) in check.stdout + check.stderr
    again = subprocess.run(argv, capture_output=True, text=True, cwd=work, env=env, timeout=60)
    assert again.returncode == 2 and again.stdout == ""
    assert f"error: {written} exists" in again.stderr and "--force" in again.stderr


# -- colour ------------------------------------------------------------------------------------


def _validate(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "bad.yaml"
    config.write_text(BAD, encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    return subprocess.run(
        [sys.executable, "-m", "localrouter", "validate", str(config)],
        capture_output=True,
        text=True,
        env={**base, **env},
        timeout=60,
    )


def test_no_colour_into_a_pipe(tmp_path: Path) -> None:
    done = _validate(tmp_path, {})
    assert done.returncode == 1 and "error[LR" in done.stdout
    assert ESC not in done.stdout + done.stderr


def test_force_colour_colours_a_pipe(tmp_path: Path) -> None:
    done = _validate(tmp_path, {"FORCE_COLOR": "1"})
    assert done.returncode == 1 and ESC in done.stdout
    plain = _validate(tmp_path, {})
    import re

    assert re.sub(r"\x1b\[[0-9;]*m", "", done.stdout) == plain.stdout  # colour only, same text


def _on_a_terminal(tmp_path: Path, env: dict[str, str]) -> str:
    config = tmp_path / "bad.yaml"
    config.write_text(BAD, encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TERM")}
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "localrouter", "validate", str(config)],
        stdout=terminal,
        stderr=terminal,
        env={**base, "TERM": "xterm", **env},
    )
    os.close(terminal)
    chunks = []
    while True:
        ready, _, _ = select.select([controller], [], [], 30)
        if not ready:
            break
        try:
            data = os.read(controller, 4096)
        except OSError:  # the terminal closed: the process is done
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=30)
    os.close(controller)
    return b"".join(chunks).decode()


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")
def test_a_terminal_gets_colour_unless_no_color(tmp_path: Path) -> None:
    coloured = _on_a_terminal(tmp_path, {})
    assert "error[LR" in coloured and ESC in coloured
    plain = _on_a_terminal(tmp_path, {"NO_COLOR": "1"})
    assert "error[LR" in plain and ESC not in plain
    assert ESC not in _on_a_terminal(tmp_path, {"NO_COLOR": "1", "FORCE_COLOR": "1"})


@pytest.mark.parametrize(
    "how", [["-m", "localrouter"], ["-c", "from localrouter.cli import entry; entry()"]]
)
def test_a_reader_that_stops_early_ends_the_command_quietly(how: list[str]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head` that has already exited: the first write gets EPIPE
    try:
        done = subprocess.run(
            [sys.executable, *how, "schema"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1
