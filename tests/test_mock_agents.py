"""The ``mock`` provider as a new user meets it: the demo config served for real, called by the
official openai SDK the way agents and structured-output clients call it. A tool result is
answered with text (an agent's loop ends), ``response_format`` is honoured (``parse()`` works),
and a forced ``tool_choice`` gets arguments that fit the tool's schema (LangChain's
``with_structured_output(method="function_calling")``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

import jsonschema
import openai
import pytest
from openai.lib._pydantic import to_strict_json_schema
from pydantic import BaseModel, Field

from localrouter.providers.mock_schema import instance
from tests.gateway import Gateway, running_gateway

ROOT = Path(__file__).resolve().parent.parent
DEMO_KEY = "lr-sZ2uI4TNR_tpdMDX-EiEieiVgSx_8Jt6j3-cYZWYFUs"  # configs/demo.yaml's own


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    text = (ROOT / "configs" / "demo.yaml").read_text(encoding="utf-8")
    with running_gateway(text, tmp_path_factory.mktemp("demo")) as gateway:
        yield gateway


def sdk(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.v1, api_key=DEMO_KEY, max_retries=0)


class Colour(StrEnum):
    red = "red"
    green = "green"


class Address(BaseModel):
    street: str
    city: str
    postcode: str = Field(pattern=r"^[0-9]{5}$")


class Person(BaseModel):
    name: str
    age: int = Field(ge=18, le=120)
    score: float
    colour: Colour
    kind: Literal["human", "robot"]
    tags: list[str]
    home: Address
    previous: list[Address]
    nickname: str | None
    born: datetime
    id: UUID


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def test_parse_with_a_pydantic_model_works_on_the_demo(gw: Gateway) -> None:
    completion = sdk(gw).chat.completions.parse(
        model="auto",
        messages=[{"role": "user", "content": "Invent a person"}],
        response_format=Person,
    )
    person = completion.choices[0].message.parsed
    assert isinstance(person, Person)
    assert 18 <= person.age <= 120 and person.home.postcode.isdigit()
    schema = to_strict_json_schema(Person)
    content = completion.choices[0].message.content
    assert content is not None
    jsonschema.validate(json.loads(content), schema)


def test_a_streamed_parse_gives_the_same_object(gw: Gateway) -> None:
    with sdk(gw).chat.completions.stream(
        model="auto",
        messages=[{"role": "user", "content": "Invent a person"}],
        response_format=Person,
    ) as stream:
        final = stream.get_final_completion()
    assert isinstance(final.choices[0].message.parsed, Person)


def test_json_object_mode_answers_a_json_object(gw: Gateway) -> None:
    completion = sdk(gw).chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": "Answer in JSON"}],
        response_format={"type": "json_object"},
    )
    content = completion.choices[0].message.content
    assert content is not None
    answer = json.loads(content)
    assert isinstance(answer, dict) and answer["answer"] == "You said: Answer in JSON"


@pytest.mark.parametrize("stream", [False, True])
def test_an_agent_loop_ends_after_one_tool_round_trip(gw: Gateway, stream: bool) -> None:
    client = sdk(gw)
    messages: list[Any] = [{"role": "user", "content": 'call get_weather {"city": "Paris"}'}]
    turns = 0
    while True:
        turns += 1
        assert turns <= 5, "the agent loops"
        if stream:
            with client.chat.completions.stream(
                model="auto", messages=messages, tools=[WEATHER]
            ) as s:
                completion: Any = s.get_final_completion()
        else:
            completion = client.chat.completions.create(
                model="auto", messages=messages, tools=[WEATHER]
            )
        choice = completion.choices[0]
        if choice.finish_reason != "tool_calls":
            break
        messages.append(choice.message.model_dump(exclude_none=True))
        for call in choice.message.tool_calls or []:
            assert json.loads(call.function.arguments) == {"city": "Paris"}
            messages.append({"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'})
    assert turns == 2
    assert choice.finish_reason == "stop"
    assert choice.message.content == '[echo-large] get_weather returned {"temp_c": 21}'


def test_a_forced_tool_choice_gets_arguments_that_fit_the_schema(gw: Gateway) -> None:
    parameters = to_strict_json_schema(Person)
    tool = {"type": "function", "function": {"name": "Person", "parameters": parameters}}
    completion = sdk(gw).chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": "Extract the person"}],
        tools=[tool],  # type: ignore[list-item]
        tool_choice={"type": "function", "function": {"name": "Person"}},
    )
    calls = completion.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "Person"  # type: ignore[union-attr]
    args = json.loads(calls[0].function.arguments)  # type: ignore[union-attr]
    jsonschema.validate(args, parameters)
    Person.model_validate(args)


class Tree(BaseModel):
    label: str
    children: list[Tree]


class Pair(BaseModel):
    both: tuple[int, str]
    counts: dict[str, int]
    even: int = Field(multiple_of=2, gt=10)
    code: str = Field(min_length=12, max_length=12)
    ratio: float = Field(gt=0, lt=1)
    either: int | Address


SCHEMAS: list[Any] = [
    to_strict_json_schema(Person),
    Person.model_json_schema(),
    Tree.model_json_schema(),
    to_strict_json_schema(Tree),
    Pair.model_json_schema(),
    {"type": "array", "items": {"enum": [1, 2]}, "minItems": 3, "uniqueItems": False},
    {"type": ["null", "integer"], "minimum": -5, "maximum": -2},
    {"allOf": [{"$ref": "#/$defs/A"}, {"required": ["b"], "properties": {"b": {"const": 3}}}],
     "$defs": {"A": {"type": "object", "properties": {"a": {"type": "boolean"}}}}},
    {"type": "string", "format": "email"},
    {"type": "object", "properties": {}, "additionalProperties": False},
    True,
    {},
]  # fmt: skip


@pytest.mark.parametrize("schema", SCHEMAS, ids=range(len(SCHEMAS)))
def test_the_generated_value_validates(schema: Any) -> None:
    value = instance(schema)
    jsonschema.validate(value, schema)
    assert instance(schema) == value  # deterministic
