"""``localrouter/config/source.py``: spans, multi-file merge, hostile input, YAML 1.2.

Spans are 1-based, ``end_col`` exclusive. Every hostile input must be refused with its own code in
well under a second, without a crash. Tests marked ``xfail(strict=True)`` pin known bugs: each one
starts failing (XPASS) the day the bug is fixed, so its marker can go.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from localrouter.config import source
from localrouter.config.source import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_FILES,
    SpanIndex,
    load,
    parse_text,
)
from localrouter.diagnostics import Diagnostic, Span
from tests.conftest import ROOT

FAST_S = 1.0


def parse(text: str, name: str = "r.yaml") -> tuple[Any, SpanIndex, list[Diagnostic]]:
    return parse_text(textwrap.dedent(text).lstrip("\n"), name)


def codes(diagnostics: list[Diagnostic]) -> list[str]:
    return [d.code for d in diagnostics]


def at(span: Span | None) -> tuple[int, int, int, int]:
    assert span is not None
    return (span.line, span.col, span.end_line, span.end_col)


@contextmanager
def fast(limit: float = FAST_S) -> Iterator[None]:
    start = time.perf_counter()
    yield
    took = time.perf_counter() - start
    assert took < limit, f"took {took:.2f}s (limit {limit}s)"


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


# ---------------------------------------------------------------- spans

BLOCK = """
version: 2
providers:
  openai:
    type: openai
    api_key: "${env:OPENAI_API_KEY}"
  local: {type: 'ollama', kind: local}
strategies:
  cheap:
    models: [openai/gpt-4o-mini, "ollama/*"]
    exclude:
      - openai/o1
      - 'openai/o3'
"""


def test_block_mapping_key_and_value_spans() -> None:
    data, spans, diags = parse(BLOCK)
    assert diags == []
    assert data["version"] == 2
    loc = spans.get(("version",))
    assert loc is not None
    assert at(loc.key) == (1, 1, 1, 8)
    assert at(loc.value) == (1, 10, 1, 11)
    typ = spans.get(("providers", "openai", "type"))
    assert typ is not None
    assert at(typ.key) == (4, 5, 4, 9)
    assert at(typ.value) == (4, 11, 4, 17)
    assert at(spans.key_span(("providers", "openai"))) == (3, 3, 3, 9)
    assert spans.span(("version",)) == Span("r.yaml", 1, 10, 1, 11)


def test_quoted_scalar_spans_include_the_quotes() -> None:
    _, spans, _ = parse(BLOCK)
    # "${env:OPENAI_API_KEY}" starts at its opening quote and ends after the closing one
    assert at(spans.span(("providers", "openai", "api_key"))) == (5, 14, 5, 37)
    assert at(spans.span(("strategies", "cheap", "exclude", 1))) == (12, 9, 12, 20)


def test_flow_mapping_spans() -> None:
    _, spans, _ = parse(BLOCK)
    assert at(spans.key_span(("providers", "local"))) == (6, 3, 6, 8)
    assert at(spans.span(("providers", "local"))) == (6, 10, 6, 39)
    typ = spans.get(("providers", "local", "type"))
    assert typ is not None
    assert at(typ.key) == (6, 11, 6, 15)
    assert at(typ.value) == (6, 17, 6, 25)
    assert at(spans.span(("providers", "local", "kind"))) == (6, 33, 6, 38)


def test_sequence_item_spans_flow_and_block() -> None:
    _, spans, _ = parse(BLOCK)
    assert at(spans.span(("strategies", "cheap", "models", 0))) == (9, 14, 9, 32)
    assert at(spans.span(("strategies", "cheap", "models", 1))) == (9, 34, 9, 44)
    assert at(spans.span(("strategies", "cheap", "exclude", 0))) == (11, 9, 11, 18)
    # a sequence item has no key: its key span is its value span
    assert spans.key_span(("strategies", "cheap", "models", 1)) == spans.span(
        ("strategies", "cheap", "models", 1)
    )


def test_span_falls_back_to_the_nearest_ancestor() -> None:
    _, spans, _ = parse(BLOCK)
    missing = ("strategies", "cheap", "order", 3)
    assert spans.get(missing) is None
    assert spans.span(missing) == spans.span(("strategies", "cheap"))
    assert at(spans.key_span(("providers", "nope", "type"))) == (2, 1, 2, 10)
    assert at(spans.span(())) == (1, 1, 13, 1)


def test_spans_carry_the_display_name(tmp_path: Path) -> None:
    path = write(tmp_path, "routers.yaml", "version: 2\n")
    doc, diags = load(path)
    assert doc is not None and diags == []
    span = doc.spans.span(("version",))
    assert span is not None and span.file == os.fspath(path)
    assert str(span) == f"{path}:1:10"
    assert doc.files == {os.fspath(path): "version: 2\n"}
    assert doc.base_dir == tmp_path


# ---------------------------------------------------------------- scalar_offset_span

CEL = """
strategies:
  s:
    plain: request.has_tools && request.x
    single: 'request.has_tools && request.x'
    double: "request.has_tools && request.x"
    filter: |
      model.params_b >= 7.0 &&
        request.x
    routes:
      - when: |-
          request.x
"""


@pytest.mark.parametrize(
    ("key", "line", "col"),
    [("plain", 3, 33), ("single", 4, 35), ("double", 5, 35)],
)
def test_scalar_offset_span_on_one_line(key: str, line: int, col: int) -> None:
    _, spans, _ = parse(CEL)
    # "request.x" starts at column 22 of the expression text
    got = spans.scalar_offset_span(("strategies", "s", key), 1, 22, 9)
    assert got == Span("r.yaml", line, col, line, col + 9)
    text = textwrap.dedent(CEL).lstrip("\n").splitlines()[line - 1]
    assert text[got.col - 1 : got.end_col - 1] == "request.x"


def test_scalar_offset_span_in_a_literal_block() -> None:
    _, spans, _ = parse(CEL)
    lines = textwrap.dedent(CEL).lstrip("\n").splitlines()
    first = spans.scalar_offset_span(("strategies", "s", "filter"), 1, 1, 5)
    assert at(first) == (7, 7, 7, 12)
    assert first is not None and lines[6][first.col - 1 : first.end_col - 1] == "model"
    second = spans.scalar_offset_span(("strategies", "s", "filter"), 2, 3, 9)
    assert at(second) == (8, 9, 8, 18)
    assert second is not None and lines[7][second.col - 1 : second.end_col - 1] == "request.x"


def test_scalar_offset_span_in_a_block_inside_a_list_item() -> None:
    _, spans, _ = parse(CEL)
    got = spans.scalar_offset_span(("strategies", "s", "routes", 0, "when"), 1, 1, 9)
    assert at(got) == (11, 11, 11, 20)


def test_scalar_offset_span_without_an_entry_falls_back() -> None:
    _, spans, _ = parse(CEL)
    assert spans.scalar_offset_span(("strategies", "s", "nope"), 1, 1, 1) == spans.span(
        ("strategies", "s")
    )


def _locate(text: str, key: str, line: int, col: int, length: int) -> str:
    _, spans, diags = parse(text)
    assert diags == []
    got = spans.scalar_offset_span(("strategies", "s", key), line, col, length)
    assert got is not None
    src = textwrap.dedent(text).lstrip("\n").splitlines()
    return src[got.line - 1][got.col - 1 : got.end_col - 1]


def test_scalar_offset_span_in_a_block_indented_by_four() -> None:
    text = """
    strategies:
        s:
            filter: |
                model.params_b >= 7.0 &&
                request.x
    """
    assert _locate(text, "filter", 2, 1, 9) == "request.x"


def test_scalar_offset_span_in_a_multiline_plain_scalar() -> None:
    text = """
    strategies:
      s:
        filter: model.params_b >= 7.0 &&
          request.x
    """
    # the loaded text is one line: "model.params_b >= 7.0 && request.x"
    assert _locate(text, "filter", 1, 26, 9) == "request.x"


def test_scalar_offset_span_in_a_folded_block_points_into_the_block() -> None:
    # folding joins lines, so offsets are not exact: the documented fallback is the start of the
    # block's first content line, which is still inside the scalar
    text = """
    strategies:
      s:
        filter: >
          model.params_b >= 7.0 &&
          request.x
    """
    _, spans, _ = parse(text)
    got = spans.scalar_offset_span(("strategies", "s", "filter"), 1, 26, 9)
    assert got is not None and (got.line, got.col) == (4, 7)


# ---------------------------------------------------------------- multi-file directories


@pytest.fixture
def confdir(tmp_path: Path) -> Path:
    write(
        tmp_path,
        "10-providers.yaml",
        """
        version: 2
        providers:
          mock:
            type: mock
        logging: {level: info}
        tests:
          - name: first
            client: demo
            expect: {status: 200}
        """,
    )
    write(
        tmp_path,
        "20-more.yml",
        """
        # comment line
        version: 2
        providers:
          ollama:
            type: ollama
        strategies:
          cheap: {models: ["mock/*"]}
        tests:
          - name: second
            client: ci
            expect: {status: 403}
          - name: third
            client: demo
            expect: {status: 200}
        """,
    )
    (tmp_path / "notes.txt").write_text("version: [not, a, config]\n", encoding="utf-8")
    (tmp_path / "old.yaml.bak").write_text(": : :\n", encoding="utf-8")
    return tmp_path


def test_directory_merges_named_sections(confdir: Path) -> None:
    doc, diags = load(confdir)
    assert diags == []
    assert doc is not None
    assert sorted(doc.data["providers"]) == ["mock", "ollama"]
    assert doc.data["strategies"] == {"cheap": {"models": ["mock/*"]}}
    assert doc.data["logging"] == {"level": "info"}
    assert list(doc.files) == [
        os.fspath(confdir / "10-providers.yaml"),
        os.fspath(confdir / "20-more.yml"),
    ]
    ollama = doc.spans.key_span(("providers", "ollama"))
    assert ollama is not None and ollama.file.endswith("20-more.yml")
    assert (ollama.line, ollama.col) == (4, 3)
    mock = doc.spans.key_span(("providers", "mock"))
    assert mock is not None and mock.file.endswith("10-providers.yaml")
    assert (mock.line, mock.col) == (3, 3)


def test_directory_concatenates_tests_with_their_own_spans(confdir: Path) -> None:
    doc, _ = load(confdir)
    assert doc is not None
    assert [t["name"] for t in doc.data["tests"]] == ["first", "second", "third"]
    first = doc.spans.span(("tests", 0, "client"))
    assert first is not None and first.file.endswith("10-providers.yaml")
    assert (first.line, first.col) == (8, 13)
    second = doc.spans.span(("tests", 1, "client"))
    assert second is not None and second.file.endswith("20-more.yml")
    assert (second.line, second.col, second.end_col) == (10, 13, 15)
    third = doc.spans.span(("tests", 2, "expect"))
    assert third is not None and third.file.endswith("20-more.yml")
    assert (third.line, third.col) == (14, 13)


def test_directory_files_must_agree_on_version(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "version: 2\n")
    write(tmp_path, "b.yaml", "providers: {}\nversion: 1\n")
    _, diags = load(tmp_path)
    assert codes(diags) == ["LR303"]
    (d,) = diags
    assert d.span is not None and d.span.file.endswith("b.yaml")
    assert (d.span.line, d.span.col) == (2, 10)
    assert "version" in d.message
    assert d.help is not None and f"{tmp_path / 'a.yaml'}:1:10" in d.help


def test_directory_same_version_is_fine(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "version: 2\n")
    write(tmp_path, "b.yaml", "version: 2\n")
    doc, diags = load(tmp_path)
    assert diags == [] and doc is not None and doc.data == {"version": 2}


def test_directory_plain_section_in_two_files_names_both_places(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "version: 2\nserver:\n  port: 3625\n")
    write(tmp_path, "b.yaml", "# second\nserver:\n  port: 8080\n")
    doc, diags = load(tmp_path)
    assert codes(diags) == ["LR303"]
    (d,) = diags
    assert d.span is not None and d.span.file == os.fspath(tmp_path / "b.yaml")
    assert (d.span.line, d.span.col) == (2, 1)
    assert "server" in d.message
    assert d.help is not None and f"{tmp_path / 'a.yaml'}:2:1" in d.help
    assert doc is not None and doc.data["server"] == {"port": 3625}  # the first file wins


def test_directory_name_defined_twice_names_both_places(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "version: 2\nclients:\n  cursor: {strategy: x}\n")
    write(tmp_path, "b.yaml", "clients:\n  zed: {strategy: x}\n  cursor: {strategy: y}\n")
    doc, diags = load(tmp_path)
    assert codes(diags) == ["LR303"]
    (d,) = diags
    assert "client 'cursor'" in d.message
    assert d.span is not None and d.span.file.endswith("b.yaml") and d.span.line == 3
    assert d.help is not None and f"{tmp_path / 'a.yaml'}:3:3" in d.help
    assert doc is not None and doc.data["clients"] == {
        "cursor": {"strategy": "x"},
        "zed": {"strategy": "x"},
    }


def test_directory_keeps_good_files_when_one_is_broken(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "version: 2\nproviders:\n  mock: {type: mock}\n")
    write(tmp_path, "b.yaml", "- just\n- a list\n")
    doc, diags = load(tmp_path)
    assert codes(diags) == ["LR108"]
    assert doc is not None and doc.data["providers"] == {"mock": {"type": "mock"}}


def test_directory_with_too_many_files(tmp_path: Path) -> None:
    for i in range(MAX_FILES + 1):
        (tmp_path / f"{i:04}.yaml").write_text("{}\n", encoding="utf-8")
    with fast():
        doc, diags = load(tmp_path)
    assert doc is None and codes(diags) == ["LR107"]


# ---------------------------------------------------------------- missing and unreadable


def test_missing_config_is_lr501_without_a_span(tmp_path: Path) -> None:
    doc, diags = load(tmp_path / "nope.yaml")
    assert doc is None
    assert codes(diags) == ["LR501"]
    assert diags[0].span is None
    assert diags[0].help is not None and "localrouter init" in diags[0].help


def test_directory_without_yaml_files_is_lr501(tmp_path: Path) -> None:
    (tmp_path / "routers.json").write_text("{}", encoding="utf-8")
    doc, diags = load(tmp_path)
    assert doc is None and codes(diags) == ["LR501"]


def test_unreadable_file_is_lr501(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "routers.yaml", "version: 2\n")

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", os.fspath(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    doc, diags = load(path)
    assert doc is None and codes(diags) == ["LR501"]
    assert "Permission denied" in diags[0].message
    assert diags[0].span is not None and diags[0].span.file == os.fspath(path)


# ---------------------------------------------------------------- hostile input


def billion_laughs(levels: int = 9) -> str:
    lines = ["version: 2", "lol0: &lol0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_fast() -> None:
    start = time.perf_counter()
    data, _, diags = parse_text(billion_laughs(), "bomb.yaml")
    took = time.perf_counter() - start
    assert data is None and codes(diags) == ["LR103"]
    assert took < FAST_S, f"took {took:.2f}s"


def test_alias_expansion_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    # the same bomb against a lower limit, so this check of the logic stays fast
    monkeypatch.setattr(source, "MAX_NODES", 5_000)
    data, _, diags = parse_text(billion_laughs(5), "bomb.yaml")
    assert data is None and codes(diags) == ["LR103"]
    assert diags[0].span is not None and diags[0].span.file == "bomb.yaml"
    assert "5,000" in diags[0].message
    data, _, diags = parse_text(billion_laughs(3), "small.yaml")  # 1,000 values expanded
    assert diags == [] and data is not None


def test_small_aliases_are_fine() -> None:
    data, _, diags = parse(
        """
        version: 2
        strategies:
          a: {models: &m ["mock/*", "ollama/*"]}
          b: {models: *m}
        """
    )
    assert diags == []
    assert data["strategies"]["b"]["models"] == ["mock/*", "ollama/*"]


def test_file_over_the_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    line = "# " + "x" * 1000 + "\n"
    path.write_text("version: 2\n" + line * (5 * 1024 * 1024 // len(line)), encoding="utf-8")
    assert path.stat().st_size > MAX_FILE_BYTES
    with fast():
        doc, diags = load(path)
    assert doc is None and codes(diags) == ["LR107"]
    assert diags[0].span is not None and diags[0].span.file == os.fspath(path)
    assert "split" in (diags[0].help or "")


@pytest.mark.parametrize(
    "text",
    [
        "[" * 1000 + "]" * 1000,
        "{a: " * 1000 + "1" + "}" * 1000,
        "- " * 1000 + "x\n",
        "".join("  " * i + f"k{i}:\n" for i in range(1000)) + "  " * 1000 + "v\n",
    ],
    ids=["flow-lists", "flow-maps", "block-lists", "block-maps"],
)
def test_nesting_1000_deep_is_refused(text: str) -> None:
    with fast():
        data, _, diags = parse_text(text, "deep.yaml")
    assert data is None and codes(diags) == ["LR104"]
    # the message names the limit passed first: 32 levels, or (block maps) 256 columns of indent
    assert diags[0].message in (
        f"nesting deeper than {MAX_DEPTH} levels",
        "indented more than 256 columns",
    )


def test_nesting_at_the_limit_is_fine() -> None:
    ok = "[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH  # the innermost value sits at depth MAX_DEPTH
    data, _, diags = parse_text(ok, "ok.yaml")
    assert diags == [] and data is not None
    deeper = "[" + ok + "]"
    data, _, diags = parse_text(deeper, "deep.yaml")
    assert data is None and codes(diags) == ["LR104"]


def test_brackets_in_quotes_and_comments_are_not_nesting() -> None:
    many = "[" * 40
    data, _, diags = parse(
        f"""
        version: 2
        # {many}
        strategies:
          s:
            description: "{many}"
            filter: '"{many}" in request.tags'
            models: ["mock/*"]
        """
    )
    assert diags == [], diags
    assert data["strategies"]["s"]["description"] == many


def test_too_deep_points_at_the_offending_line() -> None:
    deep = "{a: " * 40 + "1" + "}" * 40
    _, _, diags = parse(f"version: 2\ntests:\n  - request: {{metadata: {deep}}}\n")
    assert codes(diags) == ["LR104"]
    assert diags[0].span is not None and diags[0].span.line == 3


_DEEP_SCRIPT = """
import sys, time
from localrouter.config.source import parse_text
text = "[" * 100_000 + "]" * 100_000
start = time.perf_counter()
_, _, diags = parse_text(text, "deep.yaml")
print(time.perf_counter() - start, [d.code for d in diags])
"""


def test_nesting_100000_deep_does_not_crash_the_process() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _DEEP_SCRIPT],
        capture_output=True,
        text=True,
        timeout=20,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-500:]}"
    took, found = done.stdout.split(" ", 1)
    assert "LR104" in found
    assert float(took) < FAST_S


def test_python_object_tag_is_refused_and_never_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: object) -> int:
        raise AssertionError("os.system ran")

    monkeypatch.setattr(os, "system", boom)
    with fast():
        data, _, diags = parse("version: 2\nserver: !!python/object/apply:os.system ['true']\n")
    assert data is None and codes(diags) == ["LR105"]
    d = diags[0]
    assert "!!python/object/apply:os.system" in d.message
    assert at(d.span)[:2] == (2, 9)


@pytest.mark.parametrize(
    "value",
    [
        "!!binary aGVsbG8=",
        "!!set {a, b}",
        "!!omap [a: 1]",
        "!custom x",
        "!!python/name:os.system ''",
    ],
)
def test_other_tags_are_refused(value: str) -> None:
    with fast():
        data, _, diags = parse(f"version: 2\nserver: {value}\n")
    assert data is None and codes(diags) == ["LR105"], diags


def test_standard_scalar_tags_are_allowed() -> None:
    data, _, diags = parse("a: !!str 2\nb: !!int '3'\nc: !!float 1\nd: !!bool true\n")
    assert diags == []
    assert data == {"a": "2", "b": 3, "c": 1.0, "d": True}


def test_bad_value_for_a_scalar_tag_is_lr102() -> None:
    data, _, diags = parse("server:\n  port: !!int 36x25\n")
    assert data is None and codes(diags) == ["LR102"]
    assert at(diags[0].span)[:2] == (2, 9)


def test_non_scalar_mapping_key_is_refused() -> None:
    data, _, diags = parse("? [a, b]\n: 1\n")
    assert data is None and codes(diags) == ["LR105"]


def test_duplicate_keys_are_all_reported_in_one_run() -> None:
    data, _, diags = parse(
        """
        version: 2
        providers:
          mock: {type: mock, type: ollama}
        strategies:
          a: {models: ["mock/*"]}
          a: {models: ["ollama/*"]}
        """
    )
    assert codes(diags) == ["LR106", "LR106"]
    first, second = diags
    assert first.message == "duplicate key 'type'"
    assert at(first.span)[:2] == (3, 22)
    assert first.help is not None and "r.yaml:3:10" in first.help
    assert second.message == "duplicate key 'a'"
    assert at(second.span)[:2] == (6, 3)
    assert second.help is not None and "r.yaml:5:3" in second.help
    # the first definition is kept, and the rest of the file still loads
    assert data["providers"]["mock"] == {"type": "mock"}
    assert data["strategies"]["a"] == {"models": ["mock/*"]}


def test_keys_that_differ_only_in_form_are_not_duplicates() -> None:
    data, _, diags = parse("a: 1\n'a ': 2\nA: 3\n")
    assert diags == [] and data == {"a": 1, "a ": 2, "A": 3}


def test_nul_byte_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nul.yaml"
    path.write_bytes(b"version: 2\nserver: {host: 'a\x00b'}\n")
    with fast():
        doc, diags = load(path)
    assert doc is None and codes(diags) == ["LR101"]


def test_nul_byte_is_located(tmp_path: Path) -> None:
    path = tmp_path / "nul.yaml"
    path.write_bytes(b"version: 2\nserver: {host: 'a\x00b'}\n")
    _, diags = load(path)
    (d,) = diags
    assert "\n" not in d.message and "<unicode string>" not in d.message
    assert at(d.span)[:2] == (2, 18)


def test_invalid_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("version: 2\nserver: {host: café}\n".encode("latin-1"))
    with fast():
        doc, diags = load(path)
    assert doc is None and codes(diags) == ["LR101"]
    assert "UTF-8" in diags[0].message


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfversion: 2\n")
    doc, diags = load(path)
    assert diags == [] and doc is not None and doc.data == {"version": 2}


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file_is_an_empty_document(text: str, tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(text, encoding="utf-8")
    doc, diags = load(path)
    assert diags == []
    assert doc is not None and doc.data == {}


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_top_level_must_be_a_mapping(text: str, tmp_path: Path) -> None:
    path = write(tmp_path, "routers.yaml", text)
    doc, diags = load(path)
    assert doc is None and codes(diags) == ["LR108"]
    assert at(diags[0].span)[:2] == (1, 1)


@pytest.mark.parametrize("text", ["null\n", "~\n", "---\n", "--- # nothing\n...\n"])
def test_null_document_is_lr108(text: str, tmp_path: Path) -> None:
    path = write(tmp_path, "routers.yaml", text)
    doc, diags = load(path)
    assert doc is None and codes(diags) == ["LR108"]
    assert diags[0].span is not None and diags[0].span.file == os.fspath(path)


def test_top_level_list_file_is_lr108(tmp_path: Path) -> None:
    path = write(tmp_path, "routers.yaml", "- name: ollama\n  type: ollama\n")
    with fast():
        doc, diags = load(path)
    assert doc is None and codes(diags) == ["LR108"]
    assert at(diags[0].span)[:2] == (1, 1)


def test_invalid_yaml_is_lr101_at_the_problem() -> None:
    data, _, diags = parse("version: 2\nproviders:\n  mock: {type: mock\nclients: {}\n")
    assert data is None and codes(diags) == ["LR101"]
    assert diags[0].span is not None and diags[0].span.line in (3, 4)


def test_tabs_are_lr101() -> None:
    data, _, diags = parse_text("version: 2\nproviders:\n\tmock: {type: mock}\n", "tab.yaml")
    assert data is None and codes(diags) == ["LR101"]
    assert at(diags[0].span)[:2] == (3, 1)


def test_tabs_get_a_hint() -> None:
    _, _, diags = parse_text("version: 2\nproviders:\n\tmock: {type: mock}\n", "tab.yaml")
    assert diags[0].help is not None and "tab" in diags[0].help


# ---------------------------------------------------------------- YAML 1.2 semantics


def test_yaml_1_2_scalars() -> None:
    data, _, diags = parse(
        """
        norway: no
        answer: yes
        switch: on
        off_: off
        octal_looking: 010
        octal: 0o17
        hex: 0x1F
        float: 1e3
        nothing: ~
        truth: true
        date: 2026-01-14
        version: 2.0
        """
    )
    assert diags == []
    assert data["norway"] == "no" and data["answer"] == "yes"
    assert data["switch"] == "on" and data["off_"] == "off"
    assert data["octal_looking"] == 10
    assert data["octal"] == 15
    assert data["hex"] == 31
    assert data["float"] == 1000.0 and isinstance(data["float"], float)
    assert data["nothing"] is None
    assert data["truth"] is True
    assert data["date"] == "2026-01-14"  # timestamps stay text
    assert data["version"] == 2.0


def test_non_string_keys_become_text() -> None:
    data, _, diags = parse("true: 1\n1.5: 2\n~: 3\n")
    assert diags == []
    assert data == {"true": 1, "1.5": 2, "~": 3}


def test_integer_keys_become_text() -> None:
    data, spans, diags = parse("providers:\n  7: {type: mock}\n  010: {type: mock}\n")
    assert diags == []
    assert data == {"providers": {"7": {"type": "mock"}, "010": {"type": "mock"}}}
    assert spans.key_span(("providers", "7")) is not None


def test_merge_keys() -> None:
    data, spans, diags = parse(
        """
        providers:
          groq: &compat
            type: openai-compatible
            timeout: {connect_s: 5}
            kind: api
          together:
            <<: *compat
            kind: subscription
          both:
            <<: [*compat, {discover: false}]
        """
    )
    assert diags == []
    assert data["providers"]["together"] == {
        "type": "openai-compatible",
        "timeout": {"connect_s": 5},
        "kind": "subscription",  # an explicit key wins over the merged one
    }
    assert data["providers"]["both"]["discover"] is False
    assert data["providers"]["both"]["kind"] == "api"
    # a merged key points at where its value is written: in the anchor
    merged = spans.span(("providers", "together", "type"))
    assert merged is not None and (merged.line, merged.col) == (3, 11)


def test_merge_keys_keep_the_explicit_keys_span() -> None:
    _, spans, _ = parse(
        """
        providers:
          groq: &compat
            type: openai-compatible
            kind: api
          together:
            <<: *compat
            kind: subscription
        """
    )
    explicit = spans.span(("providers", "together", "kind"))
    assert explicit is not None and (explicit.line, explicit.col) == (7, 11)


def test_merge_key_needs_a_mapping() -> None:
    data, _, diags = parse("a: &x [1, 2]\nb:\n  <<: *x\n")
    assert data is None and codes(diags) == ["LR105"]


def test_colons_inside_flow_collections() -> None:
    data, _, diags = parse(
        """
        mcp_servers:
          docs: {transport: streamable_http, url: http://127.0.0.1:8931/mcp}
        strategies:
          coding: {models: [ollama/qwen2.5-coder:7b, groq/*]}
        """
    )
    assert diags == []
    assert data["mcp_servers"]["docs"]["url"] == "http://127.0.0.1:8931/mcp"
    assert data["strategies"]["coding"]["models"] == ["ollama/qwen2.5-coder:7b", "groq/*"]


def test_colons_in_block_and_quoted_scalars() -> None:
    data, _, diags = parse(
        """
        base_url: http://localhost:11434
        models: ["ollama/qwen2.5-coder:7b"]
        """
    )
    assert diags == []
    assert data == {
        "base_url": "http://localhost:11434",
        "models": ["ollama/qwen2.5-coder:7b"],
    }


def test_nothing_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LR_TEST_SECRET", "s3cret")
    data, _, diags = parse("api_key: ${env:LR_TEST_SECRET}\n")
    assert diags == [] and data == {"api_key": "${env:LR_TEST_SECRET}"}


def test_module_limits_are_sane() -> None:
    assert MAX_FILE_BYTES < 5 * 1024 * 1024
    assert 8 <= MAX_DEPTH <= 64
    assert source.MAX_NODES >= 10_000


RECURSIVE = [
    ("z: &b [*b]\n", "&b", 1, 4),  # a list that contains itself
    ("version: 2\nproviders: &p\n  x: {a: 1, b: *p}\n", "&p", 2, 12),  # a map, deeper down
    ("version: 2\na: &a\n  <<: *a\n", "&a", 2, 4),  # a merge key into its own mapping
    ("a: &a [&b [*a]]\n", "&a", 1, 4),  # through another anchor
]


@pytest.mark.timeout(10, method="signal")  # before the fix, counting the expansion never ended
@pytest.mark.parametrize(("text", "anchor", "line", "col"), RECURSIVE)
def test_recursive_alias_is_refused_at_its_anchor(
    text: str, anchor: str, line: int, col: int
) -> None:
    with fast(0.1):
        data, _, diags = parse_text(text, "loop.yaml")
    assert data is None and codes(diags) == ["LR103"]
    assert f"recursive alias: the anchor '{anchor}'" in diags[0].message
    span = diags[0].span
    assert span is not None and (span.file, span.line, span.col) == ("loop.yaml", line, col)


@pytest.mark.timeout(10, method="signal")
def test_recursive_alias_through_load(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", "version: 2\nz: &b [*b]\n")
    with fast():
        doc, diags = load(path)
    assert doc is None and codes(diags) == ["LR103"]


def test_deep_indentation_is_named_as_such() -> None:
    text = "version: 2\nproviders:\n  mock:\n" + " " * 300 + "x: 1\n"
    data, _, diags = parse_text(text, "indent.yaml")
    assert data is None and codes(diags) == ["LR104"]
    assert diags[0].message == "indented more than 256 columns"
    assert diags[0].span is not None and (diags[0].span.line, diags[0].span.col) == (4, 257)
