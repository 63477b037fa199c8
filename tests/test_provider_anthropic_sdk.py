"""The fake Anthropic API is faithful: the official ``anthropic`` SDK talks to it unchanged, and
its raw answers (errors, validation messages, the SSE event flow) look like the real API's."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import httpx
import pytest

from tests.fakes.anthropic_fake import FakeState, create_app, default_models
from tests.fakes.serve import serve_app

Json = dict[str, Any]
MODEL = "claude-sonnet-4-6"
WEATHER: Any = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
V2023 = {"anthropic-version": "2023-06-01"}
HEADERS = {"x-api-key": "test-key", "anthropic-version": "2023-06-01"}


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, FakeState]]:
    state = FakeState()
    with serve_app(create_app(state)) as url:
        yield url, state


@pytest.fixture
def fake(server: tuple[str, FakeState]) -> FakeState:
    state = server[1]
    state.requests.clear()
    state.script.clear()
    state.chunk_delay, state.crlf, state.split_writes = 0.0, False, False
    state.models = default_models()
    return state


@pytest.fixture
def url(server: tuple[str, FakeState]) -> str:
    return server[0]


@pytest.fixture
async def sdk(url: str) -> AsyncIterator[anthropic.AsyncAnthropic]:
    client = anthropic.AsyncAnthropic(api_key="test-key", base_url=url, max_retries=0)
    yield client
    await client.close()


def raw(url: str, body: Json, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/messages", json=body, headers=HEADERS if headers is None else headers
    )


# ---------------------------------------------------------------- the SDK


async def test_sdk_create(sdk: anthropic.AsyncAnthropic, fake: FakeState) -> None:
    msg = await sdk.messages.create(
        model=MODEL,
        max_tokens=64,
        system="be brief",
        messages=[{"role": "user", "content": "hello fake"}],
    )
    assert msg.type == "message" and msg.role == "assistant" and msg.model == MODEL
    assert msg.content[0].type == "text" and msg.content[0].text == "hello fake"
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens == 4 and msg.usage.output_tokens == 2
    assert msg.id.startswith("msg_")
    sent = fake.last.headers
    assert sent["authorization"] == "Bearer test-key"  # SDK 2.x sends the key this way
    assert sent["anthropic-version"] == "2026-10-21"


async def test_sdk_stream(sdk: anthropic.AsyncAnthropic, fake: FakeState) -> None:
    fake.crlf = fake.split_writes = True
    texts: list[str] = []
    async with sdk.messages.stream(
        model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "stream me please"}]
    ) as stream:
        async for text in stream.text_stream:
            texts.append(text)
        final = await stream.get_final_message()
    assert texts == ["stream ", "me ", "please"]
    assert final.content[0].type == "text" and final.content[0].text == "stream me please"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 3


async def test_sdk_tool_round_trip(sdk: anthropic.AsyncAnthropic, fake: FakeState) -> None:
    first: Any = [{"role": "user", "content": 'call get_weather {"city": "Paris"}'}]
    async with sdk.messages.stream(
        model=MODEL, max_tokens=64, tools=[WEATHER], messages=first
    ) as stream:
        streamed = await stream.get_final_message()
    created = await sdk.messages.create(model=MODEL, max_tokens=64, tools=[WEATHER], messages=first)
    for msg in (streamed, created):
        assert msg.stop_reason == "tool_use"
        use = next(b for b in msg.content if b.type == "tool_use")
        assert use.name == "get_weather" and use.input == {"city": "Paris"}
    use = next(b for b in created.content if b.type == "tool_use")
    result = {"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}
    turns: Any = [
        *first,
        {"role": "assistant", "content": created.content},
        {"role": "user", "content": [result]},
    ]
    follow = await sdk.messages.create(model=MODEL, max_tokens=64, tools=[WEATHER], messages=turns)
    assert follow.content[0].type == "text" and follow.content[0].text == "tool said: sunny"


async def test_sdk_thinking(sdk: anthropic.AsyncAnthropic, fake: FakeState) -> None:
    msg = await sdk.messages.create(
        model=MODEL,
        max_tokens=64,
        thinking={"type": "adaptive"},
        messages=[{"role": "user", "content": "ponder"}],
    )
    assert [b.type for b in msg.content] == ["thinking", "text"]


async def test_sdk_system_messages_by_version(url: str, fake: FakeState) -> None:
    turns: Any = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "system", "content": "from now on, be terse"},
        {"role": "user", "content": "ok"},
    ]
    new = anthropic.AsyncAnthropic(api_key="test-key", base_url=url, max_retries=0)
    assert (await new.messages.create(model=MODEL, max_tokens=8, messages=turns)).stop_reason
    old = anthropic.AsyncAnthropic(
        api_key="test-key", base_url=url, max_retries=0, default_headers=V2023
    )
    with pytest.raises(anthropic.BadRequestError, match='Unexpected role "system"'):
        await old.messages.create(model=MODEL, max_tokens=8, messages=turns)
    await new.close()
    await old.close()


async def test_sdk_typed_errors(sdk: anthropic.AsyncAnthropic, url: str, fake: FakeState) -> None:
    message: Any = [{"role": "user", "content": "hi"}]
    bad = anthropic.AsyncAnthropic(api_key="wrong", base_url=url, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as auth:
        await bad.messages.create(model=MODEL, max_tokens=8, messages=message)
    await bad.close()
    assert auth.value.status_code == 401
    body: Any = auth.value.body
    assert body["type"] == "error" and body["request_id"].startswith("req_")
    assert body["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}
    fake.fail(429, headers={"retry-after": "2"})
    with pytest.raises(anthropic.RateLimitError) as limited:
        await sdk.messages.create(model=MODEL, max_tokens=8, messages=message)
    assert limited.value.response.headers["retry-after"] == "2"
    fake.fail(529)
    with pytest.raises(anthropic.OverloadedError):
        await sdk.messages.create(model=MODEL, max_tokens=8, messages=message)
    with pytest.raises(anthropic.BadRequestError, match="max_tokens: Input should be greater"):
        await sdk.messages.create(model=MODEL, max_tokens=0, messages=message)
    with pytest.raises(anthropic.NotFoundError):
        await sdk.messages.create(model="claude-nope", max_tokens=8, messages=message)
    with pytest.raises(anthropic.BadRequestError, match="temperature: Extra inputs"):
        await sdk.messages.create(
            model=MODEL, max_tokens=8, messages=message, extra_body={"temperature": 0.5}
        )
    old = anthropic.AsyncAnthropic(
        api_key="test-key", base_url=url, max_retries=0, default_headers=V2023
    )
    ok = await old.messages.create(
        model=MODEL, max_tokens=8, messages=message, extra_body={"temperature": 0.5}
    )
    await old.close()
    assert ok.stop_reason == "end_turn"


async def test_sdk_stream_error_event(sdk: anthropic.AsyncAnthropic, fake: FakeState) -> None:
    fake.break_stream_after(4, mode="error")
    with pytest.raises(anthropic.APIStatusError) as err:
        async with sdk.messages.stream(
            model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "a b c"}]
        ) as stream:
            async for _event in stream:
                pass
    assert err.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


async def test_sdk_models(sdk: anthropic.AsyncAnthropic, fake: FakeState) -> None:
    ids = [m.id async for m in sdk.models.list(limit=2)]
    assert ids == [m["id"] for m in default_models()]
    assert [r.query.get("after_id") for r in fake.requests] == [None, ids[1], ids[3]]
    one = await sdk.models.retrieve("claude-haiku-4-5-20251001")
    assert one.display_name == "Claude Haiku 4.5" and one.max_input_tokens == 200000
    assert one.capabilities is not None and one.capabilities.image_input.supported
    with pytest.raises(anthropic.NotFoundError):
        await sdk.models.retrieve("claude-nope")


# ---------------------------------------------------------------- raw answers


USER_Q = {"role": "user", "content": "q"}
ASSISTANT_USE = {
    "role": "assistant",
    "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}],
}
BASE: Json = {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({k: v for k, v in BASE.items() if k != "max_tokens"}, "max_tokens: Field required"),
        ({k: v for k, v in BASE.items() if k != "messages"}, "messages: Field required"),
        ({**BASE, "n": 2}, "n: Extra inputs are not permitted"),
        ({**BASE, "max_tokens": 0}, "max_tokens: Input should be greater than or equal to 1"),
        ({**BASE, "temperature": 1.5}, "temperature: Input should be less than or equal to 1"),
        ({**BASE, "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
         'roles must alternate between "user" and "assistant", but found multiple "user" roles'),
        ({**BASE, "messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]},
         "text content blocks must be non-empty"),
        ({**BASE, "messages": [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_x", "content": "r"}]}]},
         "unexpected `tool_use_id` found in `tool_result` blocks: toolu_x"),
        ({**BASE, "messages": [USER_Q, ASSISTANT_USE, {"role": "user", "content": "no result"}]},
         "`tool_use` ids were found without `tool_result` blocks immediately after: t1"),
        ({**BASE, "messages": [USER_Q, {"role": "assistant", "content": "a "}]},
         "final assistant content cannot end with trailing whitespace"),
        ({**BASE, "tool_choice": {"type": "any"}},
         "tool_choice may only be specified while providing tools"),
        ({**BASE, "tools": [{"name": "f", "parameters": {}}]},
         "tools.0.custom.input_schema: Field required"),
        ({**BASE, "metadata": {"user": "x"}}, "metadata.user: Extra inputs are not permitted"),
    ],
)  # fmt: skip
def test_validation_like_the_api(url: str, fake: FakeState, body: Json, message: str) -> None:
    answer = raw(url, body)
    assert answer.status_code == 400
    doc = answer.json()
    assert doc["type"] == "error" and doc["error"]["type"] == "invalid_request_error"
    assert message in doc["error"]["message"]
    assert doc["request_id"].startswith("req_")


def test_missing_max_tokens_is_exactly_the_apis_answer(url: str, fake: FakeState) -> None:
    answer = raw(url, {k: v for k, v in BASE.items() if k != "max_tokens"})
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/json"
    doc = answer.json()
    assert {k: v for k, v in doc.items() if k != "request_id"} == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
    }


def test_auth_and_version(url: str, fake: FakeState) -> None:
    missing = raw(url, BASE, {"anthropic-version": "2023-06-01"})
    assert missing.status_code == 401
    assert missing.json()["error"] == {
        "type": "authentication_error",
        "message": "x-api-key header is required",
    }
    assert (
        raw(url, BASE, {**HEADERS, "x-api-key": "nope"}).json()["error"]["message"]
        == "invalid x-api-key"
    )
    both = {**HEADERS, "authorization": "Bearer wrong"}
    assert raw(url, BASE, both).status_code == 200  # x-api-key wins when both are sent
    no_version = raw(url, BASE, {"x-api-key": "test-key"})
    assert no_version.status_code == 400 and "anthropic-version" in no_version.text
    newer = {**HEADERS, "anthropic-version": "2026-10-21"}
    assert (
        raw(url, {**BASE, "top_k": 3}, newer).json()["error"]["message"]
        == "top_k: Extra inputs are not permitted"
    )
    assert raw(url, {**BASE, "top_k": 3}).status_code == 200


def test_sse_event_flow(url: str, fake: FakeState) -> None:
    fake.crlf = True
    body = {
        **BASE,
        "stream": True,
        "tools": [WEATHER],
        "messages": [{"role": "user", "content": 'call get_weather {"city": "Rome"}'}],
    }
    answer = raw(url, body)
    assert answer.headers["content-type"].startswith("text/event-stream")
    text = answer.text
    assert "\r\n\r\n" in text and "\n\n" not in text.replace("\r\n", "")
    blocks = [b for b in text.split("\r\n\r\n") if b]
    names = [b.split("\r\n")[0].removeprefix("event: ") for b in blocks]
    datas = [json.loads(b.split("\r\n")[1].removeprefix("data: ")) for b in blocks]
    assert all(d["type"] == n for n, d in zip(names, datas, strict=True))
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    assert names.count("content_block_start") == names.count("content_block_stop") == 2
    start = datas[0]["message"]
    assert (
        start["content"] == []
        and start["stop_reason"] is None
        and start["usage"]["output_tokens"] == 1
    )
    tool_start = next(d for d in datas if d["type"] == "content_block_start" and d["index"] == 1)
    assert (
        tool_start["content_block"]["type"] == "tool_use"
        and tool_start["content_block"]["input"] == {}
    )
    partial = "".join(
        d["delta"]["partial_json"]
        for d in datas
        if d["type"] == "content_block_delta" and d["index"] == 1
    )
    assert json.loads(partial) == {"city": "Rome"}
    assert (
        datas[-2]["delta"]["stop_reason"] == "tool_use" and datas[-2]["usage"]["output_tokens"] > 1
    )


def test_scripted_failures_use_the_api_error_shape(url: str, fake: FakeState) -> None:
    fake.fail(529, times=2)
    for _ in range(2):
        answer = raw(url, BASE)
        assert answer.status_code == 529
        assert answer.json()["error"]["type"] == "overloaded_error"
    assert raw(url, BASE).status_code == 200
    fake.fail(500, body="upstream exploded")
    assert raw(url, BASE).text == "upstream exploded"
    fake.malformed()
    with pytest.raises(json.JSONDecodeError):
        raw(url, BASE).json()
