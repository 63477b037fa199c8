"""The MCP part of the config, compiled: servers, per-strategy policies, skills, the tool_calls
metric, the checks, and the pure access decision (localrouter/mcp/access.py) on real tables."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from localrouter.compiler.build import BuildResult, build
from localrouter.compiler.mcp_table import NO_MCP, McpPolicy, public_name
from localrouter.compiler.table import RoutingTable, SecretValue
from localrouter.mcp.access import decide, visible
from localrouter.routing.facts import NowFacts
from tests.conftest import ROOT, run_cli

FULL = ROOT / "tests" / "golden" / "mcp" / "full.yaml"


def compile_text(tmp_path: Path, text: str) -> BuildResult:
    path = tmp_path / "routers.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return build(path)


def full_table() -> RoutingTable:
    result = build(FULL)
    assert result.diagnostics == (), result.diagnostics
    assert result.table is not None
    return result.table


BASE = """
version: 2
providers:
  mock: {type: mock}
mcp_servers:
  time: {transport: stdio, command: [mcp-server-time]}
  docs: {transport: streamable_http, url: http://127.0.0.1:8931/mcp}
strategies:
  s:
    models: ["mock/*"]
"""


def test_the_full_example_compiles_without_a_diagnostic() -> None:
    table = full_table()
    assert set(table.mcp_servers) == {"time", "docs", "legacy"}
    assert set(table.skills) == {"city-brief"}


def test_servers_are_compiled_with_secret_references_and_defaults() -> None:
    t = full_table()
    time, docs, legacy = t.mcp_servers["time"], t.mcp_servers["docs"], t.mcp_servers["legacy"]
    assert (time.transport, time.command, time.url) == ("stdio", ("mcp-server-time",), None)
    assert time.env["TZ"] == SecretValue("literal", "", "UTC")
    assert (time.start, time.connect_timeout_s, time.call_timeout_s) == ("first_use", 10.0, 60.0)
    assert docs.headers["Authorization"] == SecretValue("env", "DOCS_TOKEN")
    assert (docs.start, docs.connect_timeout_s, docs.call_timeout_s) == ("at_start", 5.0, 30.0)
    assert legacy.transport == "sse" and legacy.url == "http://127.0.0.1:8932/sse"
    assert len({time.fingerprint, docs.fingerprint, legacy.fingerprint}) == 3
    assert "UTC" not in repr(time)  # a literal env value is a SecretValue: never shown


def test_a_fingerprint_changes_with_the_server_and_only_with_it(tmp_path: Path) -> None:
    a = compile_text(tmp_path, BASE).table
    b = compile_text(tmp_path, BASE.replace("mcp-server-time]", "mcp-server-time, --x]")).table
    assert a is not None and b is not None
    assert a.mcp_servers["docs"].fingerprint == b.mcp_servers["docs"].fingerprint
    assert a.mcp_servers["time"].fingerprint != b.mcp_servers["time"].fingerprint


def test_defaults_written_out_leave_the_sha_as_it_was(tmp_path: Path) -> None:
    a = compile_text(tmp_path, BASE).table
    spelled = BASE.replace(
        "command: [mcp-server-time]}",
        "command: [mcp-server-time], start: at_start, connect_timeout_s: 10, call_timeout_s: 60}",
    )
    b = compile_text(tmp_path, spelled + "skills: {}\n").table
    c = compile_text(tmp_path, spelled.replace("at_start", "first_use")).table
    assert a is not None and b is not None and c is not None
    assert a.sha256 == b.sha256 != c.sha256


def test_policies_and_limits() -> None:
    t = full_table()
    coding = t.strategies["coding"].mcp
    assert coding.servers == ("time", "docs", "skills")
    assert coding.deny == ("docs__delete*",)
    assert [r.action for r in coding.rules] == ["deny", "allow"]
    assert [r.when.scope for r in coding.rules] == ["mcp_rule", "mcp_rule"]
    assert t.strategies["plain"].mcp is NO_MCP
    assert [(p.metric, p.amount) for p in t.strategies["coding"].limits] == [("tool_calls", 1000)]
    assert [(p.metric, p.window_s) for p in t.clients["cursor"].limits] == [("tool_calls", 3600)]


def test_skills_are_compiled_with_value_expressions() -> None:
    skill = full_table().skills["city-brief"]
    assert skill.public_name == "skills__city-brief"
    assert skill.input_schema["required"] == ["city"]
    assert [(s.id, s.server, s.tool) for s in skill.steps] == [
        ("now", "time", "get_current_time"),
        ("hits", "docs", "search"),
    ]
    assert skill.steps[0].timeout_s == 60.0  # the server's call_timeout_s
    assert skill.steps[1].timeout_s == 10.0 and skill.timeout_s == 60.0
    (name, timezone), *_ = skill.steps[0].args
    assert name == "timezone"
    assert timezone.evaluate({"input": {"city": "Paris"}, "steps": {}}) == (True, "Europe/Paris")
    assert skill.result is not None
    steps = {"now": {"text": "12:00"}, "hits": {"text": "3 pages"}}
    got = skill.result.evaluate({"input": {"city": "Paris"}, "steps": steps})
    assert got == (True, {"time": "12:00", "hits": "3 pages"})
    ok, why = skill.result.evaluate({"input": {}, "steps": {"now": {"text": "x"}}})
    assert not ok and "hits" in why


def test_legacy_strategy_list_is_read_as_mcp_servers_with_a_warning(tmp_path: Path) -> None:
    result = compile_text(tmp_path, BASE + "    mcp_servers: [time]\n")
    assert [d.code for d in result.diagnostics] == ["LR334"]
    assert result.table is not None
    assert result.table.strategies["s"].mcp == McpPolicy(servers=("time",))


@pytest.mark.parametrize(
    ("snippet", "code", "message"),
    [
        ("    mcp: {servers: [time, tiem]}\n", "LR318", "unknown MCP server 'tiem'"),
        ("    mcp: {servers: [time], allow: ['time__[x']}\n", "LR336", "'[' is not closed"),
        ("    mcp: {servers: [time], deny: ['time/x']}\n", "LR336", "characters no tool name"),
        (
            "    mcp: {servers: [time], rules: [{when: 'tool.nme == \"x\"', action: deny}]}\n",
            "LR402",
            "'tool' has no field 'nme'",
        ),
        (
            "    mcp: {servers: [time], rules: [{when: 'request.has_tools', action: deny}]}\n",
            "LR402",
            "unknown variable 'request'",
        ),
        (
            "    mcp: {servers: [time], rules: [{when: 'tool.name', action: deny}]}\n",
            "LR403",
            "must be a boolean",
        ),
    ],
)
def test_strategy_mcp_checks(tmp_path: Path, snippet: str, code: str, message: str) -> None:
    result = compile_text(tmp_path, BASE + snippet)
    assert [d.code for d in result.diagnostics] == [code], result.diagnostics
    (d,) = result.diagnostics
    assert message in d.message and d.span is not None and d.span.line == 10
    assert result.table is None


@pytest.mark.parametrize(
    ("servers", "code", "message"),
    [
        ("  web: {transport: sse}\n", "LR321", "(sse) needs `url`"),
        ("  web: {transport: sse, url: 'ftp://x'}\n", "LR307", "is not an http(s) URL"),
        (
            "  web: {transport: sse, url: 'http://u:p@127.0.0.1/sse'}\n",
            "LR325",
            "MCP server 'web': url carries credentials",
        ),
        (
            "  web: {transport: streamable_http, url: 'http://169.254.169.254/mcp'}\n",
            "LR326",
            "MCP server 'web': url points at a link-local",
        ),
        ("  web: {transport: sse, url: 'http://example.com/sse'}\n", "LR327", "clear text"),
        ("  web: {transport: stdio, command: [x], env: {T: '${env:}'}}\n", "LR503", "malformed"),
        ("  a__b: {transport: stdio, command: [x]}\n", "LR333", "contains '__'"),
    ],
)
def test_server_checks(tmp_path: Path, servers: str, code: str, message: str) -> None:
    text = BASE.replace("strategies:\n", servers + "strategies:\n")
    result = compile_text(tmp_path, text)
    assert [d.code for d in result.diagnostics] == [code], result.diagnostics
    assert message in result.diagnostics[0].message


def test_skill_expressions_type_check_and_name_earlier_steps(tmp_path: Path) -> None:
    text = BASE + textwrap.dedent(
        """\
        skills:
          s:
            steps:
              - {id: a, call: time__now, args: {x: 'input.city + 1'}}
              - {id: b, call: time__now, args: {x: 'steps.b.text', y: 'stpes.a'}}
            result: 'steps.c'
        """
    )
    result = compile_text(tmp_path, text)
    got = [(d.code, d.span.line if d.span else 0) for d in result.diagnostics]
    assert got == [("LR405", 14), ("LR402", 14), ("LR405", 15)], result.diagnostics
    assert "did you mean 'steps'" in (result.diagnostics[1].help or "")


def test_a_skill_input_must_be_an_object_schema(tmp_path: Path) -> None:
    skill = "skills:\n  s:\n    input: {type: string}\n    steps: [{id: a, call: time__now}]\n"
    result = compile_text(tmp_path, BASE + skill)
    assert [d.code for d in result.diagnostics] == ["LR339"]


def test_skills_merge_by_name_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(textwrap.dedent(BASE).lstrip(), encoding="utf-8")
    skill = "skills:\n  s:\n    steps: [{id: a, call: time__now}]\n"
    (tmp_path / "b.yaml").write_text("version: 2\n" + skill, encoding="utf-8")
    result = build(tmp_path)
    assert result.table is not None and set(result.table.skills) == {"s"}
    (tmp_path / "c.yaml").write_text("version: 2\n" + skill, encoding="utf-8")
    assert [d.code for d in build(tmp_path).diagnostics] == ["LR303"]


# ---------------------------------------------------------------- the access decision


def test_visible_follows_servers_deny_then_allow() -> None:
    t = full_table()
    policy = t.strategies["coding"].mcp
    assert visible(policy, "docs", "docs__search_pages") is None
    assert visible(policy, "skills", "skills__city-brief") is None
    assert visible(policy, "docs", "docs__delete_page") == "denied by pattern 'docs__delete*'"
    assert "matches no allow pattern" in (visible(policy, "docs", "docs__update") or "")
    why = visible(policy, "legacy", "legacy__x", "coding")
    assert why == "server 'legacy' is not listed by strategy 'coding' (mcp.servers)"
    assert visible(NO_MCP, "time", "time__get_current_time") is not None


def test_globs_have_fnmatch_semantics() -> None:
    policy = McpPolicy(("a",), allow=("a__[bc]?", "a__x*"), deny=("a__[!b]z",))
    assert visible(policy, "a", "a__bq") is None
    assert visible(policy, "a", "a__x.y-z") is None
    assert visible(policy, "a", "A__bq") is not None  # case-sensitive
    assert visible(policy, "a", "a__bqq") is not None  # the whole name
    assert visible(policy, "a", "a__cz") == "denied by pattern 'a__[!b]z'"
    assert visible(McpPolicy(("a",), allow=()), "a", "a__b") is not None


def test_decide_rules_first_then_visibility() -> None:
    t = full_table()
    policy, cursor, ops = t.strategies["coding"].mcp, t.clients["cursor"], t.clients["ops"]
    now = NowFacts()
    http = {"url": "http://example.com"}
    why = decide(policy, "docs", "docs__fetch", http, cursor, now, "coding")
    assert why is not None and why.startswith("denied by rule 1")
    assert decide(policy, "docs", "docs__fetch", {"url": "https://x"}, cursor, now) is None
    # an allow rule lets ops past the deny glob; the editor stays behind it
    assert decide(policy, "docs", "docs__delete_page", {}, ops, now) is None
    assert decide(policy, "docs", "docs__delete_page", {}, cursor, now) is not None
    # a server the strategy does not list is unreachable whatever the rules say
    assert "not listed" in (decide(policy, "legacy", "legacy__x", {}, ops, now) or "")


def test_a_rule_that_fails_to_evaluate_denies() -> None:
    t = full_table()
    policy, cursor = t.strategies["coding"].mcp, t.clients["cursor"]
    why = decide(policy, "docs", "docs__fetch", {}, cursor, NowFacts())  # no url argument
    assert why is not None and "could not be evaluated" in why and "rule 1" in why


def test_rules_see_the_client_and_now(tmp_path: Path) -> None:
    text = BASE + (
        "    mcp:\n      servers: [time]\n"
        "      rules: [{when: 'now.hour >= 22 && client.name == \"c\"', action: deny}]\n"
        "clients:\n  c:\n    key_prefix: lr-sZ2uI4TN\n"
        "    key_hash: $2b$12$PmcTqb0wG9pwHVCaxTgxruh7koJgeUH5Y8ySfyUhspI77J2CV/cD6\n"
        "    strategy: s\n"
    )
    table = compile_text(tmp_path, text).table
    assert table is not None
    policy, c = table.strategies["s"].mcp, table.clients["c"]
    assert decide(policy, "time", "time__now", {}, c, NowFacts(hour=23)) is not None
    assert decide(policy, "time", "time__now", {}, c, NowFacts(hour=9)) is None


def test_public_names() -> None:
    assert public_name("docs", "search pages") == "docs__search_pages"


# ---------------------------------------------------------------- tests: with MCP expectations


def test_mcp_expectations_fail_like_routing_tests(tmp_path: Path) -> None:
    text = FULL.read_text(encoding="utf-8")
    text = text.replace("expect: {tool: deny}", "expect: {tool: allow}")
    text = text.replace("tools_exclude: [docs__delete_page,", "tools_exclude: [docs__search,")
    path = tmp_path / "routers.yaml"
    path.write_text(text, encoding="utf-8")
    result = run_cli("check", str(path))
    assert result.code == 1
    assert "expected tool 'docs__search' to be hidden, but the client sees it" in result.out
    assert "expected the call to 'docs__fetch' to be allowed, but denied by rule 1" in result.out
    assert "3 passed, 2 failed" in result.out
    validated = run_cli("validate", str(path), "--format", "concise")
    assert validated.out.count("error[LR330]") == 2


def test_an_expectation_of_a_missing_skill_or_server_fails(tmp_path: Path) -> None:
    text = FULL.read_text(encoding="utf-8").replace(
        "tools_include: [docs__search,", "tools_include: [skills__nope, nope__x, docs__search,"
    )
    path = tmp_path / "routers.yaml"
    path.write_text(text, encoding="utf-8")
    out = run_cli("check", str(path)).out
    assert "there is no skill 'nope'" in out and "there is no MCP server 'nope'" in out
