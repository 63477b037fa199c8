"""Fuzz ``/mcp``: the gateway itself never answers 5xx to bad input, and never errors inside.

Behind it: the fixture server over stdio (which answers well). Bodies are JSON-RPC messages with
random methods, ids and params, tool calls with random names and arguments (known tools with
wrong arguments too), and plain JSON values, sent in an open session and on the stateless
2026-07-28 revision. Every answer must be 2xx or 4xx; a 200 carries JSON-RPC (a result or an
error). At the end the gateway still serves a good call, and logged no unexpected error.

Bounded like tests/test_http_fuzz.py: batches of :data:`BATCH` until ``LR_FUZZ_SECONDS``
(default 4) have passed.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gateway import Gateway, running_gateway
from tests.mcp_servers.run import stdio_argv

BATCH = 25
SECONDS = float(os.environ.get("LR_FUZZ_SECONDS", "4"))
ACCEPT = "application/json, text/event-stream"

CONFIG = """
version: 2
providers:
  mock: {{type: mock}}
strategies:
  agents:
    models: [mock/echo]
    mcp:
      servers: [fx, skills]
      deny: ["fx__crash", "fx__slow"]
      rules: [{{when: 'tool.args.text == "no"', action: deny}}]
clients:
  app: {{key_prefix: "{{key_prefix:app}}", key_hash: "{{key_hash:app}}", strategy: agents}}
mcp_servers:
  fx: {{transport: stdio, command: {fx}, call_timeout_s: 5}}
skills:
  twice:
    input: {{type: object, properties: {{text: {{type: string}}}}, required: [text]}}
    steps:
      - {{id: a, call: fx__echo, args: {{text: input.text}}}}
      - {{id: b, call: fx__echo, args: {{text: 'steps.a.text + steps.a.text'}}}}
"""

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
TOOLS = ["fx__echo", "fx__add", "fx__crash", "fx__slow", "fx__env", "skills__twice", "nope__x"]
METHODS = [
    "tools/list", "tools/call", "resources/list", "resources/read", "resources/templates/list",
    "prompts/list", "prompts/get", "ping", "completion/complete", "logging/setLevel",
    "resources/subscribe", "nope/nope",
]  # fmt: skip
calls = st.fixed_dictionaries(
    {
        "jsonrpc": st.just("2.0"),
        "id": st.integers(1, 10**6),
        "method": st.just("tools/call"),
        "params": st.fixed_dictionaries(
            {"name": st.sampled_from(TOOLS) | st.text(max_size=10), "arguments": json_values}
        ),
    }
)
requests = st.fixed_dictionaries(
    {
        "jsonrpc": st.sampled_from(["2.0", "1.0"]),
        "id": st.integers() | st.text(max_size=5) | st.none(),
        "method": st.sampled_from(METHODS) | st.text(max_size=12),
        "params": json_values,
    }
)
messages = calls | requests | json_values


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    text = CONFIG.format(fx=json.dumps(stdio_argv("fx-fuzz")))
    with running_gateway(text, tmp_path_factory.mktemp("mcp-fuzz")) as gw:
        yield gw


def _open(client: httpx.Client, gw: Gateway) -> dict[str, str]:
    headers = {"authorization": f"Bearer {gw.keys['app']}", "accept": ACCEPT}
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "fuzz", "version": "1"},
        },
    }
    r = client.post(gw.url + "/mcp", json=init, headers=headers)
    assert r.status_code == 200, r.text
    headers |= {"mcp-session-id": r.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
    client.post(
        gw.url + "/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"},
        headers=headers,
    )  # fmt: skip
    return headers


def _check(r: httpx.Response) -> None:
    assert r.status_code < 500, (r.status_code, r.text[:500])
    if r.status_code == 200 and r.text:
        body = r.text
        if r.headers.get("content-type", "").startswith("text/event-stream"):
            datas = [ln[5:].strip() for ln in body.splitlines() if ln.startswith("data:")]
            body = datas[-1] if datas else "{}"
        got = json.loads(body)
        assert isinstance(got, dict | list), body[:300]


@pytest.mark.parametrize("era", ["session", "stateless"])
def test_mcp_never_answers_5xx(gw: Gateway, era: str, caplog: pytest.LogCaptureFixture) -> None:
    sent = 0
    with httpx.Client(timeout=30) as client:
        if era == "session":
            headers = _open(client, gw)
        else:
            headers = {
                "authorization": f"Bearer {gw.keys['app']}",
                "accept": ACCEPT,
                "mcp-protocol-version": "2026-07-28",
            }

        @settings(
            max_examples=BATCH,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(messages)
        def one(message: Any) -> None:
            nonlocal sent
            sent += 1
            _check(client.post(gw.url + "/mcp", json=message, headers=headers))

        deadline = time.monotonic() + SECONDS
        with caplog.at_level(logging.ERROR, logger="localrouter"):
            while True:
                one()
                if time.monotonic() > deadline:
                    break
        ours = [r for r in caplog.records if r.name.startswith("localrouter")]
        assert not [r for r in ours if r.levelno >= logging.ERROR], caplog.text
        # still serving
        good = {
            "jsonrpc": "2.0",
            "id": 99,
            "method": "tools/call",
            "params": {"name": "fx__echo", "arguments": {"text": "still here"}},
        }
        if era == "session":
            r = client.post(gw.url + "/mcp", json=good, headers=headers)
            assert r.status_code == 200 and "still here" in r.text, r.text
    print(f"{era}: {sent} bodies")
