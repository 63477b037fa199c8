"""The bounds on client data that routing reads (routing/client_data.py), as facts are built."""

from __future__ import annotations

import time
from typing import Any

import pytest

from localrouter.errors import RequestDataError
from localrouter.routing.client_data import (
    MAX_HEADERS,
    MAX_METADATA_CHARS,
    MAX_METADATA_DEPTH,
    MAX_METADATA_VALUES,
    MAX_TAG_CHARS,
    MAX_TAGS,
    MAX_TOKENS_FACT,
    token_count,
)
from localrouter.routing.facts import facts_from_openai
from tests.conftest import run_cli

MSG = {"messages": [{"role": "user", "content": "hi"}]}


def refused(body: dict[str, Any], headers: dict[str, str] | None = None) -> RequestDataError:
    with pytest.raises(RequestDataError) as info:
        facts_from_openai({**MSG, **body}, headers)
    return info.value


def nest(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    return value


def test_tags_up_to_the_bound_are_kept_in_order() -> None:
    tags = [f"t{i}" for i in range(MAX_TAGS - 1)] + ["x" * MAX_TAG_CHARS]
    assert facts_from_openai({**MSG, "tags": tags}).tags == tuple(tags)
    assert facts_from_openai({**MSG, "tags": ["a", 1, None, "b"]}).tags == ("a", "b")
    assert facts_from_openai({**MSG, "tags": "a"}).tags == ()


def test_too_many_or_too_long_tags_are_refused_not_cut() -> None:
    err = refused({"tags": ["t"] * (MAX_TAGS + 1)})
    assert (err.status, err.param) == (400, "tags") and "65 items" in err.message
    err = refused({"tags": ["ok", "x" * (MAX_TAG_CHARS + 1)]})
    assert "`tags[1]`" in err.message and "129 characters" in err.message


def test_headers_over_the_count_are_a_431() -> None:
    ok = {f"x-{i}": "v" for i in range(MAX_HEADERS)}
    assert len(facts_from_openai(MSG, ok).headers) == MAX_HEADERS
    err = refused({}, {**ok, "x-one-more": "v"})
    assert err.status == 431 and "101 header fields" in err.message


def test_metadata_depth() -> None:
    assert facts_from_openai({**MSG, "metadata": nest(MAX_METADATA_DEPTH)}).metadata
    err = refused({"metadata": nest(MAX_METADATA_DEPTH + 1)})
    assert err.param == "metadata" and "nested deeper than 8 levels" in err.message
    refused({"metadata": nest(40)})
    refused({"metadata": nest(20_000)})  # no recursion anywhere


def test_metadata_values_and_text() -> None:
    # the root object, 63 keys and 63 values: 127
    fits = {f"k{i}": i for i in range((MAX_METADATA_VALUES - 1) // 2)}
    facts_from_openai({**MSG, "metadata": fits})
    assert "values" in refused({"metadata": {**fits, "one": 1}}).message
    assert "values" in refused({"metadata": {"l": list(range(MAX_METADATA_VALUES))}}).message
    text = {"a": "x" * (MAX_METADATA_CHARS - 1)}
    facts_from_openai({**MSG, "metadata": text})
    assert "characters" in refused({"metadata": {"ab": "x" * (MAX_METADATA_CHARS - 1)}}).message


def test_a_huge_metadata_object_is_refused_without_walking_it() -> None:
    huge = dict.fromkeys(map(str, range(200_000)), 0)
    started = time.perf_counter()
    refused({"metadata": huge})
    assert time.perf_counter() - started < 0.05


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**30])
def test_metadata_integers_outside_int64_are_refused(value: int) -> None:
    err = refused({"metadata": {"a": [1, {"n": value}]}})
    assert "`metadata.a[1].n`" in err.message and "64-bit" in err.message


def test_metadata_within_the_bounds_is_kept_whole() -> None:
    meta = {"team": "ml", "n": 2**63 - 1, "f": 1.5, "ok": True, "none": None, "l": ["a", 1]}
    assert dict(facts_from_openai({**MSG, "metadata": meta}).metadata) == meta


@pytest.mark.parametrize(
    ("given", "fact"),
    [
        (300, 300),
        (1000.0, 1000),
        (1e30, MAX_TOKENS_FACT),  # orjson reads a long integer literal as a float
        (10**30, MAX_TOKENS_FACT),  # json reads it as an int
        (2**63, MAX_TOKENS_FACT),
        (-5, 0),
        (1.5, 0),
        (float("inf"), 0),
        (float("nan"), 0),
        (True, 0),
        ("100", 0),
        (None, 0),
    ],
)
def test_max_tokens_fact(given: Any, fact: int) -> None:
    assert token_count(given) == fact
    assert facts_from_openai({**MSG, "max_tokens": given}).max_tokens == fact


MANY = ", ".join(["vip"] * 65)
CHECKED = """
version: 2
providers:
  mock: {type: mock, models: {small: {}, large: {}}}
strategies:
  s:
    routes:
      - {name: vip, when: '"vip" in request.tags', models: [mock/large]}
    models: [mock/small]
clients:
  app: {key_prefix: lr-AAAAAAAA, key_hash: "$2b$04$HASH", strategy: s}
tests:
  - name: too many tags are refused, as the server does
    client: app
    request: {tags: [MANY]}
    expect: {status: 400}
  - name: the same request expected to route
    client: app
    request: {tags: [MANY]}
    expect: {route: vip}
  - name: within the bound it routes
    client: app
    request: {tags: [a, vip]}
    expect: {route: vip}
""".replace("HASH", "a" * 53).replace("MANY", MANY)


def test_config_tests_apply_the_bounds_as_the_server_does(write: Any) -> None:
    result = run_cli("check", str(write(CHECKED)))
    assert result.code == 1, result.out + result.err
    assert "2 passed, 1 failed" in result.out
    assert "FAIL  the same request expected to route" in result.out
    assert "expected status 200, got 400 (`tags` has 65 items; at most 64" in result.out
