"""The official OpenAI SDK against the running gateway, routed to each provider type.

Every provider's fake answers the same question the same way (the last user text echoed, a tool
call for `call NAME {json}`), so through the gateway every provider must give an OpenAI-shaped
answer that carries that text, streams to the same text, validates against OpenAI's schemas, and
returns tool calls the SDK can read.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterator
from contextlib import ExitStack

import openai
import pytest

from tests.fakes.serve import serve_app
from tests.gateway import Gateway, running_gateway
from tests.openapi import validate

# (provider type, fake module, the model its fake serves, base_url suffix)
PROVIDERS = {
    "ollama": ("tests.fakes.ollama_fake", "qwen2.5-coder:7b", ""),
    "gemini": ("tests.fakes.gemini_fake", "gemini-2.5-flash", ""),
    "anthropic": ("tests.fakes.anthropic_fake", "claude-sonnet-4-6", ""),
    "openai": ("tests.fakes.openai_fake", "gpt-4o-mini", "/v1"),
}
AVAILABLE = [
    n for n, (mod, _m, _s) in PROVIDERS.items() if importlib.util.find_spec(mod) is not None
]

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "weather of a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    os.environ["LR_TEST_FAKE_KEY"] = "test-key"
    with ExitStack() as stack:
        lines = ["version: 2", "providers:"]
        strategies, clients = [], []
        for name in AVAILABLE:
            module, model, suffix = PROVIDERS[name]
            url = stack.enter_context(serve_app(importlib.import_module(module).create_app()))
            lines += [
                f"  {name}:",
                f"    type: {name}",
                f"    base_url: {url}{suffix}",
                "    api_key: ${env:LR_TEST_FAKE_KEY}",
                "    discover: false",
                f'    models: {{"{model}": {{}}}}',
            ]
            strategies.append(f'  via-{name}: {{models: ["{name}/{model}"]}}')
            clients.append(
                f'  {name}: {{key_prefix: "{{key_prefix:{name}}}", '
                f'key_hash: "{{key_hash:{name}}}", strategy: via-{name}}}'
            )
        text = "\n".join([*lines, "strategies:", *strategies, "clients:", *clients]) + "\n"
        yield stack.enter_context(running_gateway(text, tmp_path_factory.mktemp("gw")))
    del os.environ["LR_TEST_FAKE_KEY"]


def sdk(gw: Gateway, name: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.v1, api_key=gw.keys[name], max_retries=0)


@pytest.mark.parametrize("name", AVAILABLE)
def test_chat_and_stream_agree(gw: Gateway, name: str) -> None:
    client = sdk(gw, name)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello from the gateway test"},
    ]
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=messages)  # type: ignore[arg-type]
    completion = raw.parse()
    assert raw.headers["x-localrouter-provider"] == name
    body = json.loads(raw.text)
    validate("CreateChatCompletionResponse", body)
    content = completion.choices[0].message.content or ""
    assert "Hello from the gateway test" in content
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.prompt_tokens > 0
    chunks = list(
        client.chat.completions.create(
            model="auto",
            messages=messages,
            stream=True,  # type: ignore[arg-type]
            stream_options={"include_usage": True},
        )
    )
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.model_dump(exclude_unset=True))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == content
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


@pytest.mark.parametrize("name", AVAILABLE)
async def test_async_tool_call_round_trip(gw: Gateway, name: str) -> None:
    client = openai.AsyncOpenAI(base_url=gw.v1, api_key=gw.keys[name], max_retries=0)
    ask = [{"role": "user", "content": 'call get_weather {"city": "Paris"}'}]
    first = await client.chat.completions.create(model="auto", messages=ask, tools=TOOLS)  # type: ignore[arg-type]
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    stream = await client.chat.completions.create(
        model="auto", messages=ask, tools=TOOLS, stream=True
    )  # type: ignore[arg-type]
    name_seen, args = "", ""
    async for chunk in stream:
        for delta_call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            name_seen += delta_call.function.name or "" if delta_call.function else ""
            args += delta_call.function.arguments or "" if delta_call.function else ""
    assert name_seen == "get_weather" and json.loads(args) == {"city": "Paris"}
    follow = [
        *ask,
        choice.message.model_dump(exclude_unset=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'},
    ]
    answer = await client.chat.completions.create(model="auto", messages=follow, tools=TOOLS)  # type: ignore[arg-type]
    assert answer.choices[0].finish_reason == "stop"
    await client.close()


@pytest.mark.skipif("openai" not in AVAILABLE, reason="no fake OpenAI")
@pytest.mark.parametrize("stream", [False, True])
def test_through_the_gateway_equals_the_fake_openai_directly(gw: Gateway, stream: bool) -> None:
    """Same request, once straight to the fake OpenAI, once through the gateway routed to it."""
    direct_url = next(p.base_url for p in gw.table.providers.values() if p.type == "openai")
    direct = openai.OpenAI(base_url=direct_url, api_key="test-key", max_retries=0)
    via = sdk(gw, "openai")
    requests = [
        {"messages": [{"role": "user", "content": "identical please"}]},
        {
            "messages": [{"role": "user", "content": 'call get_weather {"city": "Oslo"}'}],
            "tools": TOOLS,
        },
    ]
    VOLATILE = {"id", "created", "system_fingerprint", "obfuscation"}  # random per answer

    def norm(obj: object) -> object:  # tool-call ids are random per answer: compare the rest
        if isinstance(obj, dict):
            return {k: norm(v) for k, v in obj.items() if k not in VOLATILE}
        if isinstance(obj, list):
            return [norm(v) for v in obj]
        return obj

    for extra in requests:
        a = direct.chat.completions.create(model="gpt-4o-mini", stream=stream, **extra)  # type: ignore[call-overload]
        b = via.chat.completions.create(model="auto", stream=stream, **extra)  # type: ignore[call-overload]
        if stream:
            got = [norm(c.model_dump(exclude=VOLATILE)) for c in b]
            want = [norm(c.model_dump(exclude=VOLATILE)) for c in a]
            assert got == want
        else:
            assert norm(b.model_dump(exclude=VOLATILE)) == norm(a.model_dump(exclude=VOLATILE))
