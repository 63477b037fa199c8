"""What ``bench/ingress_bench.py`` measures for each ingress: its gateway config, targets, bodies
and headers, the ratios judged, and where its table is written.

Every ingress has the targets ``chat`` (``load.chat_body`` to ``/v1/chat/completions``, routed
to the OpenAI-compatible provider) and ``floor`` (the floor proxy forwarding the chat body), and
its own, the same conversation in the ingress's shape (same system text, user text and token
limit), sent to the same gateway:

* ``messages`` — ``translated``: ``POST /v1/messages`` → the OpenAI-compatible provider
  (translated there and back); ``forwarded``: the same body with the header
  ``x-bench-anthropic`` → an ``anthropic`` provider on the same fake (forwarded as sent, its
  answer relayed). Issue 15's targets: translated ≤ 1.2× chat, forwarded ≤ 1.1× chat, streams
  ≤ 1.3× the floor.
* ``responses`` — ``responses-translated``: ``POST /v1/responses`` (``instructions``, the user
  text as a string ``input``, ``max_output_tokens``; ``store`` left at its default, true, as
  the SDK sends it) → the OpenAI-compatible provider (translated through chat);
  ``responses-native``: the same body with the header ``x-bench-native`` → an ``openai``
  provider on the same fake, which serves ``/v1/responses`` (sent natively, events relayed).
  ``responses-unstored``: the translated body with ``store: false`` (nothing kept: what the
  response store costs). Targets: translated ≤ 1.2× chat, streams ≤ 1.3× the floor; native and
  unstored ÷ chat for information.

Each gateway config has one CEL route (the header picks the second provider), a client key and
a client limit, so every request pays the same routing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import load

ROOT = Path(__file__).resolve().parent.parent
Check = tuple[str, str, str, float | None]  # scenario kind, numerator, denominator, target
Request = tuple[str, dict[str, str], bytes]  # path, headers, body

MODELS = "bench-model: {input_per_mtok: 0.15, output_per_mtok: 0.6, context_window: 131072}"


def config_text(ingress: Ingress, port: int, prefix: str, key_hash: str) -> str:
    """The gateway's config: the OpenAI-compatible provider, the ingress's second provider on the
    same fake, one route to it by header, the client."""
    return f"""\
version: 2
server: {{host: 127.0.0.1, port: 3625}}
providers:
  upstream:
    type: openai-compatible
    base_url: http://127.0.0.1:{port}/v1
    discover: false
    models:
      {MODELS}
  {ingress.provider}:
    type: {ingress.ptype}
    base_url: http://127.0.0.1:{port}{ingress.base_path}
    api_key: ${{env:{ingress.key_env}}}
    discover: false
    models:
      {MODELS}
strategies:
  bench:
    routes:
      - name: {ingress.route}
        when: '"{ingress.header}" in request.headers'
        models: [{ingress.provider}/bench-model]
    models: [upstream/bench-model]
clients:
  bench:
    key_prefix: {prefix}
    key_hash: {key_hash}
    strategy: bench
    limits:
      - {{requests: 100000000, per: 1m}}
"""


@dataclass(frozen=True)
class Ingress:
    """One ingress's benchmark (see the module doc)."""

    name: str
    title: str  # the report's words for it
    doc: Path
    heading: str
    begin: str
    end: str
    targets: tuple[str, ...]  # chat, the ingress's own, floor
    routed: str  # the target sent with the header, to the second provider
    checks: tuple[Check, ...]
    provider: str  # the second provider: its name, type, base URL's path
    ptype: str
    base_path: str
    route: str  # the route's name, and the header that takes it
    header: str
    key_env: str
    key: str  # the fake's key for the second provider
    done: bytes  # a stream's last event holds this

    def request(self, target: str, client_key: str, stream: bool) -> Request:
        """(path, headers, body) of one of the ingress's own targets."""
        if self.name == "messages":
            headers = {"x-api-key": client_key, "anthropic-version": "2023-06-01"}
            path, body = "/v1/messages", messages_body(stream)
        else:
            headers = {"authorization": f"Bearer {client_key}"}
            path = "/v1/responses"
            body = responses_body(stream, store=target != "responses-unstored")
        if target == self.routed:
            headers[self.header] = "1"
        return path, headers, body


def _conversation() -> tuple[str, list[dict[str, str]]]:
    messages = load.CHAT_BODY["messages"]
    assert isinstance(messages, list)
    system = [m["content"] for m in messages if m["role"] == "system"]
    return system[0], [m for m in messages if m["role"] != "system"]


def messages_body(stream: bool) -> bytes:
    """``load.CHAT_BODY``'s conversation in Anthropic's shape: the same texts and max_tokens."""
    chat = load.CHAT_BODY
    system, rest = _conversation()
    body = {
        "model": chat["model"],
        "max_tokens": chat["max_tokens"],
        "system": system,
        "messages": rest,
        "stream": stream,
    }
    return json.dumps(body).encode()


def responses_body(stream: bool, *, store: bool = True) -> bytes:
    """``load.CHAT_BODY``'s conversation as a Responses body: ``instructions``, the user text as
    the ``input`` string, ``max_output_tokens``; ``store: false`` only when not ``store``."""
    chat = load.CHAT_BODY
    system, rest = _conversation()
    assert len(rest) == 1
    body = {
        "model": chat["model"],
        "instructions": system,
        "input": rest[0]["content"],
        "max_output_tokens": chat["max_tokens"],
        "stream": stream,
    }
    if not store:
        body["store"] = False
    return json.dumps(body).encode()


MESSAGES = Ingress(
    name="messages",
    title="the Anthropic Messages ingress",
    doc=ROOT / "docs" / "performance-anthropic.md",
    heading="## The Anthropic Messages ingress (`bench/ingress_bench.py --ingress messages`)",
    begin="<!-- messages-bench:begin (generated by bench/ingress_bench.py --write) -->",
    end="<!-- messages-bench:end -->",
    targets=("chat", "translated", "forwarded", "floor"),
    routed="forwarded",
    checks=(
        ("json", "translated", "chat", 1.2),
        ("json", "forwarded", "chat", 1.1),
        ("sse", "translated", "chat", None),
        ("sse", "forwarded", "chat", None),
        ("sse", "translated", "floor", 1.3),
        ("sse", "forwarded", "floor", 1.3),
        ("sse", "chat", "floor", None),
    ),
    provider="claude",
    ptype="anthropic",
    base_path="",
    route="anthropic",
    header="x-bench-anthropic",
    key_env="LR_BENCH_ANTHROPIC_KEY",
    key="sk-ant-bench-not-a-key",
    done=b'data: {"type":"message_stop"}',
)

RESPONSES = Ingress(
    name="responses",
    title="the OpenAI Responses ingress",
    doc=ROOT / "docs" / "performance.md",
    heading="## The OpenAI Responses ingress (`bench/ingress_bench.py --ingress responses`)",
    begin="<!-- responses-bench:begin (generated by bench/ingress_bench.py --write) -->",
    end="<!-- responses-bench:end -->",
    targets=("chat", "responses-translated", "responses-native", "responses-unstored", "floor"),
    routed="responses-native",
    checks=(
        ("json", "responses-translated", "chat", 1.2),
        ("json", "responses-native", "chat", None),
        ("json", "responses-unstored", "chat", None),
        ("sse", "responses-translated", "chat", None),
        ("sse", "responses-native", "chat", None),
        ("sse", "responses-translated", "floor", 1.3),
        ("sse", "responses-native", "floor", 1.3),
        ("sse", "responses-unstored", "floor", None),
        ("sse", "chat", "floor", None),
    ),
    provider="openai",
    ptype="openai",
    base_path="/v1",
    route="native",
    header="x-bench-native",
    key_env="LR_BENCH_OPENAI_KEY",
    key="sk-bench-not-a-key",
    done=b'"type":"response.completed"',
)

INGRESSES = {i.name: i for i in (MESSAGES, RESPONSES)}
