"""``localrouter diff OLD NEW --replay LOG``: recorded request facts routed through both tables."""

from __future__ import annotations

import functools
import gzip
import json
import tempfile
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from localrouter.compiler.build import build
from localrouter.compiler.table import RoutingTable
from localrouter.logs.reader import iter_lines, log_files
from localrouter.logs.record import facts_obj
from localrouter.logs.replay import MAX_EXAMPLES, facts_from_log, replay
from localrouter.routing.facts import NowFacts, RequestFacts
from tests.conftest import run_cli

HASH = "$2b$04$" + "a" * 53  # shape-valid bcrypt; nothing here checks a key
BASE = f"""\
version: 2
providers:
  mock:
    type: mock
    models:
      echo-small: {{context_window: 8192}}
      echo-large: {{context_window: 131072}}
      echo-long: {{context_window: 1048576}}
strategies:
  smart:
    routes:
      - name: long
        when: 'request.estimated_tokens > 1000'
        models: [mock/echo-large]
    models: [mock/echo-small, mock/echo-large]
    filter: 'model.context_window >= request.estimated_tokens'
clients:
  cursor: {{key_prefix: lr-aaaaaaaa, key_hash: "{HASH}", strategy: smart}}
  ci: {{key_prefix: lr-bbbbbbbb, key_hash: "{HASH}", strategy: smart}}
"""
LONG_ELSEWHERE = BASE.replace("models: [mock/echo-large]\n", "models: [mock/echo-long]\n")
CI = f'ci: {{key_prefix: lr-bbbbbbbb, key_hash: "{HASH}", strategy: smart'
CI_DISABLED = BASE.replace(CI + "}", CI + ", enabled: false}")
# the table diff cannot see a model's context window shrink; the replay can
SMALL_WINDOW = BASE.replace(
    "echo-small: {context_window: 8192}", "echo-small: {context_window: 500}"
)
NO_CI = BASE.replace(f"  {CI}}}\n", "")

SHORT_OLD = "route default → mock/echo-small, mock/echo-large"


def line(rid: str, client: str | None, tokens: int = 100, **request: Any) -> dict[str, Any]:
    """An access-log line in the documented format (docs/observability.md)."""
    facts = None
    if client is not None:
        facts = {
            "request": {
                "model": "auto",
                "messages_count": 1,
                "estimated_tokens": tokens,
                "max_tokens": 0,
                "has_tools": False,
                "has_images": False,
                "stream": False,
                "complexity": 0.1,
                "tags": [],
                "headers": {},
                "metadata": {},
                **request,
            },
            "now": {"hour": 13, "weekday": 4, "unix": 1764940800},
        }
    return {
        "ts": 1764940800.123,
        "time": "2025-12-05T13:20:00.123Z",
        "request_id": rid,
        "generation_id": f"gen-{rid}" if client else None,
        "endpoint": "chat",
        "client": client,
        "strategy": "smart" if client else None,
        "route": "default" if client else None,
        "provider": "mock" if client else None,
        "model": "echo-small" if client else None,
        "status": "ok" if client else "error",
        "status_code": 200 if client else 401,
        "error_type": None if client else "authentication_error",
        "error_code": None,
        "input_tokens": 10,
        "output_tokens": 5,
        "total_tokens": 15,
        "tokens_estimated": False,
        "cost_usd": None,
        "latency_ms": 12.5,
        "ttfb_ms": 3.0,
        "attempts": [],
        "stream": False,
        "config_sha": "0" * 64,
        "facts": facts,
    }


# cursor: 2 short, 2 long; ci: 1 short, 1 long; one unauthenticated line
TRAFFIC = [
    line("c1", "cursor", 100),
    line("c2", "cursor", 5000),
    line("c3", "cursor", 300),
    line("c4", "cursor", 2000),
    line("i1", "ci", 50),
    line("i2", "ci", 1500),
    line("anon", None),
]


def write_log(path: Path, lines: list[dict[str, Any]], tail: str = "") -> Path:
    text = "".join(json.dumps(x) + "\n" for x in lines) + tail
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@functools.cache
def table(text: str) -> RoutingTable:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "routers.yaml"
        path.write_text(text, encoding="utf-8")
        result = build(path)
    assert result.table is not None, result.diagnostics
    return result.table


@pytest.fixture
def configs(tmp_path: Path) -> dict[str, str]:
    out = {}
    for name, text in (
        ("base", BASE),
        ("long", LONG_ELSEWHERE),
        ("disabled", CI_DISABLED),
        ("window", SMALL_WINDOW),
        ("no-ci", NO_CI),
    ):
        path = tmp_path / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        out[name] = str(path)
    return out


def test_the_configs_differ_as_intended() -> None:
    assert len({BASE, LONG_ELSEWHERE, CI_DISABLED, SMALL_WINDOW, NO_CI}) == 5
    assert table(BASE).clients["ci"].enabled
    assert not table(CI_DISABLED).clients["ci"].enabled
    assert table(CI_DISABLED).clients["cursor"].enabled
    assert "ci" not in table(NO_CI).clients


def test_identical_configs_change_nothing(configs: dict[str, str], tmp_path: Path) -> None:
    log = write_log(tmp_path / "access-2026-12-05.jsonl", TRAFFIC)
    result = run_cli("diff", configs["base"], configs["base"], "--replay", str(log))
    assert result.code == 0, result.out + result.err
    assert result.out.splitlines() == [
        "no routing changes",
        "",
        "replayed 6 requests from access-2026-12-05.jsonl: no decision differs",
        "1 line skipped",
    ]


def test_a_changed_long_route_changes_exactly_the_long_requests(
    configs: dict[str, str], tmp_path: Path
) -> None:
    log = write_log(tmp_path / "access-2026-12-05.jsonl", TRAFFIC)
    report = replay(table(BASE), table(LONG_ELSEWHERE), iter_lines(log))
    assert (report.total, report.replayed, report.skipped, report.changed) == (7, 6, 1, 3)
    assert dict(report.by_client) == {"cursor": 2, "ci": 1}
    assert [c.request_id for c in report.examples] == ["c2", "c4", "i2"]
    assert report.examples[0].old == "route long → mock/echo-large"
    assert report.examples[0].new == "route long → mock/echo-long"

    result = run_cli("diff", configs["base"], configs["long"], "--replay", str(log))
    assert result.code == 1
    assert "client cursor: route 'long': + mock/echo-long" in result.out
    assert (
        "replayed 6 requests from access-2026-12-05.jsonl: 3 decisions differ (cursor: 2, ci: 1)"
        in result.out
    )
    assert "  c2 cursor: route long → mock/echo-large  ⇒  route long → mock/echo-long" in result.out
    doc = json.loads(
        run_cli(
            "diff", configs["base"], configs["long"], "--replay", str(log), "--format", "json"
        ).out
    )
    assert doc["replay"]["changed"] == 3 and doc["replay"]["skipped"] == 1
    assert doc["replay"]["by_client"] == {"cursor": 2, "ci": 1}
    assert [e["request_id"] for e in doc["replay"]["examples"]] == ["c2", "c4", "i2"]


def test_a_disabled_client_gets_403(configs: dict[str, str], tmp_path: Path) -> None:
    log = write_log(tmp_path / "access-2026-12-05.jsonl", TRAFFIC)
    result = run_cli("diff", configs["base"], configs["disabled"], "--replay", str(log))
    assert result.code == 1
    assert "client ci: disabled" in result.out
    assert ": 2 decisions differ (ci: 2)" in result.out
    report = replay(table(BASE), table(CI_DISABLED), iter_lines(log))
    assert report.changed == 2 and dict(report.by_client) == {"ci": 2}
    assert [(c.request_id, c.old, c.new) for c in report.examples] == [
        ("i1", SHORT_OLD, "403 client_disabled"),
        ("i2", "route long → mock/echo-large", "403 client_disabled"),
    ]


def test_a_removed_client_gets_401(configs: dict[str, str], tmp_path: Path) -> None:
    log = write_log(tmp_path / "access-2026-12-05.jsonl", TRAFFIC)
    result = run_cli("diff", configs["base"], configs["no-ci"], "--replay", str(log))
    assert result.code == 1 and ": 2 decisions differ (ci: 2)" in result.out
    report = replay(table(BASE), table(NO_CI), iter_lines(log))
    assert report.changed == 2
    assert {c.new for c in report.examples} == {"401 unknown client"}
    back = replay(table(NO_CI), table(BASE), iter_lines(log))
    assert [c.old for c in back.examples] == ["401 unknown client"] * 2


def test_replay_sees_what_the_table_diff_cannot(configs: dict[str, str], tmp_path: Path) -> None:
    # echo-small's window shrinks to 500 tokens: the candidate lists are the same, so the table
    # diff sees nothing, but requests of 500-1000 tokens no longer fit it
    log = write_log(
        tmp_path / "access-2026-12-05.jsonl",
        [line("a", "cursor", 400), line("b", "cursor", 600), line("c", "ci", 900)],
    )
    assert run_cli("diff", configs["base"], configs["window"]).code == 0
    result = run_cli("diff", configs["base"], configs["window"], "--replay", str(log))
    assert result.code == 1, result.out
    assert result.out.splitlines()[:3] == [
        "no routing changes",
        "",
        "replayed 3 requests from access-2026-12-05.jsonl: 2 decisions differ (ci: 1, cursor: 1)",
    ]
    assert f"  b cursor: {SHORT_OLD}  ⇒  route default → mock/echo-large" in result.out
    assert "skipped" not in result.out


def test_a_change_behind_the_first_candidate_counts() -> None:
    fallback = BASE.replace(
        "models: [mock/echo-small, mock/echo-large]", "models: [mock/echo-small, mock/echo-long]"
    )
    report = replay(table(BASE), table(fallback), TRAFFIC)
    assert [(c.request_id, c.new) for c in report.examples] == [
        (rid, "route default → mock/echo-small, mock/echo-long") for rid in ("c1", "c3", "i1")
    ]


def test_a_renamed_route_counts() -> None:
    renamed = BASE.replace("- name: long", "- name: big")
    report = replay(table(BASE), table(renamed), TRAFFIC)
    assert [(c.request_id, c.new) for c in report.examples] == [
        (rid, "route big → mock/echo-large") for rid in ("c2", "c4", "i2")
    ]


def test_truncated_and_unauthenticated_lines_are_skipped(
    configs: dict[str, str], tmp_path: Path
) -> None:
    log = write_log(
        tmp_path / "access-2026-12-05.jsonl",
        [*TRAFFIC, line("bad", "cursor", estimated_tokens="many"), {"client": "ci"}],
        tail='not json\n[1, 2]\n{"ts": 1764940801.0, "request_id": "cut", "client": "cur',
    )
    report = replay(table(BASE), table(LONG_ELSEWHERE), iter_lines(log))
    # 7 + 2 written, + 3 in the tail; skipped: anon, bad facts, no facts, not json, list, truncated
    assert (report.total, report.replayed, report.skipped, report.changed) == (12, 6, 6, 3)
    result = run_cli("diff", configs["base"], configs["long"], "--replay", str(log))
    assert result.code == 1 and result.err == ""
    assert result.out.rstrip().endswith("6 lines skipped")


def test_a_gzip_file_and_a_truncated_gzip_file(tmp_path: Path) -> None:
    gz = write_log(tmp_path / "access-2026-12-04.jsonl.gz", TRAFFIC)
    assert replay(table(BASE), table(LONG_ELSEWHERE), iter_lines(gz)).changed == 3
    cut = tmp_path / "cut.jsonl.gz"  # a compression that stopped half-way
    cut.write_bytes(gz.read_bytes()[:-100])
    *read, rest = list(iter_lines(cut))
    ids = [x["request_id"] for x in read if x is not None]
    assert rest is None and len(ids) == len(read) < len(TRAFFIC)
    assert ids == [x["request_id"] for x in TRAFFIC[: len(ids)]]
    with gzip.open(gz, "ab") as more:  # the writer appends late lines as one more member
        more.write(json.dumps(line("late", "ci", 4000)).encode() + b"\n")
    report = replay(table(BASE), table(LONG_ELSEWHERE), iter_lines(gz))
    assert (report.total, report.changed) == (8, 4) and report.examples[-1].request_id == "late"
    not_gzip = write_log(tmp_path / "plain.jsonl", TRAFFIC).rename(tmp_path / "fake.jsonl.gz")
    assert list(iter_lines(not_gzip)) == [None]


def test_a_directory_reads_every_day_in_order(configs: dict[str, str], tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    write_log(logs / "access-2026-12-05.jsonl", [line("d5", "ci", 3000)])
    write_log(logs / "access-2026-12-03.jsonl.gz", [line("d3", "cursor", 3000)])
    write_log(logs / "access-2026-12-04.jsonl.gz", [line("d4-gz", "ci", 3000)])
    write_log(logs / "access-2026-12-04.jsonl", [line("d4", "cursor", 3000), line("x", None)])
    write_log(logs / "access-2026-12-02.jsonl.bak", [line("bak", "ci", 3000)])
    (logs / "notes.txt").write_text("not a log\n", encoding="utf-8")
    assert [p.name for p in log_files(logs)] == [
        "access-2026-12-03.jsonl.gz",
        "access-2026-12-04.jsonl.gz",  # a past day's lines, then its late ones not yet gzipped
        "access-2026-12-04.jsonl",
        "access-2026-12-05.jsonl",
    ]
    result = run_cli(
        "diff", configs["base"], configs["long"], "--replay", str(logs), "--format", "json"
    )
    assert result.code == 1
    rep = json.loads(result.out)["replay"]
    assert [e["request_id"] for e in rep["examples"]] == ["d3", "d4-gz", "d4", "d5"]
    assert (rep["total"], rep["replayed"], rep["skipped"]) == (5, 4, 1)
    assert rep["by_client"] == {"ci": 2, "cursor": 2}
    text = run_cli("diff", configs["base"], configs["long"], "--replay", str(logs)).out
    assert (
        "replayed 4 requests from 4 files (access-2026-12-03.jsonl.gz … access-2026-12-05.jsonl)"
        ": 4 decisions differ (ci: 2, cursor: 2)"
    ) in text


def test_a_missing_log_is_a_usage_error(configs: dict[str, str], tmp_path: Path) -> None:
    missing = run_cli("diff", configs["base"], configs["base"], "--replay", str(tmp_path / "no"))
    assert missing.code == 2 and missing.out == ""
    assert missing.err == f"error: access log {tmp_path / 'no'} does not exist\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    none = run_cli("diff", configs["base"], configs["base"], "--replay", str(empty))
    assert none.code == 2 and len(none.err.splitlines()) == 1


def test_examples_are_bounded(tmp_path: Path) -> None:
    lines = [line(f"r{i}", "cursor", 2000) for i in range(MAX_EXAMPLES + 5)]
    report = replay(table(BASE), table(LONG_ELSEWHERE), lines)
    assert report.changed == MAX_EXAMPLES + 5 and len(report.examples) == MAX_EXAMPLES


def test_facts_from_log_defaults_and_types() -> None:
    req, now = facts_from_log({"request": {"estimated_tokens": 7, "tags": ["a"]}})
    assert req == RequestFacts(estimated_tokens=7, tags=("a",)) and now == NowFacts()
    req, now = facts_from_log(
        {
            "request": {"headers": {"x-team": "ml"}, "metadata": {"n": [1]}, "complexity": 1},
            "now": {"hour": 3},
        }
    )
    assert isinstance(req.headers, MappingProxyType) and req.headers["x-team"] == "ml"
    assert isinstance(req.metadata, MappingProxyType) and req.complexity == 1.0
    assert now == NowFacts(hour=3)
    bad_facts: list[dict[str, Any]] = [
        {},
        {"request": []},
        {"request": {"estimated_tokens": "7"}},
        {"request": {"estimated_tokens": True}},
        {"request": {"stream": 1}},
        {"request": {"tags": "a"}},
        {"request": {"headers": {"x": 1}}},
        {"request": {"complexity": "high"}},
        {"request": {}, "now": {"hour": 1.5}},
        {"request": {}, "now": []},
    ]
    for bad in bad_facts:
        with pytest.raises(ValueError, match="facts"):
            facts_from_log(bad)


def test_facts_round_trip_through_the_writer() -> None:
    facts = RequestFacts(
        model="auto",
        messages_count=3,
        estimated_tokens=1234,
        max_tokens=50,
        has_tools=True,
        stream=True,
        complexity=0.42,
        tags=("x", "y"),
        headers=MappingProxyType({"x-team": "ml"}),
        metadata=MappingProxyType({"job": "nightly"}),
    )
    now = NowFacts(hour=23, weekday=6, unix=1764940800)
    obj = json.loads(json.dumps(facts_obj(facts, now, (True, True))))
    assert facts_from_log(obj) == (facts, now)
