"""The fake OpenAI API's Responses endpoint (``POST /v1/responses``), proved faithful.

The official ``openai`` SDK talks to it directly — ``responses.create`` with a string and with
items, ``responses.stream``, a function-calling round trip, ``responses.parse`` into a pydantic
model, its typed errors — and every answer and stream event the fake sends is validated against
OpenAI's published description (``tests.openapi.check_response`` / ``check_event``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

import httpx
import jsonschema
import openai
import pytest
from pydantic import BaseModel

from tests.fakes.openai_fake import FakeState, create_app, default_models
from tests.fakes.openai_fake_responses import instance
from tests.fakes.serve import serve_app, wait_for_streams_closed
from tests.openapi import check_event, check_response, validate

Json = dict[str, Any]
MODEL = "gpt-4o-mini"
AUTH = {"authorization": "Bearer test-key"}
WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


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
    state.reported.clear()
    state.api_key = "test-key"
    state.chunk_delay = 0.0
    state.crlf = state.split_writes = state.burst = False
    state.models = default_models()
    wait_for_streams_closed(state)
    state.disconnects = state.streams_started = state.streams_finished = 0
    return state


@pytest.fixture
def url(server: tuple[str, FakeState]) -> str:
    return server[0] + "/v1"


def sdk(url: str, key: str = "test-key") -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=key, max_retries=0)


def raw_events(url: str, body: Json) -> list[Json]:
    """The stream's events as sent: ``event:`` names its ``data``'s type; each validated."""
    with httpx.stream("POST", f"{url}/responses", json=body, headers=AUTH) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    out = []
    for block in text.split("\n\n")[:-1]:
        name, data = block.split("\n")
        event = json.loads(data.removeprefix("data: "))
        assert name == f"event: {event['type']}"
        check_event(event)
        out.append(event)
    assert [e["sequence_number"] for e in out] == list(range(len(out)))
    return out


# ---------------------------------------------------------------- the official SDK vs the fake


def test_sdk_create_with_a_string_and_with_items(url: str, fake: FakeState) -> None:
    client = sdk(url)
    raw = client.responses.with_raw_response.create(
        model=MODEL, input="Hello there, fake", instructions="Be brief.", metadata={"a": "b"}
    )
    check_response(json.loads(raw.text))
    assert raw.headers["x-request-id"].startswith("req_")
    done = raw.parse()
    assert done.output_text == "Hello there, fake" and done.status == "completed"
    assert done.id.startswith("resp_") and done.model == "gpt-4o-mini-2024-07-18"
    assert done.instructions == "Be brief." and done.metadata == {"a": "b"}
    assert done.usage is not None and done.usage.input_tokens == 3 + (3 + 2) + (3 + 3)
    assert done.usage.output_tokens == 3 and done.usage.total_tokens == 17
    sent = {"model": MODEL, "input": "Hello there, fake", "instructions": "Be brief."}
    assert fake.last.path == "/v1/responses" and fake.last.body == sent | {"metadata": {"a": "b"}}
    assert fake.reported[-1] == json.loads(raw.text)["usage"]
    items: Any = [
        {"role": "developer", "content": "Answer in English."},
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "what is"},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"},
            ],
        },
        *[item.model_dump(exclude_none=True) for item in done.output],  # assistant output item
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a b"}]},
    ]
    again = client.responses.create(model=MODEL, input=items, temperature=0.5, top_p=0.9)
    assert again.output_text == "a b" and again.temperature == 0.5 and again.top_p == 0.9
    assert again.usage is not None and again.usage.input_tokens == 3 + 6 + (3 + 2 + 85) + 6 + 5
    assert fake.last.body["input"] == items  # forwarded as sent, the output item too
    check_response(
        json.loads(client.responses.with_raw_response.create(model=MODEL, input=items).text)
    )


def test_sdk_stream_events_and_final_response(url: str, fake: FakeState) -> None:
    client = sdk(url)
    with client.responses.stream(model=MODEL, input="one two three") as stream:
        seen = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in seen]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 3,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    for event in seen:
        check_event(event.model_dump(mode="json", exclude_unset=True, warnings=False))
    deltas = [e.delta for e in seen if e.type == "response.output_text.delta"]
    assert deltas == ["one", " two", " three"]
    assert final.output_text == "one two three" and final.usage is not None
    assert final.usage.output_tokens == 3 and fake.streams_finished == 1
    assert fake.last.body["stream"] is True
    events = raw_events(url, {"model": MODEL, "input": "a b", "stream": True})
    assert events[0]["response"]["status"] == "in_progress" and "usage" not in events[0]["response"]
    assert all("obfuscation" in e for e in events if e["type"].endswith(".delta"))
    assert events[-1]["response"]["usage"]["total_tokens"] == 8 + 2
    quiet = {"stream": True, "stream_options": {"include_obfuscation": False}}
    plain = raw_events(url, {"model": MODEL, "input": "a b", **quiet})
    assert not any("obfuscation" in e for e in plain)


def test_sdk_function_call_round_trip(url: str, fake: FakeState) -> None:
    client = sdk(url)
    ask = 'call get_weather {"city": "Paris"}\ncall get_weather {"city": "Rome"}'
    first = client.responses.create(model=MODEL, input=ask, tools=[WEATHER])
    check_response(fake_json(url, {"model": MODEL, "input": ask, "tools": [WEATHER]}))
    calls = [item for item in first.output if item.type == "function_call"]
    assert [json.loads(c.arguments) for c in calls] == [{"city": "Paris"}, {"city": "Rome"}]
    assert all(c.call_id.startswith("call_") and c.id and c.id.startswith("fc_") for c in calls)
    with client.responses.stream(model=MODEL, input=ask, tools=[WEATHER]) as stream:
        seen = list(stream)
        final = stream.get_final_response()
    for event in seen:
        check_event(event.model_dump(mode="json", exclude_unset=True, warnings=False))
    streamed = [i for i in final.output if i.type == "function_call"]
    assert [c.arguments for c in streamed] == [c.arguments for c in calls]
    assert "response.function_call_arguments.delta" in [e.type for e in seen]
    follow: Any = [
        {"role": "user", "content": ask},
        *[c.model_dump(exclude_none=True) for c in calls],
        *[{"type": "function_call_output", "call_id": c.call_id, "output": "21 C"} for c in calls],
    ]
    answer = client.responses.create(model=MODEL, input=follow, tools=[WEATHER])
    assert answer.output_text == "tool said: 21 C" and fake.last.body["input"] == follow
    with pytest.raises(openai.BadRequestError, match="No tool output found for function call"):
        client.responses.create(model=MODEL, input=follow[:-1], tools=[WEATHER])
    with pytest.raises(openai.BadRequestError, match="No tool call found for function call output"):
        client.responses.create(model=MODEL, input=[follow[0], follow[-1]], tools=[WEATHER])
    forced = client.responses.create(
        model=MODEL, input="no call", tools=[WEATHER], tool_choice="required"
    )
    assert [(i.type, getattr(i, "arguments", None)) for i in forced.output] == [
        ("function_call", "{}")
    ]
    refused = client.responses.create(model=MODEL, input=ask, tools=[WEATHER], tool_choice="none")
    assert refused.output_text == ask


class Place(BaseModel):
    name: str
    population: int
    kind: Literal["city", "town"]


class Forecast(BaseModel):
    place: Place
    celsius: float
    sunny: bool
    tags: list[str]
    note: str | None


def test_sdk_parse_into_a_pydantic_model(url: str, fake: FakeState) -> None:
    client = sdk(url)
    parsed = client.responses.parse(model=MODEL, input="Oslo", text_format=Forecast)
    forecast = parsed.output_parsed
    assert isinstance(forecast, Forecast)
    assert forecast == Forecast(
        place=Place(name="Oslo", population=0, kind="city"),
        celsius=0.0,
        sunny=True,
        tags=["Oslo"],
        note="Oslo",
    )
    sent = fake.last.body["text"]["format"]
    assert sent["type"] == "json_schema" and sent["strict"] is True
    jsonschema.validate(json.loads(parsed.output_text), sent["schema"])
    check_response(fake_json(url, {"model": MODEL, "input": "x", "text": fake.last.body["text"]}))
    plain = client.responses.create(
        model=MODEL, input="hi", text={"format": {"type": "json_object"}}
    )
    assert json.loads(plain.output_text) == {"echo": "hi"}


def test_sdk_typed_errors(url: str, fake: FakeState) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        sdk(url, key="sk-wrong-key-123456").responses.create(model=MODEL, input="x")
    assert caught.value.code == "invalid_api_key"
    client = sdk(url)
    cases: list[tuple[Json, type[openai.APIStatusError], str]] = [
        ({"extra_body": {"tags": ["a"]}}, openai.BadRequestError, "Unrecognized request argument"),
        ({"temperature": 7}, openai.BadRequestError, "Invalid value for 'temperature'"),
        ({"max_output_tokens": 3}, openai.BadRequestError, "Invalid value for 'max_output_tokens'"),
        ({"input": [{"type": "bogus"}]}, openai.BadRequestError, "Invalid value for 'input.0"),
        ({"previous_response_id": "resp_x"}, openai.BadRequestError, "not found"),
        ({"model": "gpt-9"}, openai.NotFoundError, "does not exist"),
    ]
    for extra, error, text in cases:
        kwargs = {"model": MODEL, "input": "x", **extra}
        with pytest.raises(error, match=text):
            client.responses.create(**kwargs)
    with pytest.raises(openai.BadRequestError, match="Missing required parameter: 'input'"):
        client.post("/responses", body={"model": MODEL}, cast_to=object)
    fake.fail(429)
    with pytest.raises(openai.RateLimitError) as limited:
        client.responses.create(model=MODEL, input="x")
    assert limited.value.code == "rate_limit_exceeded"
    assert limited.value.response.headers["retry-after"] == "2"
    fake.fail(500)
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model=MODEL, input="x")
    for status in (400, 503):
        fake.fail(status)
        failed = httpx.post(f"{url}/responses", json={"model": MODEL, "input": "x"}, headers=AUTH)
        assert failed.status_code == status
        validate("ErrorResponse", failed.json())


# ---------------------------------------------------------------- the fake's own bytes and knobs


def fake_json(url: str, body: Json) -> Json:
    response = httpx.post(f"{url}/responses", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    doc: Json = response.json()
    return doc


def test_raw_answers_validate_and_stop_where_told(url: str, fake: FakeState) -> None:
    long = " ".join(f"w{i}" for i in range(20))
    cut = fake_json(url, {"model": MODEL, "input": long, "max_output_tokens": 16})
    check_response(cut)
    assert cut["status"] == "incomplete" and cut["completed_at"] is None
    assert cut["incomplete_details"] == {"reason": "max_output_tokens"}
    assert cut["output"][0]["status"] == "incomplete"
    assert cut["output"][0]["content"][0]["text"] == " ".join(f"w{i}" for i in range(16))
    streamed = raw_events(
        url, {"model": MODEL, "input": long, "max_output_tokens": 16, "stream": True}
    )
    assert streamed[-1]["type"] == "response.incomplete"
    refusal = fake_json(url, {"model": MODEL, "input": "refuse this"})
    check_response(refusal)
    assert refusal["output"][0]["content"][0]["type"] == "refusal"
    kinds = [
        e["type"] for e in raw_events(url, {"model": MODEL, "input": "refuse", "stream": True})
    ]
    assert "response.refusal.delta" in kinds and "response.refusal.done" in kinds
    reasoning = {"model": MODEL, "input": "x", "reasoning": {"effort": "low"}, "store": False}
    doc = fake_json(url, reasoning)
    check_response(doc)
    assert doc["reasoning"]["effort"] == "low" and doc["store"] is False


def test_stream_knobs(url: str, fake: FakeState) -> None:
    body = {"model": MODEL, "input": "a b c d", "stream": True}
    fake.break_stream_after(3, mode="error")
    with httpx.stream("POST", f"{url}/responses", json=body, headers=AUTH) as response:
        text = response.read().decode()
    blocks = text.split("\n\n")[:-1]
    assert len(blocks) == 4 and blocks[-1].startswith("event: error\n")
    error = json.loads(blocks[-1].split("\n")[1][6:])
    check_event(error)
    assert error["sequence_number"] == 3 and error["code"] == "server_error"
    fake.break_stream_after(5, mode="end")
    with httpx.stream("POST", f"{url}/responses", json=body, headers=AUTH) as response:
        assert len(response.read().decode().split("\n\n")[:-1]) == 5
    fake.break_stream_after(2, mode="cut")
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("POST", f"{url}/responses", json=body, headers=AUTH) as response,
    ):
        response.read()
    fake.malformed("json", after_events=2)
    with pytest.raises(json.JSONDecodeError):
        list(sdk(url).responses.create(model=MODEL, input="a b", stream=True))
    fake.malformed("html")
    page = httpx.post(f"{url}/responses", json=body, headers=AUTH)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    fake.crlf = fake.split_writes = True
    with sdk(url).responses.stream(model=MODEL, input="x y") as stream:
        assert stream.get_final_response().output_text == "x y"
    fake.crlf = fake.split_writes = False
    fake.burst = True
    assert len(raw_events(url, body)) == 4 + 4 + 4
    assert fake.reported[-1]["output_tokens"] == 4


def test_check_helpers_refuse_what_is_wrong(url: str, fake: FakeState) -> None:
    doc = fake_json(url, {"model": MODEL, "input": "x"})
    for broken in (
        {k: v for k, v in doc.items() if k != "output"},
        doc | {"status": "done"},
        doc | {"usage": {"input_tokens": 1}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            check_response(broken)
    event = raw_events(url, {"model": MODEL, "input": "x", "stream": True})[4]
    assert event["type"] == "response.output_text.delta"
    for wrong in ({**event, "type": "response.nonsense"}, {**event, "delta": 5}, "text"):
        with pytest.raises(jsonschema.ValidationError):
            check_event(wrong)
    without_index = {k: v for k, v in event.items() if k != "content_index"}
    with pytest.raises(jsonschema.ValidationError, match="content_index"):
        check_event(without_index)


def test_instance_is_valid_against_its_schema() -> None:
    schema: Json = {
        "type": "object",
        "properties": {
            "size": {"type": "integer", "minimum": 3, "maximum": 9},
            "ratio": {"type": "number", "exclusiveMinimum": 0},
            "code": {"type": "string", "minLength": 4, "maxLength": 6},
            "when": {"type": "string", "format": "date-time"},
            "mode": {"enum": ["fast", "slow"]},
            "fixed": {"const": 7},
            "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "minItems": 2},
            "maybe": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/Item"}]},
            "both": {"allOf": [{"$ref": "#/$defs/Item"}, {"required": ["extra"]}]},
            "optional": {"type": "string"},
        },
        "required": ["size", "ratio", "code", "when", "mode", "fixed", "items", "maybe", "both"],
        "$defs": {
            "Item": {
                "type": "object",
                "properties": {"on": {"type": ["null", "boolean"]}, "extra": {"type": "string"}},
                "required": ["on"],
            }
        },
    }
    value = instance(schema, "hi")
    jsonschema.validate(value, schema, format_checker=jsonschema.FormatChecker())
    assert value["size"] == 3 and value["code"] == "hixx" and len(value["items"]) == 2
    assert "optional" not in value and value["maybe"] == {"on": True}
