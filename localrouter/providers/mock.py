"""The ``mock`` provider: deterministic local answers, for demos and tests. No network.

* chat: ``"[<model>] You said: <last user text>"`` (text cut to 200 characters);
  an empty prompt gives ``"[<model>] Hello from LocalRouter's mock provider."``.
* tools: when the request offers tools and the last user message (or its last text part: agents
  such as Claude Code put reminders before the prompt) is ``call NAME {json}``, the
  answer is one call of NAME with those arguments (``{}`` when absent), finish reason
  ``tool_calls``. A ``tool_choice`` that forces a function (by name, or ``required``: the first
  tool) gets a call of it with arguments made from its ``parameters`` schema
  (:mod:`~localrouter.providers.mock_schema`).
* tool results: when the conversation ends with tool results, the answer is text saying what each
  returned (``[<model>] get_weather returned {"temp": 21}``), never another call, so an agent's
  loop ends after one round trip.
* ``response_format``: ``json_schema`` → a JSON instance that validates against the schema (the
  openai SDK's ``parse()`` and LangChain's ``with_structured_output`` work); ``json_object`` →
  ``{"model": ..., "answer": "You said: ..."}``.
* streaming: the same text, one word per chunk, then a finish chunk and a usage chunk.
* usage: prompt tokens = ⌈characters of all messages / 4⌉ + 4 per message, completion tokens =
  ⌈characters of the answer / 4⌉ — reported as the provider's own (not marked estimated).
* legacy completions echo the prompt the same way; embeddings are 8 numbers in [-1, 1) derived
  from the sha256 of each input, so equal inputs give equal vectors.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

from localrouter.compiler.catalog import DiscoveredModel
from localrouter.compiler.table import Provider
from localrouter.errors import UpstreamHTTPError
from localrouter.providers import shapes
from localrouter.providers.base import Json, Target
from localrouter.providers.mock_schema import instance
from localrouter.providers.transport import Transport
from localrouter.redaction import Redactor


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def _last_part(content: Any) -> str:
    """The last text part of a message's content (the whole text of a plain string)."""
    if isinstance(content, list):
        texts = [
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        ]
        return texts[-1].strip() if texts else ""
    return content.strip() if isinstance(content, str) else ""


def _tokens(text: str) -> int:
    return (len(text) + 3) // 4


def _prompt_tokens(messages: list[Any]) -> int:
    return sum(_tokens(_text(m.get("content"))) + 4 for m in messages if isinstance(m, dict))


def _messages(body: Json) -> list[Any]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise UpstreamHTTPError("mock: `messages` must be a non-empty list", status=400)
    return messages


def _answer(model: str, body: Json) -> tuple[str | None, list[Json] | None]:
    messages = _messages(body)
    tail = _tool_results(messages)
    forced = _forced_tool(body)
    if tail and forced is None:  # the tool ran: answer it, never call it again
        structured = _structured(model, body, tail)
        return (structured if structured is not None else f"[{model}] {tail}"), None
    last = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    text = _text(last.get("content")) if isinstance(last, dict) else ""
    command = _last_part(last.get("content")) if isinstance(last, dict) else ""
    if body.get("tools") and (text.startswith("call ") or command.startswith("call ")):
        text = text if text.startswith("call ") else command
        name, _, args = text[5:].strip().partition(" ")
        try:
            arguments = json.dumps(json.loads(args)) if args.strip() else "{}"
        except ValueError:
            arguments = json.dumps({"input": args})
        return None, [shapes.tool_call(_call_id(text), name, arguments)]
    if forced is not None:  # tool_choice names a function (or is "required"): call it
        name, parameters = forced
        arguments = json.dumps(instance(parameters))
        return None, [shapes.tool_call(_call_id(name + text), name, arguments)]
    echo = f"You said: {text.strip()[:200]}" if text.strip() else None
    structured = _structured(model, body, echo)
    if structured is not None:
        return structured, None
    if echo is None:
        return f"[{model}] Hello from LocalRouter's mock provider.", None
    return f"[{model}] {echo}", None


def _call_id(seed: str) -> str:
    return "call_" + hashlib.sha256(seed.encode()).hexdigest()[:24]


def _tool_results(messages: list[Any]) -> str | None:
    """``NAME returned TEXT`` for the tool results that end the conversation, else ``None``."""
    names: dict[str, str] = {}
    for m in messages:
        for call in (m.get("tool_calls") or []) if isinstance(m, dict) else []:
            if isinstance(call, dict) and isinstance(call.get("function"), dict):
                names[str(call.get("id"))] = str(call["function"].get("name", "tool"))
    parts: list[str] = []
    for m in reversed(messages):
        if not isinstance(m, dict) or m.get("role") != "tool":
            break
        name = names.get(str(m.get("tool_call_id")), "the tool")
        parts.append(f"{name} returned {_text(m.get('content')).strip()[:200]}")
    return "; ".join(reversed(parts)) or None


def _forced_tool(body: Json) -> tuple[str, Any] | None:
    """The function ``tool_choice`` forces (a name, or ``required``: the first tool) and its
    parameters schema."""
    choice = body.get("tool_choice")
    tools = [
        t["function"]
        for t in body.get("tools") or []
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    ]
    if not tools:
        return None
    if choice == "required":
        wanted = tools[0]
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        name = choice["function"].get("name")
        wanted = next((t for t in tools if t.get("name") == name), None)
        if wanted is None:
            return None
    else:
        return None
    return str(wanted.get("name", "tool")), wanted.get("parameters") or {"type": "object"}


def _structured(model: str, body: Json, said: str | None) -> str | None:
    """The answer's JSON text when ``response_format`` asks for JSON: an instance of its
    ``json_schema``, or an object for ``json_object``; ``None`` for text."""
    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_schema":
        spec = fmt.get("json_schema") if isinstance(fmt, dict) else None
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if isinstance(schema, (dict, bool)):
            return json.dumps(instance(schema))
        kind = "json_object"
    if kind == "json_object":
        return json.dumps({"model": model, "answer": said or "Hello from LocalRouter's mock."})
    return None


class MockAdapter:
    wire = "mock"

    async def chat(self, client: Transport, target: Target, body: Json) -> Json:
        content, calls = _answer(target.model, body)
        usage = shapes.usage(_prompt_tokens(_messages(body)), _tokens(content or json.dumps(calls)))
        return shapes.chat_completion(
            id=shapes.new_id(),
            model=target.model,
            created=shapes.now(),
            message=shapes.message(content, calls),
            finish_reason="tool_calls" if calls else "stop",
            usage=usage,
        )

    async def chat_stream(
        self, client: Transport, target: Target, body: Json
    ) -> AsyncIterator[Json]:
        content, calls = _answer(target.model, body)
        base: dict[str, Any] = {
            "id": shapes.new_id(),
            "model": target.model,
            "created": shapes.now(),
        }
        yield shapes.chat_chunk(**base, delta={"role": "assistant", "content": ""})
        if calls:
            for i, call in enumerate(calls):
                yield shapes.chat_chunk(**base, delta={"tool_calls": [{"index": i, **call}]})
        else:
            words = (content or "").split(" ")
            for i, word in enumerate(words):
                yield shapes.chat_chunk(**base, delta={"content": word if i == 0 else " " + word})
        yield shapes.chat_chunk(**base, delta={}, finish_reason="tool_calls" if calls else "stop")
        usage = shapes.usage(_prompt_tokens(_messages(body)), _tokens(content or json.dumps(calls)))
        yield shapes.chat_chunk(**base, usage=usage)

    async def completion(self, client: Transport, target: Target, body: Json) -> Json:
        prompt = body.get("prompt")
        text = prompt if isinstance(prompt, str) else ""
        answer = f" [{target.model}] {text.strip()[:200]}"
        return shapes.text_completion(
            id=shapes.new_id("cmpl"),
            model=target.model,
            created=shapes.now(),
            text=answer,
            finish_reason="stop",
            usage=shapes.usage(_tokens(text), _tokens(answer)),
        )

    async def completion_stream(
        self, client: Transport, target: Target, body: Json
    ) -> AsyncIterator[Json]:
        whole = await self.completion(client, target, body)
        text = whole["choices"][0]["text"]
        for i, word in enumerate(text.split(" ")):
            chunk = {
                **whole,
                "choices": [
                    {
                        "index": 0,
                        "text": word if i == 0 else " " + word,
                        "logprobs": None,
                        "finish_reason": None,
                    }
                ],
            }
            chunk.pop("usage", None)
            yield chunk
        yield {
            **whole,
            "choices": [{"index": 0, "text": "", "logprobs": None, "finish_reason": "stop"}],
        }

    async def embeddings(self, client: Transport, target: Target, body: Json) -> Json:
        raw = body.get("input")
        inputs = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else None
        if not inputs or not all(isinstance(i, str) for i in inputs):
            raise UpstreamHTTPError(
                "mock: `input` must be a string or a list of strings", status=400
            )
        vectors = []
        for text in inputs:
            digest = hashlib.sha256(text.encode()).digest()
            vectors.append([round(b / 128 - 1, 6) for b in digest[:8]])
        return shapes.embedding_list(target.model, vectors, sum(_tokens(t) for t in inputs))

    async def list_models(
        self,
        client: Transport,
        provider: Provider,
        api_key: str | None,
        redactor: Redactor | None = None,
    ) -> list[DiscoveredModel]:
        return []
