"""The ``mock`` provider: deterministic local answers, for demos and tests. No network.

* chat: ``"[<model>] You said: <last user text>"`` (text cut to 200 characters);
  an empty prompt gives ``"[<model>] Hello from LocalRouter's mock provider."``.
* tools: when the request offers tools and the last user message is ``call NAME {json}``, the
  answer is one call of NAME with those arguments (``{}`` when absent), finish reason
  ``tool_calls``.
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

import httpx

from localrouter.compiler.catalog import DiscoveredModel
from localrouter.compiler.table import Provider
from localrouter.errors import UpstreamHTTPError
from localrouter.providers import shapes
from localrouter.providers.base import Json, Target


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


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
    last = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    text = _text(last.get("content")) if isinstance(last, dict) else ""
    if body.get("tools") and text.startswith("call "):
        name, _, args = text[5:].strip().partition(" ")
        try:
            arguments = json.dumps(json.loads(args)) if args.strip() else "{}"
        except ValueError:
            arguments = json.dumps({"input": args})
        call_id = "call_" + hashlib.sha256(text.encode()).hexdigest()[:24]
        return None, [shapes.tool_call(call_id, name, arguments)]
    if not text.strip():
        return f"[{model}] Hello from LocalRouter's mock provider.", None
    return f"[{model}] You said: {text.strip()[:200]}", None


class MockAdapter:
    wire = "mock"

    async def chat(self, client: httpx.AsyncClient, target: Target, body: Json) -> Json:
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
        self, client: httpx.AsyncClient, target: Target, body: Json
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

    async def completion(self, client: httpx.AsyncClient, target: Target, body: Json) -> Json:
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
        self, client: httpx.AsyncClient, target: Target, body: Json
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

    async def embeddings(self, client: httpx.AsyncClient, target: Target, body: Json) -> Json:
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
        self, client: httpx.AsyncClient, provider: Provider, api_key: str | None
    ) -> list[DiscoveredModel]:
        return []
