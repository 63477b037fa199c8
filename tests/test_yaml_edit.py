"""Span-addressed edits of one key (config/yaml_edit.py) and of a strategy
(config/strategy_edits.py): only the value's lines change, every other byte stays, and the result
parses to what was asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from localrouter.config.strategy_edits import LimitEdit, StrategyEdit, edit_strategy
from localrouter.config.yaml_edit import flow, set_key
from localrouter.errors import EditError

TEXT = """\
# top
strategies:   # the strategies
  a:
    models: ["mock/*"]   # all of them
    order: [lowest_cost]
    limits:
      # shared
      - {requests: 10, per: 1m}
  b:
    models:
    - x
    - y
    fallback: {attempts: 2}
  c: {models: [z, "a,b"], order: [x]}   # c
  e: {models: [z],
      order: [x]}
clients: {}
"""


def _load(text: str) -> Any:
    return YAML(typ="safe").load(text)


def _changed(before: str, after: str) -> set[str]:
    return set(after.split("\n")) ^ set(before.split("\n"))


@pytest.mark.parametrize(
    "value",
    ["1m", "1", "1.5", "mock/*", "a:b", "true", "Yes", "null", "0x1f", "1e3", "-x", "", "é ü",
     'quote " and \\ back', "ollama/qwen2.5-coder:7b", "#not a comment", "a, b", "[x]"],
)  # fmt: skip
def test_a_string_is_written_so_it_reads_back_the_same(value: str) -> None:
    assert _load(f"k: {flow(value)}\nl: [{flow(value)}]\n") == {"k": value, "l": [value]}


def test_a_flow_value_is_replaced_on_its_line_keeping_its_comment() -> None:
    after = set_key(TEXT, ["strategies", "a"], "models", ["mock/b", "mock/*"])
    assert _changed(TEXT, after) == {
        '    models: ["mock/*"]   # all of them',
        '    models: [mock/b, "mock/*"]   # all of them',
    }
    assert _load(after)["strategies"]["a"]["models"] == ["mock/b", "mock/*"]


def test_a_block_list_stays_a_block_list_at_its_indent() -> None:
    after = set_key(TEXT, ["strategies", "b"], "models", ["z", "mock/*"])
    assert '    models:\n    - z\n    - "mock/*"\n    fallback: {attempts: 2}\n' in after
    assert _load(after)["strategies"]["b"]["models"] == ["z", "mock/*"]
    after = set_key(TEXT, ["strategies", "a"], "limits", [{"requests": 5, "per": "1m"}])
    assert "    limits:\n      - {requests: 5, per: 1m}\n  b:\n" in after  # inner comment goes


def test_a_missing_key_is_added_after_the_last_one_and_none_removes_it() -> None:
    after = set_key(TEXT, ["strategies", "b"], "order", ["lowest_cost"])
    assert "    fallback: {attempts: 2}\n    order: [lowest_cost]\n  c:" in after
    removed = set_key(TEXT, ["strategies", "a"], "limits", None)
    assert "limits" not in removed and "# shared" not in removed
    assert removed.replace("", "") == TEXT.replace(
        "    limits:\n      # shared\n      - {requests: 10, per: 1m}\n", ""
    )
    assert set_key(TEXT, ["strategies", "b"], "order", None) == TEXT


@pytest.mark.parametrize(
    ("key", "value", "line"),
    [
        ("models", ["n1", "m/*"], '  c: {models: [n1, "m/*"], order: [x]}   # c'),
        ("order", None, '  c: {models: [z, "a,b"]}   # c'),
        ("models", None, "  c: {order: [x]}   # c"),
        ("limits", [{"requests": 1, "per": "1m"}],
         '  c: {models: [z, "a,b"], order: [x], limits: [{requests: 1, per: 1m}]}   # c'),
    ],
)  # fmt: skip
def test_a_one_line_flow_mapping_is_edited_on_its_line(key: str, value: Any, line: str) -> None:
    after = set_key(TEXT, ["strategies", "c"], key, value)
    assert _changed(TEXT, after) == {line, '  c: {models: [z, "a,b"], order: [x]}   # c'}
    c = _load(after)["strategies"]["c"]
    assert c.get(key) == value


@pytest.mark.parametrize(
    ("path", "why"),
    [(["strategies", "e"], "several lines"), (["strategies", "nope"], "not a mapping"),
     (["clients"], "empty")],
)  # fmt: skip
def test_a_shape_that_cannot_be_edited_in_place_is_refused(path: list[str], why: str) -> None:
    with pytest.raises(EditError, match=why):
        set_key(TEXT, path, "order", ["x"])


def test_a_strategy_is_edited_in_the_one_file_of_a_directory_that_holds_it(tmp_path: Path) -> None:
    (tmp_path / "10-providers.yaml").write_text("version: 2\nproviders: {mock: {type: mock}}\n")
    (tmp_path / "20-strategies.yaml").write_text(TEXT)
    edit = StrategyEdit("b", order=("highest_quality",), limits=(LimitEdit("cost_usd", 2.5, "1d"),))
    [(name, text)] = edit_strategy(tmp_path, edit).items()
    assert name == "20-strategies.yaml"
    b = _load(text)["strategies"]["b"]
    assert b["order"] == ["highest_quality"] and b["limits"] == [{"cost_usd": 2.5, "per": "1d"}]
    assert (tmp_path / "20-strategies.yaml").read_text() == TEXT  # nothing written
    with pytest.raises(EditError, match="no file"):
        edit_strategy(tmp_path, StrategyEdit("nope", order=()))
