"""The README's SDK examples (the Anthropic SDK, the openai SDK's Responses API) work as shown,
against the demo config served for real: each script, saved under the name the README gives it,
prints what the README shows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_readme import blocks, demo_url  # noqa: F401  (demo_url: a fixture)

SCRIPTS = {  # the file the README saves it as: what marks its block
    "anthropic_demo.py": "anthropic.Anthropic(",
    "responses_demo.py": "client.responses.create(",
}


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_the_script_prints_what_the_readme_shows(
    name: str,
    demo_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    script = next(b for b in blocks("python") if SCRIPTS[name] in b)
    path = tmp_path / name
    path.write_text(script.replace("http://127.0.0.1:3625", demo_url), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    shown = next(b for b in blocks() if b.startswith(f"$ .venv/bin/python {name}"))
    assert out.strip() == shown.split("\n", 1)[1].strip()
