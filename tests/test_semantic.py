"""Meaning checks (LR3xx, LR5xx) through the real pipeline: ``build(path)`` on small configs.

Every check is a pair: the broken config reports the code at an exact line and column, and its
fixed twin (one edit away) does not report it, so no test here can pass by accident. Tests marked
``xfail(strict=True)`` pin known bugs and start failing (XPASS) the day the bug is fixed.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from localrouter.compiler.build import BuildResult, build
from localrouter.diagnostics import Diagnostic, Severity
from tests.conftest import run_cli

HASH = "$2b$12$PmcTqb0wG9pwHVCaxTgxruh7koJgeUH5Y8ySfyUhspI77J2CV/cD6"  # configs/demo.yaml

BASE = f"""
version: 2
providers:
  mock:
    type: mock
    models:
      echo-small: {{input_per_mtok: 0.1, output_per_mtok: 0.2, params_b: 3}}
      echo-large: {{input_per_mtok: 2.0, output_per_mtok: 8.0, params_b: 70}}
strategies:
  cheap:
    models: ["mock/*"]
    order: [lowest_cost]
clients:
  cursor:
    key_prefix: lr-sZ2uI4TN
    key_hash: {HASH}
    strategy: cheap
"""


def add_provider(snippet: str, text: str = BASE) -> str:
    """``text`` with more providers (``snippet``: indented entries) before its strategies."""
    return text.replace("strategies:\n", snippet + "strategies:\n", 1)


def compile_text(tmp_path: Path, text: str, name: str = "routers.yaml") -> BuildResult:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return build(path)


def found(result: BuildResult, code: str) -> list[Diagnostic]:
    return [d for d in result.diagnostics if d.code == code]


def where(d: Diagnostic) -> tuple[int, int]:
    assert d.span is not None, d
    return (d.span.line, d.span.col)


def test_the_base_config_is_clean(tmp_path: Path) -> None:
    result = compile_text(tmp_path, BASE)
    assert result.diagnostics == ()
    assert result.ok


# Each case: code, severity, the broken config, where the diagnostic points (line, col), a
# substring of its message, and the fixed twin. Both configs are complete and otherwise clean.
CASES: list[tuple[str, str, Severity, str, tuple[int, int], str, str]] = [
    (
        "LR301",
        "unknown-strategy",
        Severity.ERROR,
        BASE.replace("strategy: cheap", "strategy: chaep"),
        (16, 15),
        "unknown strategy 'chaep'",
        BASE,
    ),
    (
        "LR302",
        "unknown-provider",
        Severity.ERROR,
        BASE.replace('models: ["mock/*"]', "models: [mokc/echo-small, mock/echo-large]"),
        (10, 14),
        "unknown provider 'mokc'",
        BASE.replace('models: ["mock/*"]', "models: [mock/echo-small, mock/echo-large]"),
    ),
    (
        "LR304",
        "invalid-name",
        Severity.ERROR,
        BASE.replace("  cursor:", "  my cursor:"),
        (13, 3),
        "invalid name 'my cursor' in clients",
        BASE.replace("  cursor:", "  my-cursor:"),
    ),
    (
        "LR305",
        "unknown-model-static",
        Severity.ERROR,
        BASE.replace('models: ["mock/*"]', "models: [mock/echo-medium]"),
        (10, 14),
        "provider 'mock' has no model 'echo-medium'",
        BASE.replace('models: ["mock/*"]', "models: [mock/echo-large]"),
    ),
    (
        "LR305",
        "glob-matches-nothing",
        Severity.WARNING,
        BASE.replace('models: ["mock/*"]', 'models: ["mock/gpt-*"]'),
        (10, 14),
        "'mock/gpt-*' matches no model",
        BASE.replace('models: ["mock/*"]', 'models: ["mock/echo-*"]'),
    ),
    (
        "LR306",
        "no-provider",
        Severity.ERROR,
        BASE.replace('models: ["mock/*"]', "models: [echo-small]"),
        (10, 14),
        "'echo-small' names no provider",
        BASE.replace('models: ["mock/*"]', "models: [mock/echo-small]"),
    ),
    (
        "LR306",
        "unclosed-bracket",
        Severity.ERROR,
        BASE.replace('models: ["mock/*"]', 'models: ["mock/echo-[sl"]'),
        (10, 14),
        "without its closing ']'",
        BASE.replace('models: ["mock/*"]', 'models: ["mock/echo-[sl]*"]'),
    ),
    (
        "LR306",
        "client-model-glob",
        Severity.ERROR,
        BASE.replace("strategy: cheap", 'model: "mock/*"'),
        (16, 12),
        "one model, not a glob",
        BASE.replace("strategy: cheap", "model: mock/echo-small"),
    ),
    (
        "LR307",
        "url-without-scheme",
        Severity.ERROR,
        BASE.replace("    type: mock\n", "    type: mock\n    base_url: localhost:8080\n"),
        (5, 15),
        "'localhost:8080' is not an http(s) URL",
        BASE.replace("    type: mock\n", "    type: mock\n    base_url: http://localhost:8080\n"),
    ),
    (
        "LR307",
        "compatible-needs-base-url",
        Severity.ERROR,
        add_provider("  groq:\n    type: openai-compatible\n    api_key: ${env:GROQ_KEY}\n"),
        (8, 3),
        "needs a `base_url`",
        add_provider(
            "  groq:\n    type: openai-compatible\n    api_key: ${env:GROQ_KEY}\n"
            "    base_url: https://api.groq.com/openai/v1\n"
        ),
    ),
    (
        "LR308",
        "strategy-and-model",
        Severity.ERROR,
        BASE.replace("strategy: cheap", "strategy: cheap\n    model: mock/echo-small"),
        (17, 5),
        "names both a `strategy` and a `model`",
        BASE,
    ),
    (
        "LR308",
        "neither-strategy-nor-model",
        Severity.ERROR,
        BASE.replace("    strategy: cheap\n", "    tags: [editor]\n"),
        (13, 3),
        "needs a `strategy` or a `model`",
        BASE.replace("    strategy: cheap\n", "    tags: [editor]\n    strategy: cheap\n"),
    ),
    (
        "LR309",
        "duplicate-key-prefix",
        Severity.ERROR,
        BASE + f"  zed:\n    key_prefix: lr-sZ2uI4TN\n    key_hash: {HASH}\n    strategy: cheap\n",
        (18, 17),
        "key_prefix 'lr-sZ2uI4TN'",
        BASE + f"  zed:\n    key_prefix: lr-zEd00001\n    key_hash: {HASH}\n    strategy: cheap\n",
    ),
    (
        "LR310",
        "key-hash-not-bcrypt",
        Severity.ERROR,
        BASE.replace(HASH, "$2b$12$tooShort"),
        (15, 15),
        "not a bcrypt hash",
        BASE.replace(HASH, "$2b$04$" + "A" * 53),
    ),
    (
        "LR311",
        "two-metrics",
        Severity.ERROR,
        BASE + "    limits:\n      - {requests: 60, cost_usd: 5, per: 1h}\n",
        (18, 9),
        "exactly one metric, this one has 2",
        BASE + "    limits:\n      - {requests: 60, per: 1h}\n      - {cost_usd: 5, per: 1h}\n",
    ),
    (
        "LR311",
        "no-metric",
        Severity.ERROR,
        BASE + "    limits:\n      - {per: 1h}\n",
        (18, 9),
        "this one has 0",
        BASE + "    limits:\n      - {requests: 60, per: 1h}\n",
    ),
    (
        "LR312",
        "window-too-long",
        Severity.ERROR,
        BASE + "    limits:\n      - {cost_usd: 100, per: 367d}\n",
        (18, 30),
        "window '367d' is longer than 366d",
        BASE + "    limits:\n      - {cost_usd: 100, per: 366d}\n",
    ),
    (
        "LR312",
        "window-in-hours-too-long",
        Severity.ERROR,
        BASE + "    limits:\n      - {cost_usd: 100, per: 8785h}\n",
        (18, 30),
        "window '8785h'",
        BASE + "    limits:\n      - {cost_usd: 100, per: 8784h}\n",
    ),
    (
        "LR313",
        "empty-strategy",
        Severity.ERROR,
        BASE.replace('    models: ["mock/*"]\n', ""),
        (9, 3),
        "strategy 'cheap' lists no models",
        BASE,
    ),
    (
        "LR314",
        "local-only-reaches-api",
        Severity.ERROR,
        add_provider(
            "  openai:\n    type: openai\n    api_key: ${env:OPENAI_API_KEY}\n"
            "    models:\n      gpt-4o-mini: {}\n",
            BASE.replace('models: ["mock/*"]', 'models: ["*"]\n    privacy: local_only'),
        ),
        (15, 14),
        "can reach non-local model 'openai/gpt-4o-mini'",
        add_provider(
            "  openai:\n    type: openai\n    api_key: ${env:OPENAI_API_KEY}\n"
            "    models:\n      gpt-4o-mini: {}\n",
            BASE.replace('models: ["mock/*"]', 'models: ["mock/*"]\n    privacy: local_only'),
        ),
    ),
    (
        "LR315",
        "client-limit-looser",
        Severity.WARNING,
        BASE.replace("    order: [lowest_cost]\n", "    limits: [{requests: 100, per: 1m}]\n")
        + "    limits:\n      - {requests: 600, per: 60s}\n",
        (18, 9),
        "of strategy 'cheap'",
        BASE.replace("    order: [lowest_cost]\n", "    limits: [{requests: 100, per: 1m}]\n")
        + "    limits:\n      - {requests: 50, per: 60s}\n",
    ),
    (
        "LR317",
        "listed-twice",
        Severity.WARNING,
        BASE.replace('models: ["mock/*"]', "models: [mock/echo-small, mock/echo-small]"),
        (10, 31),
        "'mock/echo-small' is listed twice",
        BASE.replace('models: ["mock/*"]', "models: [mock/echo-small, mock/echo-large]"),
    ),
    (
        "LR318",
        "unknown-mcp-server",
        Severity.ERROR,
        BASE.replace("    order: [lowest_cost]\n", "    mcp: {servers: [tmie]}\n")
        + "mcp_servers:\n  time: {transport: stdio, command: [mcp-server-time]}\n",
        (11, 21),
        "unknown MCP server 'tmie'",
        BASE.replace("    order: [lowest_cost]\n", "    mcp: {servers: [time]}\n")
        + "mcp_servers:\n  time: {transport: stdio, command: [mcp-server-time]}\n",
    ),
    (
        "LR319",
        "test-unknown-client",
        Severity.ERROR,
        BASE + "tests:\n  - name: t\n    client: cursr\n    expect: {first: mock/echo-small}\n",
        (19, 13),
        "names unknown client 'cursr'",
        BASE + "tests:\n  - name: t\n    client: cursor\n    expect: {first: mock/echo-small}\n",
    ),
    (
        "LR320",
        "params-min-over-max",
        Severity.ERROR,
        BASE.replace("    order: [lowest_cost]\n", "    params_b: {min: 70, max: 7}\n"),
        (11, 15),
        "min is larger than max",
        BASE.replace("    order: [lowest_cost]\n", "    params_b: {min: 7, max: 70}\n"),
    ),
    (
        "LR321",
        "stdio-without-command",
        Severity.ERROR,
        BASE + "mcp_servers:\n  time:\n    transport: stdio\n",
        (18, 3),
        "needs `command`",
        BASE + "mcp_servers:\n  time:\n    transport: stdio\n    command: [mcp-server-time]\n",
    ),
    (
        "LR321",
        "http-without-url",
        Severity.ERROR,
        BASE + "mcp_servers:\n  docs:\n    transport: streamable_http\n",
        (18, 3),
        "needs `url`",
        BASE
        + "mcp_servers:\n  docs:\n    transport: streamable_http\n"
        + "    url: http://127.0.0.1:8931/mcp\n",
    ),
    (
        "LR322",
        "duplicate-route-name",
        Severity.ERROR,
        BASE.replace(
            "    order: [lowest_cost]\n",
            "    routes:\n"
            "      - {name: big, when: 'request.has_tools', models: [mock/echo-large]}\n"
            "      - {name: big, when: 'request.complexity > 0.5', models: [mock/echo-large]}\n",
        ),
        (13, 16),
        "two routes named 'big'",
        BASE.replace(
            "    order: [lowest_cost]\n",
            "    routes:\n"
            "      - {name: big, when: 'request.has_tools', models: [mock/echo-large]}\n"
            "      - {name: hard, when: 'request.complexity > 0.5', models: [mock/echo-large]}\n",
        ),
    ),
    (
        "LR322",
        "default-route-name-taken",
        Severity.ERROR,
        BASE.replace(
            "    order: [lowest_cost]\n",
            "    routes:\n"
            "      - {name: route-2, when: 'request.has_tools', models: [mock/echo-large]}\n"
            "      - {when: 'request.complexity > 0.5', models: [mock/echo-large]}\n",
        ),
        (13, 9),
        "two routes named 'route-2'",
        BASE.replace(
            "    order: [lowest_cost]\n",
            "    routes:\n"
            "      - {name: route-1, when: 'request.has_tools', models: [mock/echo-large]}\n"
            "      - {when: 'request.complexity > 0.5', models: [mock/echo-large]}\n",
        ),
    ),
    (
        "LR323",
        "backoff-reversed",
        Severity.ERROR,
        BASE.replace("    order: [lowest_cost]\n", "    fallback: {backoff_ms: [5000, 100]}\n"),
        (11, 28),
        "min is larger than max",
        BASE.replace("    order: [lowest_cost]\n", "    fallback: {backoff_ms: [100, 5000]}\n"),
    ),
    (
        "LR316",
        "route-after-always-true",
        Severity.WARNING,
        BASE.replace(
            '    models: ["mock/*"]\n',
            "    routes:\n"
            "      - {name: all, when: 'true', models: [mock/echo-small]}\n"
            "      - {name: tools, when: 'request.has_tools', models: [mock/echo-large]}\n",
        ),
        (12, 29),
        "route 'tools' can never match",
        BASE.replace(
            '    models: ["mock/*"]\n',
            "    routes:\n"
            "      - {name: tools, when: 'request.has_tools', models: [mock/echo-large]}\n"
            "      - {name: all, when: 'true', models: [mock/echo-small]}\n",
        ),
    ),
    (
        "LR316",
        "default-models-unreachable",
        Severity.WARNING,
        BASE.replace(
            "    order: [lowest_cost]\n",
            "    routes:\n      - {name: all, when: '(true)', models: [mock/echo-small]}\n",
        ),
        (10, 5),
        "the own `models` of strategy 'cheap' are never used",
        BASE.replace(
            "    order: [lowest_cost]\n",
            "    routes:\n      - {name: all, when: 'now.hour < 9', models: [mock/echo-small]}\n",
        ),
    ),
    (
        "LR502",
        "literal-api-key",
        Severity.WARNING,
        add_provider("  openai:\n    type: openai\n    api_key: sk-live-123456\n"),
        (10, 14),
        "literal secret",
        add_provider("  openai:\n    type: openai\n    api_key: ${keyring:openai}\n"),
    ),
    (
        "LR503",
        "shell-style-reference",
        Severity.ERROR,
        add_provider("  openai:\n    type: openai\n    api_key: ${OPENAI_API_KEY}\n"),
        (10, 14),
        "malformed secret reference",
        add_provider("  openai:\n    type: openai\n    api_key: ${env:OPENAI_API_KEY}\n"),
    ),
    (
        "LR503",
        "bad-header-reference",
        Severity.ERROR,
        BASE
        + "mcp_servers:\n  docs:\n    transport: streamable_http\n"
        + "    url: http://127.0.0.1:8931/mcp\n"
        + "    headers: {Authorization: '${env:DOCS TOKEN}'}\n",
        (21, 30),
        "malformed secret reference",
        BASE
        + "mcp_servers:\n  docs:\n    transport: streamable_http\n"
        + "    url: http://127.0.0.1:8931/mcp\n"
        + "    headers: {Authorization: '${env:DOCS_TOKEN}'}\n",
    ),
    (
        "LR506",
        "missing-api-key",
        Severity.WARNING,
        add_provider("  gemini:\n    type: gemini\n"),
        (8, 3),
        "provider 'gemini' (gemini) has no `api_key`",
        add_provider("  gemini:\n    type: gemini\n    api_key: ${keyring:gemini}\n"),
    ),
]


@pytest.mark.parametrize(
    ("code", "severity", "bad", "at", "message", "good"),
    [c[0:1] + c[2:] for c in CASES],
    ids=[f"{c[0]}-{c[1]}" for c in CASES],
)
def test_check_fires_where_expected_and_not_on_the_fixed_twin(
    tmp_path: Path,
    code: str,
    severity: Severity,
    bad: str,
    at: tuple[int, int],
    message: str,
    good: str,
) -> None:
    result = compile_text(tmp_path, bad)
    hits = found(result, code)
    assert len(hits) == 1, result.diagnostics
    (d,) = hits
    assert d.severity is severity
    assert message in d.message
    assert where(d) == at, d
    assert d.span is not None and d.span.file == str(tmp_path / "routers.yaml")
    others = [x for x in result.diagnostics if x is not d]
    assert others == [], f"{code} should come alone: {others}"
    assert result.ok == (severity is Severity.WARNING)

    fixed = compile_text(tmp_path, good)
    assert fixed.diagnostics == (), fixed.diagnostics
    assert fixed.ok


# ---------------------------------------------------------------- suggestions and places


def test_suggestion_names_where_the_target_is_defined(tmp_path: Path) -> None:
    result = compile_text(tmp_path, BASE.replace("strategy: cheap", "strategy: chaep"))
    (d,) = found(result, "LR301")
    assert d.help == f"did you mean 'cheap'? (defined at {tmp_path / 'routers.yaml'}:9:3)"


def test_no_close_name_lists_the_defined_ones(tmp_path: Path) -> None:
    result = compile_text(tmp_path, BASE.replace("strategy: cheap", "strategy: zzz"))
    (d,) = found(result, "LR301")
    assert d.help == "defined strategies: cheap"


def test_duplicate_names_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(textwrap.dedent(BASE).lstrip("\n"), encoding="utf-8")
    (tmp_path / "b.yaml").write_text(
        "strategies:\n  fast: {models: [mock/echo-small]}\n  cheap: {models: [mock/echo-large]}\n",
        encoding="utf-8",
    )
    result = build(tmp_path)
    (d,) = found(result, "LR303")
    assert d.span is not None and d.span.file == str(tmp_path / "b.yaml")
    assert where(d) == (3, 3)
    assert d.help is not None and f"{tmp_path / 'a.yaml'}:9:3" in d.help
    assert [x.code for x in result.diagnostics] == ["LR303"]

    (tmp_path / "b.yaml").write_text(
        "strategies:\n  fast: {models: [mock/echo-small]}\n", encoding="utf-8"
    )
    fixed = build(tmp_path)
    assert fixed.diagnostics == () and fixed.ok
    assert fixed.table is not None and sorted(fixed.table.strategies) == ["cheap", "fast"]


def test_broken_entry_is_not_reported_again_as_unknown(tmp_path: Path) -> None:
    # the strategy is not a mapping at all; the client naming it must not also get LR301
    broken = BASE.replace('  cheap:\n    models: ["mock/*"]\n', '  cheap: ["mock/*"]\n').replace(
        "    order: [lowest_cost]\n", ""
    )
    result = compile_text(tmp_path, broken)
    assert [(d.code, *where(d)) for d in result.diagnostics] == [("LR203", 9, 10)]


def test_a_bad_field_does_not_hide_the_rest_of_its_entry(tmp_path: Path) -> None:
    text = BASE.replace("order: [lowest_cost]", "order: [cheapest]").replace(
        'models: ["mock/*"]', "models: [mokc/echo-small]"
    )
    result = compile_text(tmp_path, text)
    assert [d.code for d in result.diagnostics] == ["LR302", "LR204"]


def test_secrets_are_never_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LR_TEST_UNSET", raising=False)
    text = add_provider("  openai:\n    type: openai\n    api_key: ${env:LR_TEST_UNSET}\n")
    result = compile_text(tmp_path, text)
    assert result.diagnostics == () and result.ok


def test_literal_header_values_are_not_secrets(tmp_path: Path) -> None:
    text = add_provider("  groq:\n    type: ollama\n    headers: {X-Title: LocalRouter}\n")
    assert compile_text(tmp_path, text).diagnostics == ()


def test_local_provider_needs_no_key(tmp_path: Path) -> None:
    text = add_provider("  ollama:\n    type: ollama\n  lms:\n    type: lmstudio\n")
    assert found(compile_text(tmp_path, text), "LR506") == []


# ---------------------------------------------------------------- known bugs


def test_local_only_over_a_local_provider_is_fine(tmp_path: Path) -> None:
    text = add_provider("  ollama:\n    type: ollama\n")
    text = text.replace('models: ["mock/*"]', 'models: ["ollama/*"]\n    privacy: local_only')
    result = compile_text(tmp_path, text)
    assert found(result, "LR314") == [], result.diagnostics


def test_wrong_type_is_not_reported_twice(tmp_path: Path) -> None:
    result = compile_text(tmp_path, BASE.replace('models: ["mock/*"]', "models: mock/*"))
    assert [d.code for d in result.diagnostics] == ["LR203"]


def test_wrong_type_client_model_is_not_reported_twice(tmp_path: Path) -> None:
    text = BASE.replace("strategy: cheap", "model: [mock/echo-small, mock/echo-large]")
    result = compile_text(tmp_path, text)
    assert [d.code for d in result.diagnostics] == ["LR203"]


def test_empty_file_names_the_file(tmp_path: Path) -> None:
    result = compile_text(tmp_path, "# nothing yet\n")
    (d,) = result.diagnostics
    assert d.code == "LR202"
    assert d.span is not None and d.span.file == str(tmp_path / "routers.yaml")


def test_yaml_errors_show_the_source_line(tmp_path: Path) -> None:
    path = tmp_path / "routers.yaml"
    path.write_text("version: 2\nserver: !!python/object:os.system x\n", encoding="utf-8")
    result = run_cli("validate", str(path))
    assert "error[LR105]" in result.out
    assert "2 | server: !!python/object:os.system x" in result.out


def test_numeric_names_are_names(tmp_path: Path) -> None:
    text = BASE.replace("      echo-large:", "      7:").replace('["mock/*"]', "[mock/7]")
    result = compile_text(tmp_path, text)
    assert result.diagnostics == ()


# ---------------------------------------------------------------- one run reports everything


SIX_MISTAKES = f"""
version: 2
providers:
  mock:
    type: mock
    models:
      echo-small: {{}}
  openai:
    type: openai
    api_key: ${{OPENAI_KEY}}
strategies:
  cheap:
    models: [mokc/echo-small]
    limits:
      - {{requests: 10, per: 400d}}
  empty:
    order: [lowest_cost]
clients:
  cursor:
    key_prefix: lr-sZ2uI4TN
    key_hash: {HASH}
    strategy: cheep
tests:
  - name: t
    client: nobody
    expect: {{status: 403}}
"""


def test_every_mistake_is_reported_in_one_run(tmp_path: Path) -> None:
    result = compile_text(tmp_path, SIX_MISTAKES)
    got = [(d.code, *where(d)) for d in result.diagnostics]
    assert got == [
        ("LR503", 9, 14),
        ("LR302", 12, 14),
        ("LR312", 14, 29),
        ("LR313", 15, 3),
        ("LR301", 21, 15),
        ("LR319", 24, 13),
    ]
    assert not result.ok and result.table is None


def test_schema_and_meaning_problems_are_reported_together(tmp_path: Path) -> None:
    text = BASE.replace("strategy: cheap", "strategy: chaep").replace(
        "    order: [lowest_cost]\n", "    order: [lowest_cost]\n    fallbak: {attempts: 2}\n"
    )
    result = compile_text(tmp_path, text)
    assert [(d.code, *where(d)) for d in result.diagnostics] == [
        ("LR201", 12, 5),
        ("LR301", 17, 15),
    ]


def test_diagnostics_are_sorted_by_place(tmp_path: Path) -> None:
    result = compile_text(tmp_path, SIX_MISTAKES)
    keys = [d.sort_key() for d in result.diagnostics]
    assert keys == sorted(keys)


# ---------------------------------------------------------------- --strict


WARNS_ONLY = add_provider("  gemini:\n    type: gemini\n")  # LR506, a warning


def test_warnings_do_not_fail_validate(tmp_path: Path) -> None:
    path = tmp_path / "routers.yaml"
    path.write_text(textwrap.dedent(WARNS_ONLY).lstrip("\n"), encoding="utf-8")
    result = run_cli("validate", str(path))
    assert result.code == 0, result.out
    assert "warning[LR506]" in result.out
    assert "ok:" in result.out and "1 warning" in result.out


def test_strict_escalates_warnings(tmp_path: Path) -> None:
    path = tmp_path / "routers.yaml"
    path.write_text(textwrap.dedent(WARNS_ONLY).lstrip("\n"), encoding="utf-8")
    result = run_cli("validate", "--strict", str(path))
    assert result.code == 1, result.out
    assert "error[LR506]" in result.out and "warning[" not in result.out
    assert "ok:" not in result.out
    strict = build(path, strict=True)
    assert strict.table is None
    assert [d.severity for d in strict.diagnostics] == [Severity.ERROR]


def test_strict_on_a_clean_config_passes(tmp_path: Path) -> None:
    path = tmp_path / "routers.yaml"
    path.write_text(textwrap.dedent(BASE).lstrip("\n"), encoding="utf-8")
    assert run_cli("validate", "--strict", str(path)).code == 0


def test_errors_fail_with_or_without_strict(tmp_path: Path) -> None:
    path = tmp_path / "routers.yaml"
    path.write_text(textwrap.dedent(SIX_MISTAKES).lstrip("\n"), encoding="utf-8")
    assert run_cli("validate", str(path)).code == 1
    assert run_cli("validate", "--strict", str(path)).code == 1


def test_missing_config_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("validate", str(tmp_path / "nope.yaml"))
    assert result.code == 2
    assert "error[LR501]" in result.out and "config not found" in result.out
    assert found(build(tmp_path / "nope.yaml"), "LR501")


def test_failing_routing_test_is_lr330(tmp_path: Path) -> None:
    tests = "tests:\n  - name: t\n    client: cursor\n    expect: {{first: mock/{}}}\n"
    path = tmp_path / "routers.yaml"
    bad = textwrap.dedent(BASE).lstrip("\n") + tests.format("echo-large")
    path.write_text(bad, encoding="utf-8")
    result = run_cli("validate", str(path))
    assert result.code == 1
    assert f"{path}:20:13: error[LR330]: routing test 't' failed" in result.out
    path.write_text(textwrap.dedent(BASE).lstrip("\n") + tests.format("echo-small"), "utf-8")
    good = run_cli("validate", str(path))
    assert good.code == 0 and "1/1 tests passed" in good.out
