"""One invalid config per diagnostic code, and its exact rendered output.

Each ``tests/golden/invalid/LRnnn-*.yaml`` (or a directory of that name) is validated with the real
CLI from the repository root; stdout must equal ``<name>.out``. Regenerate after an intended
message change with ``UPDATE_GOLDEN=1 pytest tests/test_golden_invalid.py`` and review the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

GOLDEN = ROOT / "tests" / "golden" / "invalid"
CASES = sorted(
    p for p in GOLDEN.iterdir() if (p.suffix == ".yaml" or p.is_dir()) and p.name.startswith("LR")
)
# codes that need a condition a checked-in file cannot hold; each is tested elsewhere
ELSEWHERE = {
    "LR107": "tests/test_source.py (a file over the size limit is generated)",
    "LR209": "a gap between the JSON Schema and the models; no config is known to reach it",
    "LR501": "tests/test_source.py and tests/test_semantic.py (missing path, empty directory, "
    "unreadable file: exit 2, which a golden case cannot express)",
    "LR505": "tests/test_secrets.py (`validate --resolve-secrets`: needs a secret store)",
    "LR504": "tests/test_reload.py and tests/test_gateway_reload.py (a reload that changes "
    "server.host, server.port or state_dir: only a running gateway has a previous value)",
    "LR507": "tests/test_gateway_reload_bounds.py (a reload whose compile overruns its deadline: "
    "only a running gateway reloads)",
}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_output(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    rel = case.relative_to(ROOT).as_posix()
    result = run_cli("validate", rel)
    expected_file = (
        case.with_suffix(".out") if case.is_file() else case.with_name(case.name + ".out")
    )
    if os.environ.get("UPDATE_GOLDEN"):
        expected_file.write_text(result.out, encoding="utf-8")
    code = case.name.split("-")[0]
    assert f"[{code}]" in result.out, f"{case.name} does not produce {code}:\n{result.out}"
    assert result.out == expected_file.read_text(encoding="utf-8")
    severity = re.search(rf"(error|warning)\[{code}\]", result.out)
    assert severity is not None
    assert result.code == (1 if "error[" in result.out else 0)


def test_every_code_has_a_golden_case() -> None:
    emitted = set()
    for path in (ROOT / "localrouter").rglob("*.py"):
        emitted |= set(re.findall(r'"(LR\d{3})"', path.read_text(encoding="utf-8")))
    covered = {c.name.split("-")[0] for c in CASES}
    missing = sorted(emitted - covered - set(ELSEWHERE))
    assert not missing, f"diagnostic codes without a golden case: {missing}"
