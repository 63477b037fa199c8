"""The fake Anthropic API is faithful for what native forwarding carries, proven with the official
``anthropic`` SDK pointed at it directly: signed thinking (answers and streams), signatures
checked on the way back in, prompt caching, ``count_tokens``, beta headers and an error event as
a stream's first event."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import pytest

from tests.fakes.anthropic_fake import FakeState, create_app
from tests.fakes.serve import serve_app

Json = dict[str, Any]
MODEL = "claude-sonnet-4-6"
THINK: Any = {"type": "enabled", "budget_tokens": 1024}
WEATHER: Any = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
REDACT = (
    "ANTHROPIC_MAGIC_STRING_TRIGGER_REDACTED_THINKING_46C9A13E193C177646C7"
    "398A98432ECCCE4C1253D5E2D82641AC0E52CC2876CB"
)


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
    state.prompt_cache.clear()
    return state


@pytest.fixture
async def sdk(server: tuple[str, FakeState]) -> AsyncIterator[anthropic.AsyncAnthropic]:
    client = anthropic.AsyncAnthropic(api_key="test-key", base_url=server[0], max_retries=0)
    yield client
    await client.close()


def user(text: str) -> Any:
    return [{"role": "user", "content": text}]


async def test_thinking_is_signed_and_checked_on_the_way_back(
    sdk: anthropic.AsyncAnthropic, fake: FakeState
) -> None:
    first: Any = user('call get_weather {"city": "Oslo"}')
    msg = await sdk.messages.create(
        model=MODEL, max_tokens=2048, thinking=THINK, tools=[WEATHER], messages=first
    )
    assert [b.type for b in msg.content] == ["thinking", "text", "tool_use"]
    thinking, use = msg.content[0], msg.content[2]
    assert thinking.type == "thinking" and thinking.signature
    assert thinking.thinking == 'Thinking about: call get_weather {"city": "Oslo"}'
    assert use.type == "tool_use"
    answered = {"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}
    result: Any = {"role": "user", "content": [answered]}
    turns: Any = [*first, {"role": "assistant", "content": msg.content}, result]
    follow = await sdk.messages.create(
        model=MODEL, max_tokens=2048, thinking=THINK, tools=[WEATHER], messages=turns
    )
    assert follow.content[-1].type == "text" and follow.content[-1].text == "tool said: sunny"
    sent = fake.last.body["messages"][1]["content"][0]
    assert sent == {
        "type": "thinking",
        "thinking": thinking.thinking,
        "signature": thinking.signature,
    }

    async def refused(blocks: Any, match: str) -> None:
        bad: Any = [*first, {"role": "assistant", "content": blocks}, result]
        with pytest.raises(anthropic.BadRequestError, match=match) as err:
            await sdk.messages.create(
                model=MODEL, max_tokens=2048, thinking=THINK, tools=[WEATHER], messages=bad
            )
        assert err.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]

    rest = [b.model_dump() for b in msg.content[1:]]
    edited = {**sent, "thinking": sent["thinking"].replace("Oslo", "Bergen")}
    await refused([edited, *rest], r"messages\.1\.content\.0: Invalid `signature` in `thinking`")
    forged = {**sent, "signature": sent["signature"][:-4] + "AAA="}
    await refused([forged, *rest], "Invalid `signature`")
    unsigned = {k: v for k, v in sent.items() if k != "signature"}
    await refused([unsigned, *rest], r"messages\.1\.content\.0\.thinking\.signature: Field")
    # with thinking on, the turn the tool results answer must start with its thinking
    await refused(rest, r"messages\.1\.content\.0\.type: Expected `thinking` or `redacted_thi")
    # a signature another server issued (another fake, its own key) is refused too
    other = FakeState()
    with serve_app(create_app(other)) as url:
        async with anthropic.AsyncAnthropic(api_key="test-key", base_url=url) as elsewhere:
            theirs = await elsewhere.messages.create(
                model=MODEL, max_tokens=2048, thinking=THINK, messages=first
            )
    foreign = theirs.content[0].model_dump()
    assert foreign["thinking"] == sent["thinking"] and foreign["signature"] != sent["signature"]
    await refused([foreign, *rest], "Invalid `signature`")


async def test_streamed_thinking_has_deltas_and_a_signature(
    sdk: anthropic.AsyncAnthropic, fake: FakeState
) -> None:
    kinds: list[str] = []
    async with sdk.messages.stream(
        model=MODEL, max_tokens=2048, thinking=THINK, messages=user("why so")
    ) as stream:
        async for event in stream:
            if event.type == "content_block_delta":
                kinds.append(event.delta.type)
        final = await stream.get_final_message()
    assert kinds == ["thinking_delta"] * 4 + ["signature_delta"] + ["text_delta"] * 2
    thinking = final.content[0]
    assert thinking.type == "thinking" and thinking.thinking == "Thinking about: why so"
    turns: Any = [*user("why so"), {"role": "assistant", "content": final.content}, *user("ok")]
    again = await sdk.messages.create(model=MODEL, max_tokens=2048, thinking=THINK, messages=turns)
    assert again.stop_reason == "end_turn"  # the streamed signature is the fake's own


async def test_redacted_thinking_round_trip(sdk: anthropic.AsyncAnthropic, fake: FakeState) -> None:
    async with sdk.messages.stream(
        model=MODEL, max_tokens=2048, thinking=THINK, messages=user(REDACT)
    ) as stream:
        final = await stream.get_final_message()
    assert [b.type for b in final.content] == ["redacted_thinking", "thinking", "text"]
    turns: Any = [*user(REDACT), {"role": "assistant", "content": final.content}, *user("ok")]
    await sdk.messages.create(model=MODEL, max_tokens=2048, thinking=THINK, messages=turns)
    blocks = [b.model_dump() for b in final.content]
    blocks[0]["data"] = "x" + blocks[0]["data"][1:]
    turns[1] = {"role": "assistant", "content": blocks}
    with pytest.raises(anthropic.BadRequestError, match="Invalid `data` in `redacted_thinking`"):
        await sdk.messages.create(model=MODEL, max_tokens=2048, thinking=THINK, messages=turns)


@pytest.mark.parametrize(
    ("thinking", "max_tokens", "message"),
    [
        ({"type": "enabled", "budget_tokens": 512}, 2048, "greater than or equal to 1024"),
        ({"type": "enabled", "budget_tokens": 2048}, 2048,
         "`max_tokens` must be greater than `thinking.budget_tokens`"),
        ({"type": "enabled"}, 2048, "thinking.enabled.budget_tokens: Field required"),
        ({"type": "sometimes"}, 2048, "thinking: Input tag found using 'type' does not match"),
    ],
)  # fmt: skip
async def test_thinking_settings_are_checked(
    sdk: anthropic.AsyncAnthropic, fake: FakeState, thinking: Any, max_tokens: int, message: str
) -> None:
    with pytest.raises(anthropic.BadRequestError, match=message):
        await sdk.messages.create(
            model=MODEL, max_tokens=max_tokens, thinking=thinking, messages=user("x")
        )


async def test_prompt_caching(sdk: anthropic.AsyncAnthropic, fake: FakeState) -> None:
    marker = {"type": "ephemeral"}
    system: Any = [
        {"type": "text", "text": "a long shared preamble " * 50, "cache_control": marker}
    ]
    first = await sdk.messages.create(
        model=MODEL, max_tokens=64, system=system, messages=user("one question")
    )
    assert first.usage.cache_creation_input_tokens == 200
    assert first.usage.cache_read_input_tokens == 0 and first.usage.input_tokens == 2
    assert first.usage.cache_creation is not None
    assert first.usage.cache_creation.ephemeral_5m_input_tokens == 200
    second = await sdk.messages.create(
        model=MODEL, max_tokens=64, system=system, messages=user("another question here")
    )
    assert second.usage.cache_read_input_tokens == 200
    assert second.usage.cache_creation_input_tokens == 0 and second.usage.input_tokens == 3
    # a top-level marker caches the whole prompt, here extending the cached system prefix
    top = await sdk.messages.create(
        model=MODEL, max_tokens=64, system=system, messages=user("a b c d"),
        cache_control={"type": "ephemeral", "ttl": "1h"},
    )  # fmt: skip
    assert top.usage.cache_read_input_tokens == 200 and top.usage.input_tokens == 0
    assert top.usage.cache_creation is not None
    assert top.usage.cache_creation.ephemeral_1h_input_tokens == 4
    # the same system prompt for another model is not cached for it
    other = await sdk.messages.create(
        model="claude-haiku-4-5-20251001", max_tokens=64, system=system, messages=user("q")
    )
    assert other.usage.cache_read_input_tokens == 0


async def test_cache_markers_are_checked(sdk: anthropic.AsyncAnthropic, fake: FakeState) -> None:
    marked: Any = [
        {"type": "text", "text": f"part {i}", "cache_control": {"type": "ephemeral"}}
        for i in range(5)
    ]
    with pytest.raises(anthropic.BadRequestError, match="A maximum of 4 blocks with cache_control"):
        await sdk.messages.create(model=MODEL, max_tokens=8, system=marked, messages=user("x"))
    wrong: Any = [
        {"type": "text", "text": "t", "cache_control": {"type": "ephemeral", "ttl": "2h"}}
    ]
    with pytest.raises(
        anthropic.BadRequestError, match=r"system\.0\.cache_control\.ephemeral\.ttl"
    ):
        await sdk.messages.create(model=MODEL, max_tokens=8, system=wrong, messages=user("x"))


async def test_count_tokens(sdk: anthropic.AsyncAnthropic, fake: FakeState) -> None:
    counted = await sdk.messages.count_tokens(
        model=MODEL, system="be brief", tools=[WEATHER], messages=user("one two three")
    )
    created = await sdk.messages.create(
        model=MODEL,
        max_tokens=8,
        system="be brief",
        tools=[WEATHER],
        messages=user("one two three"),
    )
    assert counted.input_tokens == created.usage.input_tokens > 5
    assert fake.requests[0].path == "/v1/messages/count_tokens"
    with pytest.raises(anthropic.BadRequestError, match="max_tokens: Extra inputs"):
        await sdk.messages.count_tokens(
            model=MODEL, messages=user("x"), extra_body={"max_tokens": 5}
        )
    with pytest.raises(anthropic.NotFoundError):
        await sdk.messages.count_tokens(model="claude-nope", messages=user("x"))


async def test_beta_headers_are_recorded(sdk: anthropic.AsyncAnthropic, fake: FakeState) -> None:
    await sdk.beta.messages.create(
        model=MODEL,
        max_tokens=8,
        messages=user("x"),
        betas=["interleaved-thinking-2025-05-14", "context-1m-2025-08-07"],
    )
    assert fake.last.headers["anthropic-beta"] == (
        "interleaved-thinking-2025-05-14,context-1m-2025-08-07"
    )


async def test_an_error_event_as_the_first_event(
    sdk: anthropic.AsyncAnthropic, fake: FakeState
) -> None:
    fake.break_stream_after(0, mode="error")
    with pytest.raises(anthropic.APIStatusError) as err:
        async with sdk.messages.stream(model=MODEL, max_tokens=8, messages=user("a")) as stream:
            async for _event in stream:
                pass
    assert err.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    assert fake.streamed == [
        b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", '
        b'"message": "Overloaded"}}\n\n'
    ]
