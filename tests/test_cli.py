"""The command line as a user runs it: outputs, formats and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CONFIGS, ROOT, run_cli

DEMO = str(CONFIGS / "demo.yaml")


def test_schema_file_is_current() -> None:
    result = run_cli("schema")
    assert result.code == 0
    checked_in = (ROOT / "schemas" / "localrouter.schema.json").read_text(encoding="utf-8")
    assert result.out == checked_in, "run `make schema` and commit schemas/localrouter.schema.json"
    schema = json.loads(result.out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "providers" in schema["properties"]


def test_validate_ok_prints_one_summary_line() -> None:
    result = run_cli("validate", DEMO)
    assert result.code == 0, result.out
    lines = result.out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"ok: {DEMO} — sha ")
    assert "1 provider, 2 models, 3 strategies, 2 clients; 2/2 tests passed" in lines[0]


def test_validate_reports_every_problem_with_position(write) -> None:  # type: ignore[no-untyped-def]
    path = write(
        """
        version: 2
        providers:
          ollama: {type: ollama}
        strategies:
          cheap:
            models: [olama/llama3, ollama/*]
            order: [lowest_cots]
        clients:
          app:
            key_prefix: lr-abcdefgh
            key_hash: $2b$04$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
            strategy: chaep
        """
    )
    result = run_cli("validate", str(path), "--format", "concise")
    assert result.code == 1
    assert f"{path}:6:14: error[LR302]: unknown provider 'olama'" in result.out
    assert "did you mean 'ollama'?" in result.out
    assert f"{path}:7:13: error[LR204]" in result.out
    assert "did you mean 'lowest_cost'?" in result.out
    assert f"{path}:12:15: error[LR301]: unknown strategy 'chaep'" in result.out
    assert "did you mean 'cheap'?" in result.out


def test_validate_json_and_github_formats(write) -> None:  # type: ignore[no-untyped-def]
    path = write("version: 2\nservr: {}\n")
    result = run_cli("validate", str(path), "--format", "json")
    assert result.code == 1
    doc = json.loads(result.out)
    assert doc["ok"] is False
    assert doc["diagnostics"][0]["code"] == "LR201"
    assert doc["diagnostics"][0]["line"] == 2 and doc["diagnostics"][0]["column"] == 1
    gh = run_cli("validate", str(path), "--format", "github")
    assert gh.out.startswith(f"::error file={path},line=2,col=1,")
    assert "did you mean 'server'?" in gh.out


def test_exit_codes(write, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run_cli("validate", DEMO).code == 0
    assert run_cli("validate", str(tmp_path / "missing.yaml")).code == 2
    assert run_cli("validate", "--format", "xml", DEMO).code == 2
    warn = write(DEMO_WITH_LITERAL_KEY)
    assert run_cli("validate", str(warn)).code == 0
    assert run_cli("validate", str(warn), "--strict").code == 1


DEMO_WITH_LITERAL_KEY = (
    (CONFIGS / "demo.yaml")
    .read_text(encoding="utf-8")
    .replace("    type: mock\n", "    type: mock\n    api_key: sk-not-a-reference\n")
)


def test_explain_lists_candidates_and_reasons(tmp_path: Path) -> None:
    result = run_cli("explain", "--config", DEMO, "--client", "demo", "--prompt", "hi")
    assert result.code == 0
    assert "route:      default" in result.out
    assert "1. mock/echo-small" in result.out
    body = tmp_path / "request.json"
    body.write_text(
        json.dumps(
            {
                "model": "auto",
                "tools": [
                    {
                        "type": "function",
                        "function": {"name": "f", "parameters": {"type": "object"}},
                    }
                ],
                "messages": [{"role": "user", "content": "call f"}],
            }
        ),
        encoding="utf-8",
    )
    hard = run_cli(
        "explain", "--config", DEMO, "--client", "demo", "--format", "json", "--request", str(body)
    )
    doc = json.loads(hard.out)
    assert doc["route"] == "hard"
    assert doc["candidates"] == ["mock/echo-large"]
    unknown = run_cli("explain", "--config", DEMO, "--client", "nobody")
    assert unknown.code == 2


def test_explain_named_model_not_allowed(write) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(
        "explain", "--config", DEMO, "--client", "demo", "--model", "mock/echo", "--format", "json"
    )
    doc = json.loads(result.out)
    assert doc["status"] == 404
    assert result.code == 1


def test_check_runs_the_config_tests(write) -> None:  # type: ignore[no-untyped-def]
    ok = run_cli("check", DEMO)
    assert ok.code == 0
    assert "2 passed, 0 failed" in ok.out
    text = (
        (CONFIGS / "demo.yaml")
        .read_text(encoding="utf-8")
        .replace(
            "expect: {route: hard, first: mock/echo-large}",
            "expect: {route: hard, first: mock/echo-small}",
        )
    )
    bad = run_cli("check", str(write(text)))
    assert bad.code == 1
    assert "FAIL  tool calls go to the large model" in bad.out
    assert "expected first 'mock/echo-small', got 'mock/echo-large'" in bad.out
    validate = run_cli("validate", str(write(text, "v.yaml")), "--format", "concise")
    assert "error[LR330]" in validate.out and validate.code == 1


def test_diff_equal_and_changed(write) -> None:  # type: ignore[no-untyped-def]
    same = run_cli("diff", DEMO, DEMO)
    assert same.code == 0 and "no routing changes" in same.out
    text = (CONFIGS / "demo.yaml").read_text(encoding="utf-8")
    changed = write(
        text.replace(
            "models: [mock/echo-small, mock/echo-large]",
            "models: [mock/echo-large, mock/echo-small]",
        )
        .replace("{requests: 600, per: 1m}", "{requests: 60, per: 1m}")
        .replace(
            "expect: {route: default, first: mock/echo-small}",
            "expect: {route: default, first: mock/echo-large}",
        )
    )
    result = run_cli("diff", DEMO, str(changed))
    assert result.code == 1, result.out + result.err
    assert (
        "client demo: route 'default': re-ordered mock/echo-small > mock/echo-large → "
        "mock/echo-large > mock/echo-small"
    ) in result.out
    assert "client demo: limits ['600 requests/1m'] → ['60 requests/1m']" in result.out


def test_init_writes_a_config_that_validates(tmp_path: Path) -> None:
    target = tmp_path / "routers.yaml"
    result = run_cli("init", str(target))
    assert result.code == 0
    key = result.out.strip().splitlines()[-1]
    assert key.startswith("lr-") and len(key) == 46
    text = target.read_text(encoding="utf-8")
    assert key not in text and key[:11] in text
    assert target.stat().st_mode & 0o777 == 0o600
    assert "$schema=./localrouter.schema.json" in text
    schema = json.loads((tmp_path / "localrouter.schema.json").read_text(encoding="utf-8"))
    assert schema["title"] == "LocalRouter config"
    assert run_cli("validate", str(target), "--strict").code == 0
    assert run_cli("init", str(target)).code == 2  # never overwrites silently


def test_validate_does_not_import_the_server() -> None:
    code = (
        "import sys\nfrom localrouter.cli import main\n"
        f"rc = main(['validate', {DEMO!r}])\n"
        "heavy = [m for m in ('quart', 'hypercorn', 'uvicorn', 'granian', 'httpx') "
        "if m in sys.modules]\n"
        "print(heavy)\nsys.exit(rc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("argv", [["--help"], ["validate", "--help"], ["explain", "--help"]])
def test_help(argv: list[str]) -> None:
    assert run_cli(*argv).code == 0


def test_diff_reports_a_strategy_no_client_uses(write) -> None:  # type: ignore[no-untyped-def]
    text = (CONFIGS / "demo.yaml").read_text(encoding="utf-8")
    changed = write(
        text.replace(
            '  maximum-performance:\n    models: ["mock/*"]',
            '  maximum-performance:\n    models: ["mock/echo-large"]',
        )
    )
    result = run_cli("diff", DEMO, str(changed))
    assert result.code == 1
    assert "strategy maximum-performance: route 'default': - mock/echo-small" in result.out


def test_check_json_is_not_ok_when_a_test_fails(write) -> None:  # type: ignore[no-untyped-def]
    text = (
        (CONFIGS / "demo.yaml")
        .read_text(encoding="utf-8")
        .replace("first: mock/echo-large}", "first: mock/echo-small}")
    )
    result = run_cli("check", str(write(text)), "--format", "json")
    assert result.code == 1
    assert json.loads(result.out)["ok"] is False
    broken = run_cli(
        "explain",
        "--config",
        str(write("version: 2\nservr: {}\n", "b.yaml")),
        "--client",
        "x",
        "--format",
        "json",
    )
    assert broken.code == 1
    assert json.loads(broken.out)["diagnostics"][0]["code"] == "LR201"
