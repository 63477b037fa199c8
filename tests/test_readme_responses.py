"""The README's Responses API example works as shown, against the demo config served for real."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.test_readme import blocks, demo_url  # noqa: F401  (demo_url: a fixture)


def test_the_responses_script_prints_what_the_readme_shows(
    demo_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    script = next(b for b in blocks("python") if "client.responses.create(" in b)
    path = tmp_path / "responses_demo.py"
    path.write_text(script.replace("http://127.0.0.1:3625", demo_url), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    shown = next(b for b in blocks() if b.startswith("$ .venv/bin/python responses_demo.py"))
    assert out.strip() == shown.split("\n", 1)[1].strip()
