"""The official ``openai`` SDK's ``client.responses`` against the running gateway's Responses API
ingress (``POST /v1/responses``, ``GET``/``DELETE /v1/responses/{id}``), as users call it.

Each behaviour is checked through three upstreams: the mock provider and a fake OpenAI-compatible
server that has only chat completions (both translated through the chat shape), and a fake OpenAI
provider (type ``openai``: the Responses API natively, forwarded). Every answer is validated
against OpenAI's published ``Response`` schema and every stream event against its event schema
(``tests/openapi.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import orjson
import pytest
from pydantic import BaseModel

from tests.fakes import openai_fake
from tests.fakes.serve import serve_app
from tests.gateway import Gateway, running_gateway
from tests.openapi import check_event, check_response

MODEL = "gpt-5"  # the SDK's users send OpenAI names: `gpt-*` is `auto` in every strategy
CONFIG = """
version: 2
providers:
  mock: {type: mock, models: {small: {}}}
  chat:
    type: openai-compatible
    base_url: {chat}/v1
    api_key: ${env:LR_TEST_RESPONSES_KEY}
    discover: false
    models: {gpt-4o-mini: {}}
  native:
    type: openai
    base_url: {native}/v1
    api_key: ${env:LR_TEST_RESPONSES_KEY}
    discover: false
    models: {gpt-4o-mini: {}}
  down:
    type: openai
    base_url: {down}/v1
    api_key: ${env:LR_TEST_RESPONSES_KEY}
    discover: false
    models: {gpt-4o-mini: {}}
strategies:
  to-mock: {models: [mock/small], aliases: {"gpt-*": auto}}
  to-chat: {models: [chat/gpt-4o-mini], aliases: {"gpt-*": auto}}
  to-native: {models: [native/gpt-4o-mini], aliases: {"gpt-*": auto}}
  native-then-chat: {models: [down/gpt-4o-mini, chat/gpt-4o-mini], aliases: {"gpt-*": auto}}
  all-down: {models: [down/gpt-4o-mini], aliases: {"gpt-*": auto}}
clients:
  mock: {key_prefix: "{key_prefix:mock}", key_hash: "{key_hash:mock}", strategy: to-mock}
  chat: {key_prefix: "{key_prefix:chat}", key_hash: "{key_hash:chat}", strategy: to-chat}
  native: {key_prefix: "{key_prefix:native}", key_hash: "{key_hash:native}", strategy: to-native}
  fallback:
    key_prefix: "{key_prefix:fallback}"
    key_hash: "{key_hash:fallback}"
    strategy: native-then-chat
  doomed: {key_prefix: "{key_prefix:doomed}", key_hash: "{key_hash:doomed}", strategy: all-down}
  shared:
    key_prefix: "{key_prefix:shared}"
    key_hash: "{key_hash:shared}"
    strategy: to-mock
    limits: [{requests: 2, per: 1m}]
  once:
    key_prefix: "{key_prefix:once}"
    key_hash: "{key_hash:once}"
    strategy: to-mock
    limits: [{requests: 1, per: 1m}]
"""
CLIENTS = ["mock", "chat", "native"]
SERVED_BY = {
    "mock": ("mock", "small"),
    "chat": ("chat", "gpt-4o-mini"),
    "native": ("native", "gpt-4o-mini"),
}
WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
PARIS = 'call get_weather {"city": "Paris"}'  # every upstream answers this with the tool call


@dataclass
class World:
    gw: Gateway
    chat: openai_fake.FakeState
    native: openai_fake.FakeState
    bad: openai_fake.FakeState  # the fake behind the BAD clients, scripted to misbehave


# a native provider, strategy and client of each on the fake `bad`: each test that makes an
# upstream misbehave has its own, so the circuit it opens closes no other test's way
BAD = ["json", "shape", "html", "stream-json", "stream-shape"]
BAD_PROVIDERS = "".join(
    f"""
  bad-{b}:
    type: openai
    base_url: {{bad}}/v1
    api_key: ${{env:LR_TEST_RESPONSES_KEY}}
    discover: false
    models: {{gpt-4o-mini: {{}}}}"""
    for b in BAD
)
BAD_STRATEGIES = "".join(
    f'\n  bad-{b}: {{models: [bad-{b}/gpt-4o-mini], aliases: {{"gpt-*": auto}}}}' for b in BAD
)
BAD_CLIENTS = "".join(
    f'  bad-{b}: {{key_prefix: "{{key_prefix:bad-{b}}}", key_hash: "{{key_hash:bad-{b}}}", '
    f"strategy: bad-{b}}}\n"
    for b in BAD
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    chat, native, down = openai_fake.FakeState(), openai_fake.FakeState(), openai_fake.FakeState()
    bad = openai_fake.FakeState()
    down.fail(500, times=10_000)
    with ExitStack() as stack:
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        mp.setenv("LR_TEST_RESPONSES_KEY", openai_fake.API_KEY)
        text = CONFIG
        text = text.replace("\nstrategies:", BAD_PROVIDERS + "\nstrategies:", 1)
        text = text.replace("\nclients:", BAD_STRATEGIES + "\nclients:", 1) + BAD_CLIENTS
        for name, state in (
            ("{chat}", chat),
            ("{native}", native),
            ("{down}", down),
            ("{bad}", bad),
        ):
            text = text.replace(name, stack.enter_context(serve_app(openai_fake.create_app(state))))
        gw = stack.enter_context(running_gateway(text, tmp_path_factory.mktemp("gw")))
        yield World(gw, chat, native, bad)


def sdk(gw: Gateway, client: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.v1, api_key=gw.keys[client], max_retries=0)


def raw_events(gw: Gateway, client: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The SSE events of a streamed request, each checked against its schema and framing."""
    with httpx.stream(
        "POST",
        gw.v1 + "/responses",
        json={**body, "stream": True},
        headers={"authorization": f"Bearer {gw.keys[client]}"},
        timeout=30,
    ) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        text = r.read().decode()
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        lines = block.split("\n")
        assert lines[0].startswith("event: ") and lines[1].startswith("data: "), block
        data = orjson.loads(lines[1][6:])
        assert data["type"] == lines[0][7:]
        check_event(data)
        events.append(data)
    assert [e["sequence_number"] for e in events] == sorted(e["sequence_number"] for e in events)
    return events


def assert_served(headers: httpx.Headers, client: str) -> None:
    provider, model = SERVED_BY[client]
    assert headers["x-localrouter-provider"] == provider
    assert headers["x-localrouter-model"] == model
    assert headers["x-request-id"] and headers["x-localrouter-generation-id"]


def upstream_body(world: World, client: str) -> dict[str, Any] | None:
    """What the client's upstream last received (the mock has no wire)."""
    if client == "mock":
        return None
    state = world.chat if client == "chat" else world.native
    last = state.last
    assert last.path == ("/v1/chat/completions" if client == "chat" else "/v1/responses")
    return dict(last.body)


# ---------------------------------------------------------------- answers


@pytest.mark.parametrize("client", CLIENTS)
def test_create_with_a_string(world: World, client: str) -> None:
    raw = sdk(world.gw, client).responses.with_raw_response.create(
        model=MODEL, input="hello gateway", instructions="be brief"
    )
    check_response(orjson.loads(raw.content))
    r = raw.parse()
    assert r.object == "response" and r.status == "completed" and r.id.startswith("resp_")
    assert "hello gateway" in r.output_text
    assert r.usage is not None and r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert r.instructions == "be brief" and r.store is True
    assert_served(raw.headers, client)
    sent = upstream_body(world, client)
    if client == "chat":
        assert sent is not None and sent["messages"][0] == {"role": "system", "content": "be brief"}
    elif client == "native":  # forwarded as sent; LocalRouter keeps the stored copy itself
        assert sent is not None and sent["input"] == "hello gateway" and sent["store"] is False


@pytest.mark.parametrize("client", CLIENTS)
def test_create_with_items(world: World, client: str) -> None:
    r = sdk(world.gw, client).responses.create(
        model=MODEL,
        input=[
            {"role": "developer", "content": "answer plainly"},
            {"role": "user", "content": [{"type": "input_text", "text": "first question"}]},
            {"type": "message", "role": "assistant", "content": "first answer"},
            {"role": "user", "content": [{"type": "input_text", "text": "items question"}]},
        ],
        max_output_tokens=200,
        temperature=0.5,
        top_p=0.9,
        metadata={"ticket": "42"},
    )
    assert "items question" in r.output_text
    assert r.temperature == 0.5 and r.top_p == 0.9 and r.metadata == {"ticket": "42"}
    sent = upstream_body(world, client)
    if client == "chat":
        assert sent is not None
        roles = [m["role"] for m in sent["messages"]]
        assert roles == ["system", "user", "assistant", "user"]
        assert sent["max_tokens"] == 200


@pytest.mark.parametrize("client", CLIENTS)
def test_stream_events(world: World, client: str) -> None:
    events = raw_events(world.gw, client, {"model": MODEL, "input": "stream this please"})
    kinds = [e["type"] for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert "response.output_text.delta" in kinds
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = events[-1]["response"]
    check_response(final)
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert "stream this please" in deltas
    assert final["output"][0]["content"][0]["text"] == deltas
    assert final["usage"]["output_tokens"] > 0
    assert events[0]["response"]["id"] == final["id"]


@pytest.mark.parametrize("client", CLIENTS)
def test_sdk_stream(world: World, client: str) -> None:
    with sdk(world.gw, client).responses.stream(model=MODEL, input="sdk stream") as stream:
        pieces = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(pieces) == final.output_text and "sdk stream" in final.output_text
    assert final.status == "completed"


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_function_call_round_trip(world: World, client: str, stream: bool) -> None:
    api = sdk(world.gw, client)
    ask: Any = [{"role": "user", "content": PARIS}]
    if stream:
        with api.responses.stream(model=MODEL, input=ask, tools=[WEATHER]) as s:
            events = [e.type for e in s]
            first = s.get_final_response()
        assert "response.function_call_arguments.delta" in events
        assert "response.function_call_arguments.done" in events
    else:
        first = api.responses.create(model=MODEL, input=ask, tools=[WEATHER])
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert orjson.loads(calls[0].arguments) == {"city": "Paris"}
    follow: Any = [
        *ask,
        {
            "type": "function_call",
            "call_id": calls[0].call_id,
            "name": "get_weather",
            "arguments": calls[0].arguments,
        },
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny, 21C"},
    ]
    second = api.responses.create(model=MODEL, input=follow, tools=[WEATHER])
    assert "sunny, 21C" in second.output_text
    sent = upstream_body(world, client)
    if client == "chat":
        assert sent is not None
        assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "tool"]
        assert sent["messages"][2]["tool_call_id"] == calls[0].call_id


# ---------------------------------------------------------------- stored responses


@pytest.mark.parametrize("client", CLIENTS)
def test_previous_response_id_continues_the_conversation(world: World, client: str) -> None:
    api = sdk(world.gw, client)
    first = api.responses.create(model=MODEL, input="remember the word teapot")
    second = api.responses.create(
        model=MODEL, input="what was the word?", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id
    assert "what was the word?" in second.output_text
    sent = upstream_body(world, client)
    if client == "chat":
        assert sent is not None
        said = [m["content"] for m in sent["messages"]]
        assert said[0] == "remember the word teapot" and said[-1] == "what was the word?"
        assert first.output_text in said
    elif client == "native":  # the conversation is sent as items: the upstream stores nothing
        assert sent is not None and "previous_response_id" not in sent
        assert sent["input"][0] == {"role": "user", "content": "remember the word teapot"}
        assert sent["input"][-1] == {"role": "user", "content": "what was the word?"}
    third = api.responses.create(model=MODEL, input="and then?", previous_response_id=second.id)
    items = api.responses.input_items.list(third.id, order="asc")
    texts = [getattr(i, "content", None) for i in items.data]
    assert len(texts) == 5  # three user turns and the two answers between them


def test_retrieve_and_delete_are_the_owners_only(world: World) -> None:
    api, other = sdk(world.gw, "mock"), sdk(world.gw, "chat")
    made = api.responses.create(model=MODEL, input="keep me")
    got = api.responses.with_raw_response.retrieve(made.id)
    check_response(orjson.loads(got.content))
    assert got.parse().output_text == made.output_text
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(made.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.delete(made.id)
    with pytest.raises(openai.BadRequestError) as info:  # nor can it continue from it
        other.responses.create(model=MODEL, input="x", previous_response_id=made.id)
    assert info.value.body["param"] == "previous_response_id"  # type: ignore[index]
    api.responses.delete(made.id)
    with pytest.raises(openai.NotFoundError):
        api.responses.retrieve(made.id)
    with pytest.raises(openai.NotFoundError):
        api.responses.retrieve("resp_../../etc/passwd")


@pytest.mark.parametrize("client", CLIENTS)
def test_a_stream_is_stored_too(world: World, client: str) -> None:
    api = sdk(world.gw, client)
    with api.responses.stream(model=MODEL, input="stored stream") as s:
        final = s.get_final_response()
    assert api.responses.retrieve(final.id).output_text == final.output_text


def test_store_false_is_not_stored(world: World) -> None:
    api = sdk(world.gw, "mock")
    made = api.responses.create(model=MODEL, input="forget me", store=False)
    assert made.store is False
    with pytest.raises(openai.NotFoundError):
        api.responses.retrieve(made.id)


# ---------------------------------------------------------------- structured output


class Forecast(BaseModel):
    city: str
    celsius: int
    sunny: bool


@pytest.mark.parametrize("client", ["mock", "native"])  # the upstreams that honour JSON schema
def test_parse_with_a_pydantic_model(world: World, client: str) -> None:
    parsed = sdk(world.gw, client).responses.parse(
        model=MODEL, input="forecast for Paris", text_format=Forecast
    )
    assert isinstance(parsed.output_parsed, Forecast)


def test_text_format_reaches_a_chat_upstream_as_response_format(world: World) -> None:
    sdk(world.gw, "chat").responses.create(
        model=MODEL,
        input="forecast",
        text={"format": {"type": "json_schema", "name": "Forecast", "schema": SCHEMA}},
    )
    sent = upstream_body(world, "chat")
    assert sent is not None
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Forecast", "schema": SCHEMA},
    }


SCHEMA: Any = Forecast.model_json_schema()


# ---------------------------------------------------------------- errors and the ledger


def test_wrong_key_is_authentication_error(world: World) -> None:
    api = openai.OpenAI(base_url=world.gw.v1, api_key="lr-not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        api.responses.create(model=MODEL, input="x")


def test_bad_input_is_bad_request_naming_the_field(world: World) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        sdk(world.gw, "mock").responses.create(
            model=MODEL, input=[{"role": "user", "content": [{"type": "input_text", "text": 3}]}]
        )
    assert info.value.body["param"] == "input[0].content[0].text"  # type: ignore[index]


@pytest.mark.parametrize("client", ["mock", "chat"])
def test_a_built_in_tool_is_refused_by_a_chat_provider(world: World, client: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        sdk(world.gw, client).responses.create(
            model=MODEL, input="search", tools=[{"type": "web_search"}]
        )
    assert "web_search" in info.value.message
    assert "Responses API natively" in info.value.message


def test_client_limit_is_rate_limit_error(world: World) -> None:
    api = sdk(world.gw, "once")
    api.responses.create(model=MODEL, input="one")
    with pytest.raises(openai.RateLimitError) as info:
        api.responses.create(model=MODEL, input="two")
    assert int(info.value.response.headers["retry-after"]) >= 1


def test_every_upstream_failing_is_a_server_error(world: World) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        sdk(world.gw, "doomed").responses.create(model=MODEL, input="x")
    assert info.value.status_code == 502


def test_a_failing_native_provider_falls_back_to_a_chat_one(world: World) -> None:
    raw = sdk(world.gw, "fallback").responses.with_raw_response.create(
        model=MODEL, input="fall back", tools=[WEATHER]
    )
    assert raw.headers["x-localrouter-provider"] == "chat"
    assert "fall back" in raw.parse().output_text


def test_the_generation_names_what_the_translation_dropped(world: World) -> None:
    raw = sdk(world.gw, "mock").responses.with_raw_response.create(
        model=MODEL,
        input="x",
        include=["reasoning.encrypted_content"],
        reasoning={"effort": "low"},
        prompt_cache_key="k",
    )
    gen_id = raw.headers["x-localrouter-generation-id"]
    got = httpx.get(
        world.gw.v1 + "/generation",
        params={"id": gen_id},
        headers={"authorization": f"Bearer {world.gw.keys['mock']}"},
    )
    record = got.json()
    assert set(record["translation"]["dropped"]) == {
        "include",
        "prompt_cache_key",
        "reasoning.effort",
    }


@pytest.mark.parametrize("client", ["chat", "native"])
def test_a_stream_cut_after_its_first_event_ends_with_an_error(world: World, client: str) -> None:
    state = world.chat if client == "chat" else world.native
    state.break_stream_after(3, "cut")  # the next request's stream: taken by this one
    events = raw_events(world.gw, client, {"model": MODEL, "input": "one two three four"})
    kinds = [e["type"] for e in events]
    assert kinds[0] == "response.created" and "response.completed" not in kinds
    assert kinds[-1] in ("error", "response.failed")
    assert "error" in kinds


def test_a_native_error_event_mid_stream_fails_the_response(world: World) -> None:
    world.native.break_stream_after(3, "error")
    events = raw_events(world.gw, "native", {"model": MODEL, "input": "one two three four"})
    kinds = [e["type"] for e in events]
    assert kinds[-2:] == ["error", "response.failed"]
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["message"]
    assert failed["id"] == events[0]["response"]["id"]  # LocalRouter's id, as every event's


def test_chat_and_responses_share_one_clients_requests_limit(world: World) -> None:
    api = sdk(world.gw, "shared")
    api.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "one"}])
    api.responses.create(model=MODEL, input="two")
    with pytest.raises(openai.RateLimitError):
        api.responses.create(model=MODEL, input="three")
    with pytest.raises(openai.RateLimitError):
        api.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "four"}])


@pytest.mark.parametrize("what", ["json", "shape", "html"])
def test_a_native_answer_that_is_not_a_response_is_a_clear_502(world: World, what: str) -> None:
    for _ in range(3):  # a cut answer may be retried
        world.bad.malformed(what)
    try:
        with pytest.raises(openai.InternalServerError) as info:
            sdk(world.gw, f"bad-{what}").responses.create(model=MODEL, input="x")
    finally:
        world.bad.script.clear()
    assert info.value.status_code == 502
    assert f"bad-{what}" in info.value.message  # the provider that failed is named


@pytest.mark.parametrize("what", ["json", "shape"])
def test_a_native_stream_gone_bad_ends_with_error_events(world: World, what: str) -> None:
    world.bad.malformed(what, after_events=3)
    events = raw_events(world.gw, f"bad-stream-{what}", {"model": MODEL, "input": "one two"})
    kinds = [e["type"] for e in events]
    assert kinds[0] == "response.created" and kinds[-2:] == ["error", "response.failed"]
