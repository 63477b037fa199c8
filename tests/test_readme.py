"""The README's call examples work: its curl command and its SDK script, against the demo config
served for real (on a free port instead of 3625), with their documented output."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

from localrouter.compiler.build import build
from localrouter.server.app import create_app
from tests.conftest import ROOT
from tests.fakes.serve import serve_app

README = (ROOT / "README.md").read_text(encoding="utf-8")


def blocks(lang: str = "") -> list[str]:
    fenced = re.findall(r"```(\w*)\n(.*?)```", README, flags=re.S)
    return [body for tag, body in fenced if tag == lang]


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:  # type: ignore[misc]
    table = build(ROOT / "configs" / "demo.yaml").table
    assert table is not None
    # the demo keeps its state beside itself; the test keeps the checkout clean
    state_dir = str(tmp_path_factory.mktemp("demo-state"))
    settings = dataclasses.replace(table.settings, state_dir=state_dir)
    table = dataclasses.replace(table, settings=settings)
    with serve_app(create_app(table)) as url:
        yield url


def test_the_curl_example_answers_as_documented(demo_url: str) -> None:
    block = next(b for b in blocks() if b.startswith("$ curl -s http://127.0.0.1:3625"))
    command, _, expected = block.partition("\n{")
    command = (
        command.removeprefix("$ ").replace("\\\n", " ").replace("http://127.0.0.1:3625", demo_url)
    )
    out = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    expected_content = re.search(r'"content":"([^"]*)"', "{" + expected)
    assert expected_content is not None
    assert f'"content":"{expected_content.group(1)}"' in out


def test_the_sdk_script_prints_what_the_readme_shows(demo_url: str, tmp_path: Path) -> None:
    script = next(b for b in blocks("python") if "OpenAI(" in b)
    path = tmp_path / "sdk_demo.py"
    path.write_text(script.replace("http://127.0.0.1:3625", demo_url), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    shown = next(b for b in blocks() if b.startswith("$ .venv/bin/python sdk_demo.py"))
    expected = shown.split("\n", 1)[1].strip()
    assert out.strip() == expected


def _block_starting(prefix: str) -> str:
    return next(b for b in blocks() if b.startswith(prefix))


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "localrouter", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


def test_the_make_run_block_shows_what_validate_and_serve_print() -> None:
    shown = _block_starting("$ make run").splitlines()
    validated = _cli("validate", "configs/demo.yaml")
    assert validated.returncode == 0
    assert shown[1] == validated.stdout.strip()
    sha = re.search(r"sha ([0-9a-f]{12})", validated.stdout)
    assert sha is not None
    serving = next(line for line in shown if line.startswith("LocalRouter serving"))
    assert f"(sha {sha.group(1)})" in serving


def test_the_tour_shows_what_init_and_validate_print(tmp_path: Path) -> None:
    shown = _block_starting("$ localrouter init /tmp/tour/routers.yaml").splitlines()
    target = tmp_path / "routers.yaml"
    made = _cli("init", str(target))
    assert made.returncode == 0
    # stdout is the key alone; the messages are on stderr
    assert re.fullmatch(r"lr-[A-Za-z0-9_-]{43}\n", made.stdout)
    assert made.stderr.replace(str(tmp_path), "/tmp/tour").splitlines() == shown[1:-1]
    assert re.fullmatch(r"lr-[A-Za-z0-9_-]{43}", shown[-1])

    block = _block_starting("$ localrouter validate /tmp/tour/routers.yaml").splitlines()
    validated = _cli("validate", str(target))
    assert validated.returncode == 0
    sha = re.compile(r"sha [0-9a-f]{12}")
    # the sha differs with every key; everything else on the line is the README's
    assert sha.sub("sha …", validated.stdout.strip().replace(str(tmp_path), "/tmp/tour")) == (
        sha.sub("sha …", block[1])
    )

    broken_block = _block_starting("$ cp /tmp/tour/routers.yaml /tmp/tour/broken.yaml")
    broken = tmp_path / "broken.yaml"
    text = target.read_text(encoding="utf-8")
    broken.write_text(
        text.replace("strategy: minimum-cost", "strategy: minimal-cost").replace(
            "per: 1m}", "per: 1min}"
        ),
        encoding="utf-8",
    )
    failed = _cli("validate", str(broken))
    assert failed.returncode == 1
    expected = broken_block.split("$ localrouter validate /tmp/tour/broken.yaml\n")[1]
    expected = expected.split("$ echo $?")[0]
    assert failed.stdout.replace(str(tmp_path), "/tmp/tour").strip() == expected.strip()
