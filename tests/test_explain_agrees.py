"""`explain --request FILE.json` and the gateway decide the same for the same bytes.

They once read the body with different JSON parsers: a long integer literal for ``max_tokens``
was an int to ``explain`` (the filter failed on it: 503) and a float to the gateway (read as
"not set": answered by a model the filter should have excluded). ``explain`` now reads the body
as the server does: orjson, the server's body validation, the same facts and bounds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import run_cli
from tests.gateway import Gateway, running_gateway

CONFIG = """
version: 2
providers:
  mock:
    type: mock
    models:
      small: {context_window: 8192}
      large: {context_window: 200000}
strategies:
  sized:
    models: [mock/small, mock/large]
    filter: 'model.context_window >= request.estimated_tokens + request.max_tokens'
    routes:
      - name: vip
        when: '"vip" in request.tags && request.max_tokens > 100'
        models: [mock/large]
clients:
  app: {key_prefix: {key_prefix:app}, key_hash: {key_hash:app}, strategy: sized}
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with running_gateway(CONFIG, tmp_path_factory.mktemp("agree")) as gateway:
        yield gateway


def both(gw: Gateway, raw: str, tmp: Path) -> tuple[tuple[int, str | None], tuple[int, str | None]]:
    """(status, first model) from the gateway and from `explain`, for the same body text."""
    answer = httpx.post(
        gw.v1 + "/chat/completions",
        content=raw.encode(),
        headers={"authorization": f"Bearer {gw.keys['app']}", "content-type": "application/json"},
        timeout=10,
    )
    served = answer.headers.get("x-localrouter-model") if answer.status_code == 200 else None
    body = tmp / "request.json"
    body.write_text(raw, encoding="utf-8")
    args = ("explain", "--config", str(gw.config), "--client", "app", "--no-state")
    result = run_cli(*args, "--format", "json", "--request", str(body))
    assert result.code in (0, 1), result.err
    doc = json.loads(result.out)
    first = doc["candidates"][0].split("/", 1)[1] if doc["candidates"] else None
    return (answer.status_code, served), (doc["status"], first)


def body(max_tokens: str, tags: str = "[]", words: int = 1) -> str:
    text = " ".join(["word"] * words)
    return (
        f'{{"model": "auto", "max_tokens": {max_tokens}, "tags": {tags}, '
        f'"messages": [{{"role": "user", "content": "{text}"}}]}}'
    )


@pytest.mark.parametrize(
    ("max_tokens", "expected"),
    [
        ("1e30", (400, None)),  # max_tokens must be an integer (server/validation.py)
        ("1000000000000000000000000000000", (400, None)),  # int to json, float to orjson
        ("9223372036854775808", (503, None)),  # 2**63: past int64, read as 2**32
        ("100000", (200, "large")),
        ("100000.0", (400, None)),
        ("1000", (200, "small")),
        ("-5", (400, None)),
    ],
)
def test_explain_and_serve_agree_on_max_tokens(
    gw: Gateway, tmp_path: Path, max_tokens: str, expected: tuple[int, str | None]
) -> None:
    served, explained = both(gw, body(max_tokens), tmp_path)
    assert served == explained == expected


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    max_tokens=st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        st.sampled_from(["0", "null", "true", '"100"', "8000", "8180", "8187", "1e5"]),
    ),
    vip=st.booleans(),
    words=st.integers(min_value=0, max_value=40),
)
def test_explain_and_serve_agree_on_random_requests(
    gw: Gateway, tmp_path: Path, max_tokens: str, vip: bool, words: int
) -> None:
    raw = body(max_tokens, '["vip"]' if vip else "[]", words)
    served, explained = both(gw, raw, tmp_path)
    assert served == explained


def test_explain_shows_the_refusal_the_server_would_answer(gw: Gateway, tmp_path: Path) -> None:
    raw = body("100", json.dumps(["t"] * 65))
    served, explained = both(gw, raw, tmp_path)
    assert served == explained == (400, None)
    path = tmp_path / "request.json"
    args = ("explain", "--config", str(gw.config), "--client", "app", "--no-state")
    text = run_cli(*args, "--request", str(path))
    assert text.code == 1
    assert (
        text.out
        == "client:     app\nresult:     400 `tags` has 65 items; at most 64 are accepted\n"
    )
