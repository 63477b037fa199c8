"""Two real Python clients of the gateway's Responses API (``POST /v1/responses``, ``GET`` and
``DELETE /v1/responses/{id}``), used as their docs say:

- LiteLLM's SDK: ``litellm.responses()`` / ``litellm.aresponses()`` (plain, streamed, a function
  round trip), ``get_responses``, ``previous_response_id`` and ``delete_responses``, with
  ``model="openai/<name>"``, ``api_base`` the gateway and ``api_key`` a LocalRouter key;
- pydantic-ai: an ``Agent`` on ``OpenAIResponsesModel`` with an ``OpenAIProvider`` at the gateway:
  a run, a streamed run, an agent tool the model calls, structured output (a tool, and the
  native JSON schema), and a conversation carried by ``previous_response_id``.

Each is answered by the mock provider, by a fake OpenAI upstream that has only chat completions
(the gateway translates) and, where the fake can answer it, by the same fake's Responses API
(the body is forwarded). The mock and the fake call a tool when the prompt reads
``call NAME {json}``; the mock answers a JSON schema with a valid instance.

LiteLLM fetches a model-price map from the internet at import unless told not to: the test sets
``LITELLM_LOCAL_MODEL_COST_MAP`` and ``LITELLM_OFFLINE_MODE`` before importing it, clears its
callbacks, and points ``HTTP(S)_PROXY`` at a :class:`~tests.clients.Listener` (the gateway and the
fake, on loopback, are exempt): nothing may reach it.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel
from pydantic_ai import Agent, NativeOutput
from pydantic_ai.exceptions import UnexpectedModelBehavior
from pydantic_ai.models.openai import OpenAIResponsesModel, OpenAIResponsesModelSettings
from pydantic_ai.providers.openai import OpenAIProvider

from tests.clients import Listener, logged
from tests.fakes import openai_fake
from tests.gateway import Gateway
from tests.responses_upstreams import CLIENTS, SERVED_BY, gateway_with_three_upstreams

PARIS = 'call get_weather {"city": "Paris"}'
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def answer(client: str, prompt: str) -> str:
    """What each upstream answers to a prompt: the mock's echo, the fake's echo."""
    return f"[small] You said: {prompt}" if client == "via-mock" else prompt


@dataclass
class World:
    gw: Gateway
    openai: openai_fake.FakeState
    litellm: Any  # the module, imported once the environment keeps it offline
    proxy: Listener


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    proxy = Listener()
    with ExitStack() as stack:
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        mp.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # the price map bundled with it
        mp.setenv("LITELLM_OFFLINE_MODE", "true")  # no catalogue, check or tokenizer fetched
        for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy"):
            mp.setenv(name, proxy.url)
        mp.setenv("NO_PROXY", "127.0.0.1,localhost")
        mp.setenv("no_proxy", "127.0.0.1,localhost")
        litellm = importlib.import_module("litellm")
        for hooks in ("callbacks", "success_callback", "failure_callback", "input_callback"):
            mp.setattr(litellm, hooks, [])
        mp.setattr(litellm, "suppress_debug_info", True)
        gw, fake = stack.enter_context(gateway_with_three_upstreams(tmp_path_factory.mktemp("gw")))
        yield World(gw, fake, litellm, proxy)
    proxy.close()
    assert proxy.seen == [], f"a client called out past the gateway: {proxy.seen}"


def test_litellm_loaded_its_bundled_price_map(world: World) -> None:
    source = importlib.import_module("litellm.litellm_core_utils.get_model_cost_map")
    info = source.get_model_cost_map_source_info()
    assert (info["source"], info["is_env_forced"]) == ("local", True), info


def served(world: World, client: str, before: int, count: int = 1) -> list[dict[str, Any]]:
    """The ``count`` access-log lines after ``before``: the Responses endpoint, answered by the
    client's upstream."""
    lines = logged(world.gw, client, at_least=before + count)[before:]
    assert len(lines) == count, lines
    for line in lines:
        assert line["endpoint"] == "responses", json.dumps(line)
        assert line["status"] == "ok", json.dumps(line)
        assert (line["provider"], line["model"]) == SERVED_BY[client], json.dumps(line)
    return lines


def upstream_paths(world: World) -> list[str]:
    return [r.path for r in world.openai.requests if r.path != "/v1/models"]


def kwargs(world: World, client: str) -> dict[str, Any]:
    return {"model": "openai/auto", "api_base": world.gw.v1, "api_key": world.gw.keys[client]}


# --- LiteLLM --------------------------------------------------------------------------------


@pytest.mark.parametrize("client", CLIENTS)
def test_litellm_responses(world: World, client: str) -> None:
    before = len(logged(world.gw, client, timeout=0))
    world.openai.requests.clear()
    r = world.litellm.responses(input="hello from litellm", **kwargs(world, client))
    assert r.status == "completed"
    assert r.output_text == answer(client, "hello from litellm")
    (line,) = served(world, client, before)
    assert line["stream"] is False
    assert r.usage.input_tokens == line["input_tokens"] > 0
    assert r.usage.output_tokens == line["output_tokens"] > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    wanted = {"via-mock": [], "via-chat": ["/v1/chat/completions"], "via-openai": ["/v1/responses"]}
    assert upstream_paths(world) == wanted[client]


@pytest.mark.parametrize("client", CLIENTS)
async def test_litellm_aresponses(world: World, client: str) -> None:
    before = len(logged(world.gw, client, timeout=0))
    r = await world.litellm.aresponses(input="async hello", **kwargs(world, client))
    assert r.output_text == answer(client, "async hello")
    (line,) = served(world, client, before)
    assert r.usage.output_tokens == line["output_tokens"] > 0


def kind(event: Any) -> str:
    """An event's ``type`` (LiteLLM gives an enum of the same strings)."""
    return str(getattr(event.type, "value", event.type))


def check_stream(world: World, client: str, before: int, events: list[Any]) -> None:
    types = [kind(e) for e in events]
    assert types[:2] == ["response.created", "response.in_progress"], types
    assert types[-1] == "response.completed", types
    deltas = [e.delta for e, t in zip(events, types, strict=True) if t.endswith("text.delta")]
    assert "".join(deltas) == answer(client, "stream it") == events[-1].response.output_text
    (line,) = served(world, client, before)
    assert line["stream"] is True  # streamed by the gateway, not faked by LiteLLM
    assert events[-1].response.usage.output_tokens == line["output_tokens"] > 0


# LiteLLM streams only for a model its price map says streams natively: for a name it does not
# know (``openai/auto``) it asks for a whole response and makes the events itself. A name it
# knows, which the strategies read as ``auto`` (``aliases: {"gpt-*": auto}``), streams for real.
KNOWN = "openai/gpt-4o-mini"


@pytest.mark.parametrize("client", CLIENTS)
def test_litellm_responses_stream(world: World, client: str) -> None:
    before = len(logged(world.gw, client, timeout=0))
    kw = kwargs(world, client) | {"model": KNOWN}
    check_stream(
        world, client, before, list(world.litellm.responses(input="stream it", stream=True, **kw))
    )


@pytest.mark.parametrize("client", CLIENTS)
async def test_litellm_aresponses_stream(world: World, client: str) -> None:
    before = len(logged(world.gw, client, timeout=0))
    kw = kwargs(world, client) | {"model": KNOWN}
    stream = await world.litellm.aresponses(input="stream it", stream=True, **kw)
    check_stream(world, client, before, [e async for e in stream])


def test_litellm_fakes_the_stream_of_a_model_it_does_not_know(world: World) -> None:
    """``openai/auto`` with ``stream=True``: the events LiteLLM makes from a whole response."""
    before = len(logged(world.gw, "via-mock", timeout=0))
    events = list(
        world.litellm.responses(input="stream it", stream=True, **kwargs(world, "via-mock"))
    )
    assert kind(events[-1]) == "response.completed"
    assert events[-1].response.output_text == answer("via-mock", "stream it")
    (line,) = served(world, "via-mock", before)
    assert line["stream"] is False


@pytest.mark.parametrize("client", CLIENTS)
def test_litellm_function_round_trip(world: World, client: str) -> None:
    """The model calls ``get_weather``; its output items go back as LiteLLM's docs do it (the
    response's output, then a ``function_call_output``), and the model answers the result."""
    before = len(logged(world.gw, client, timeout=0))
    kw = kwargs(world, client) | {"tools": [WEATHER]}
    first = world.litellm.responses(input=PARIS, **kw)
    (call,) = first.output
    assert (call.type, call.name, json.loads(call.arguments)) == (
        "function_call",
        "get_weather",
        {"city": "Paris"},
    )
    history = [{"role": "user", "content": PARIS}, *first.output]
    result = {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"}
    second = world.litellm.responses(input=[*history, result], **kw)
    wanted = {
        "via-mock": "[small] get_weather returned sunny, 21 C",
        "via-chat": "tool said: sunny, 21 C",
        "via-openai": "tool said: sunny, 21 C",
    }
    assert second.output_text == wanted[client]
    served(world, client, before, count=2)


@pytest.mark.parametrize("client", ["via-mock", "via-chat"])
def test_litellm_stored_responses(world: World, client: str) -> None:
    """LiteLLM wraps the gateway's ids in its own (provider and id, base64) and unwraps them for
    ``get_responses``, ``previous_response_id`` and ``delete_responses``."""
    kw = kwargs(world, client)
    first = world.litellm.responses(input="remember me", **kw)
    again = world.litellm.get_responses(first.id, api_base=kw["api_base"], api_key=kw["api_key"])
    assert again.output_text == first.output_text == answer(client, "remember me")
    world.openai.requests.clear()
    follow = world.litellm.responses(input="and now?", previous_response_id=first.id, **kw)
    assert follow.output_text == answer(client, "and now?")
    if client == "via-chat":  # the stored turn went upstream before the new one
        (chat,) = [r for r in world.openai.requests if r.path == "/v1/chat/completions"]
        said = [(m["role"], m["content"]) for m in chat.body["messages"]]
        assert said == [("user", "remember me"), ("assistant", "remember me"), ("user", "and now?")]
    gone = world.litellm.delete_responses(first.id, api_base=kw["api_base"], api_key=kw["api_key"])
    assert gone.deleted is True
    with pytest.raises(world.litellm.NotFoundError):
        world.litellm.get_responses(first.id, api_base=kw["api_base"], api_key=kw["api_key"])


# --- pydantic-ai ----------------------------------------------------------------------------


@dataclass
class Recorder:
    """The JSON bodies pydantic-ai's OpenAI client sent to the gateway."""

    bodies: list[Any] = field(default_factory=list)

    async def __call__(self, request: httpx.Request) -> None:
        self.bodies.append(json.loads(request.content) if request.content else None)


def model(world: World, client: str, recorder: Recorder | None = None) -> OpenAIResponsesModel:
    hooks = {"request": [recorder]} if recorder is not None else {}
    http = httpx.AsyncClient(event_hooks=hooks)  # what OpenAIProvider makes, plus the hook
    sdk = openai.AsyncOpenAI(base_url=world.gw.v1, api_key=world.gw.keys[client], http_client=http)
    return OpenAIResponsesModel("auto", provider=OpenAIProvider(openai_client=sdk))


class City(BaseModel):
    name: str
    population: int


@pytest.mark.parametrize("client", CLIENTS)
async def test_pydantic_ai_run(world: World, client: str) -> None:
    before = len(logged(world.gw, client, timeout=0))
    result = await Agent(model(world, client), instructions="Be brief.").run("hello agent")
    assert result.output == answer(client, "hello agent")
    (line,) = served(world, client, before)
    assert result.usage.output_tokens == line["output_tokens"] > 0
    assert result.usage.input_tokens == line["input_tokens"] > 0


@pytest.mark.parametrize("client", CLIENTS)
async def test_pydantic_ai_run_stream(world: World, client: str) -> None:
    before = len(logged(world.gw, client, timeout=0))
    async with Agent(model(world, client)).run_stream("stream it") as run:
        pieces = [piece async for piece in run.stream_text(delta=True)]
    assert "".join(pieces) == answer(client, "stream it")
    assert served(world, client, before)[0]["stream"] is True


@pytest.mark.parametrize("client", CLIENTS)
async def test_pydantic_ai_calls_an_agent_tool(world: World, client: str) -> None:
    before = len(logged(world.gw, client, timeout=0))
    agent = Agent(model(world, client))
    calls: list[str] = []

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """Weather for a city."""
        calls.append(city)
        return f"sunny in {city}"

    result = await agent.run(PARIS)
    assert calls == ["Paris"]
    wanted = "[small] get_weather returned " if client == "via-mock" else "tool said: "
    assert result.output == wanted + "sunny in Paris"
    assert result.usage.tool_calls == 1 and result.usage.requests == 2
    served(world, client, before, count=2)


async def test_pydantic_ai_structured_output_by_tool(world: World) -> None:
    """pydantic-ai's default: an output tool the model must call (``tool_choice: required``);
    the mock fills its arguments from the schema."""
    recorder = Recorder()
    result = await Agent(model(world, "via-mock", recorder), output_type=City).run("a city")
    assert isinstance(result.output, City)
    (body,) = recorder.bodies
    assert body["tool_choice"] == "required"
    assert [t["name"] for t in body["tools"]] == ["final_result"]


@pytest.mark.parametrize("client", ["via-mock", "via-openai"])
async def test_pydantic_ai_native_structured_output(world: World, client: str) -> None:
    """``NativeOutput``: ``text.format`` ``json_schema`` (strict), answered with an instance."""
    recorder = Recorder()
    agent = Agent(model(world, client, recorder), output_type=NativeOutput(City))
    result = await agent.run("a city")
    assert isinstance(result.output, City)
    (body,) = recorder.bodies
    fmt = body["text"]["format"]
    assert (fmt["type"], fmt["name"], fmt["strict"]) == ("json_schema", "City", True)


async def test_pydantic_ai_native_output_reaches_a_chat_upstream(world: World) -> None:
    """Translated for a chat upstream, the schema becomes ``response_format``; the fake's chat
    endpoint answers ``{"echo": …}`` (it does not honour schemas), so pydantic-ai retries and
    gives up: the request is what is checked."""
    world.openai.requests.clear()
    agent = Agent(model(world, "via-chat"), output_type=NativeOutput(City), retries=0)
    with pytest.raises(UnexpectedModelBehavior):
        await agent.run("a city")
    chat = next(r for r in world.openai.requests if r.path == "/v1/chat/completions")
    fmt = chat.body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "City"
    assert fmt["json_schema"]["strict"] is True
    assert set(fmt["json_schema"]["schema"]["properties"]) == {"name", "population"}


async def test_pydantic_ai_continues_by_previous_response_id(world: World) -> None:
    """``openai_previous_response_id="auto"``: the second run sends only its new message and the
    first response's id; the gateway puts the stored turn back before it reaches the upstream."""
    recorder = Recorder()
    settings = OpenAIResponsesModelSettings(openai_previous_response_id="auto")
    agent = Agent(model(world, "via-chat", recorder), model_settings=settings)
    first = await agent.run("my name is Ada")
    world.openai.requests.clear()
    second = await agent.run("what is my name?", message_history=first.all_messages())
    assert second.output == "what is my name?"
    sent = recorder.bodies[-1]
    assert sent["previous_response_id"] == first.all_messages()[-1].provider_response_id
    assert [item["content"] for item in sent["input"]] == ["what is my name?"]
    (chat,) = [r for r in world.openai.requests if r.path == "/v1/chat/completions"]
    said = [(m["role"], m["content"]) for m in chat.body["messages"]]
    assert said[-3:] == [
        ("user", "my name is Ada"),
        ("assistant", "my name is Ada"),
        ("user", "what is my name?"),
    ]
