"""The gateway the Responses API's real-client tests run against (Codex, LiteLLM, pydantic-ai):
three clients, each with a strategy to one upstream —

* ``via-mock`` → the mock provider (translated through chat),
* ``via-chat`` → a fake OpenAI server's chat completions (``openai-compatible``: translated),
* ``via-openai`` → the same fake's Responses API (type ``openai``: the body is forwarded) —

every strategy reading ``gpt-*`` model names as ``auto`` (the names those clients send).

    with gateway_with_three_upstreams(tmp_path) as (gw, fake):
        ...
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.fakes import openai_fake
from tests.fakes.serve import serve_app
from tests.gateway import Gateway, running_gateway

UPSTREAM_KEY = "LR_TEST_RESPONSES_UPSTREAM_KEY"  # the fake's key, read by the config
CLIENTS = ["via-mock", "via-chat", "via-openai"]
SERVED_BY = {
    "via-mock": ("mock", "small"),
    "via-chat": ("chat", "gpt-4o-mini"),
    "via-openai": ("openai", "gpt-4o-mini"),
}
CONFIG = """
version: 2
providers:
  mock: {type: mock, models: {small: {}}}
  chat:  # chat completions only: the gateway translates
    type: openai-compatible
    base_url: {openai}/v1
    api_key: ${env:LR_TEST_RESPONSES_UPSTREAM_KEY}
    discover: false
    models: {gpt-4o-mini: {}}
  openai:  # the Responses API natively: the body is forwarded
    type: openai
    base_url: {openai}/v1
    api_key: ${env:LR_TEST_RESPONSES_UPSTREAM_KEY}
    discover: false
    models: {gpt-4o-mini: {}}
strategies:
  to-mock: {models: [mock/small], aliases: {"gpt-*": auto}}
  to-chat: {models: [chat/gpt-4o-mini], aliases: {"gpt-*": auto}}
  to-openai: {models: [openai/gpt-4o-mini], aliases: {"gpt-*": auto}}
clients:
  via-mock:
    key_prefix: "{key_prefix:via-mock}"
    key_hash: "{key_hash:via-mock}"
    strategy: to-mock
  via-chat:
    key_prefix: "{key_prefix:via-chat}"
    key_hash: "{key_hash:via-chat}"
    strategy: to-chat
  via-openai:
    key_prefix: "{key_prefix:via-openai}"
    key_hash: "{key_hash:via-openai}"
    strategy: to-openai
"""


@contextmanager
def gateway_with_three_upstreams(
    directory: Path,
) -> Iterator[tuple[Gateway, openai_fake.FakeState]]:
    """The gateway on :data:`CONFIG`, and the fake OpenAI server's state."""
    fake = openai_fake.FakeState()
    with ExitStack() as stack:
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        mp.setenv(UPSTREAM_KEY, openai_fake.API_KEY)
        url = stack.enter_context(serve_app(openai_fake.create_app(fake)))
        gw = stack.enter_context(running_gateway(CONFIG.replace("{openai}", url), directory))
        yield gw, fake
