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
    table = dataclasses.replace(table, settings={**table.settings, "state_dir": state_dir})
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
