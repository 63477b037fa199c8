"""Aliases on a running gateway: a tool that insists on its own model name (Claude Code's
``claude-sonnet-4-5-20250929``) is served what its strategy's alias says, through the OpenAI SDK."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.gateway import Gateway, running_gateway

CONFIG = """
version: 2
providers:
  mock:
    type: mock
    models:
      small: {}
      large: {}
strategies:
  agents:
    models: [mock/small, mock/large]
    aliases:
      "claude-sonnet-*": mock/large
      "claude-*": auto
clients:
  agent:
    key_prefix: {key_prefix:agent}
    key_hash: {key_hash:agent}
    strategy: agents
  fixed:
    key_prefix: {key_prefix:fixed}
    key_hash: {key_hash:fixed}
    model: mock/small
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with running_gateway(CONFIG, tmp_path_factory.mktemp("gw")) as gateway:
        yield gateway


def sdk(gw: Gateway, client: str = "agent") -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.v1, api_key=gw.keys[client], max_retries=0)


def test_an_aliased_model_name_is_served_by_the_alias_target(gw: Gateway) -> None:
    raw = sdk(gw).chat.completions.with_raw_response.create(
        model="claude-sonnet-4-5-20250929", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-localrouter-provider"] == "mock"
    assert raw.headers["x-localrouter-model"] == "large"
    assert raw.parse().choices[0].message.content == "[large] You said: hi"


def test_an_alias_to_auto_is_served_by_the_strategy(gw: Gateway) -> None:
    raw = sdk(gw).chat.completions.with_raw_response.create(
        model="claude-haiku-4-5", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-localrouter-model"] == "small"  # the strategy's first candidate
    gen = httpx.get(
        f"{gw.v1}/generation",
        params={"id": raw.headers["x-localrouter-generation-id"]},
        headers={"authorization": f"Bearer {gw.keys['agent']}"},
    ).json()
    assert gen["strategy"] == "agents" and gen["route"] == "default"


def test_a_client_with_a_fixed_model_has_no_aliases(gw: Gateway) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        sdk(gw, "fixed").chat.completions.create(
            model="claude-sonnet-4-5-20250929", messages=[{"role": "user", "content": "hi"}]
        )
    assert "does not exist" in str(caught.value)


def test_the_models_lookup_reads_the_alias_too(gw: Gateway) -> None:
    got = sdk(gw).models.retrieve("claude-sonnet-4-5-20250929")
    assert got.id == "mock/large"
