"""Ollama's native API (``/api/chat``, ``/api/generate``, ``/api/embed``, ``/api/tags``) ⇄ OpenAI.

Requests (OpenAI → Ollama):

=================================  ===========================================================
OpenAI                             Ollama
=================================  ===========================================================
chat ``messages``                  ``messages``: system/developer → ``system``; user, assistant,
                                   tool as is; content parts joined (text, ``\\n``)
``image_url`` ``data:…;base64,``   base64 payload appended to the user message's ``images``
``image_url`` http(s)              refused (400): Ollama takes inline images only
assistant ``tool_calls``           ``tool_calls[].function.arguments`` as an OBJECT (parsed from
                                   OpenAI's JSON string), ``id`` and ``function.index`` kept
``tool`` message                   role ``tool`` + ``tool_call_id`` + ``tool_name`` (looked up
                                   from the assistant call with that id)
``tools``                          ``tools`` (same function schema; ``tool_choice: none`` drops
                                   them, other choices cannot be forced and are ignored)
``response_format``                json_object → ``format: "json"``; json_schema → ``format:
                                   <schema>``; text → nothing
temperature, top_p, seed,          ``options`` of the same names; ``stop`` string → list;
frequency/presence_penalty, stop   ``max_completion_tokens`` or ``max_tokens`` →
max_(completion_)tokens            ``options.num_predict``
``reasoning_effort``               ``think``: none → false, minimal → "low", xhigh → "high"
``n`` > 1                          refused (400): Ollama answers one choice
legacy ``prompt`` (one string)     ``/api/generate`` ``prompt``; ``suffix`` kept; ``echo``
                                   prepends the prompt to the answer
embeddings ``input`` (str | list)  ``/api/embed`` ``input``; ``dimensions`` kept; token arrays
                                   refused (400)
=================================  ===========================================================

Answers (Ollama → OpenAI): ``message.content`` → content (null when the answer is only tool
calls), ``message.thinking`` → ``reasoning_content`` (an extension, as DeepSeek and vLLM name
it), tool calls → OpenAI tool calls with ``arguments`` as a JSON string (an id ``call_…`` made up
when Ollama sent none), ``done_reason`` length → ``length``, else tool calls present →
``tool_calls``, else ``stop``; usage from ``prompt_eval_count`` / ``eval_count``; ``created``
from ``created_at``.

Streams are NDJSON: one object a line, ``done: false`` deltas, then one ``done: true`` object
with ``done_reason`` and the counts. They are read by line (split lines and blank lines are
harmless) and become: a role chunk, content / reasoning / tool-call chunks as each line
arrives, a finish chunk, a usage chunk (``choices: []``). An ``{"error": …}`` line (Ollama's
mid-stream error) raises :class:`UpstreamHTTPError` (status 500, what Ollama answers before a
stream starts); a stream that ends without ``done: true`` raises
:class:`UpstreamProtocolError`.

Ollama has no auth locally; ollama.com's API takes ``Authorization: Bearer``: the key is sent
that way when one is configured (as the official SDK does with ``OLLAMA_API_KEY``) and no
``Authorization`` header is configured. Errors are ``{"error": "…"}`` with 400/404/500/….
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from datetime import datetime
from typing import Any

import orjson

from localrouter.compiler.catalog import DiscoveredModel
from localrouter.compiler.table import Provider
from localrouter.errors import Refused, UpstreamProtocolError
from localrouter.providers import shapes
from localrouter.providers.base import Json, Target
from localrouter.providers.http import json_body
from localrouter.providers.ndjson_read import ndjson_lines
from localrouter.providers.ollama_request import chat_request, generate_request
from localrouter.providers.transport import Transport
from localrouter.providers.upstream_errors import (
    ErrorParts,
    check_status,
    failures,
    http_error,
    message,
)
from localrouter.redaction import Redactor

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMBT])\s*$", re.IGNORECASE)
_SCALE = {"K": 1e-6, "M": 1e-3, "B": 1.0, "T": 1e3}
_CAPS = {
    "completion": ("chat", "completions", "json"),
    "tools": ("tools",),
    "vision": ("vision",),
    "embedding": ("embeddings",),
}


def _url(base_url: str, path: str) -> str:
    base = base_url.rstrip("/")
    if base.endswith("/api"):
        base = base[:-4]
    return base + path


def _headers(target: Target) -> dict[str, str]:
    headers = target.headers()
    if target.api_key and not any(k.lower() == "authorization" for k in headers):
        headers["Authorization"] = f"Bearer {target.api_key}"
    return headers


# ----------------------------------------------------------------- answers: Ollama → OpenAI


def _created(doc: Json) -> int:
    stamp = doc.get("created_at")
    if isinstance(stamp, str):
        try:
            return int(datetime.fromisoformat(stamp).timestamp())
        except ValueError:
            pass
    return shapes.now()


def _usage(doc: Json) -> Json:
    return shapes.usage(int(doc.get("prompt_eval_count") or 0), int(doc.get("eval_count") or 0))


def _finish(doc: Json, tool_calls: bool) -> str:
    if doc.get("done_reason") == "length":
        return "length"
    return "tool_calls" if tool_calls else "stop"


def _tool_calls(calls: Any, start: int = 0) -> list[Json]:
    out = []
    listed = [c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []
    for i, call in enumerate(listed):
        fn: Json = call["function"] if isinstance(call.get("function"), dict) else {}
        args = fn.get("arguments")
        text = args if isinstance(args, str) else json.dumps(args or {}, ensure_ascii=False)
        call_id = call.get("id") or f"call_{secrets.token_hex(12)}"
        out.append({"index": start + i, **shapes.tool_call(call_id, fn.get("name", ""), text)})
    return out


def _in_band_error(doc: Json, target: Target) -> None:
    if "error" in doc:
        name = target.provider.name
        parts = ErrorParts(message(doc) or json.dumps(doc))
        raise http_error(name, 500, parts, target.redactor, said="reported an error")


def _message(doc: Json, target: Target) -> Json:
    _in_band_error(doc, target)
    name = target.provider.name
    msg = doc.get("message")
    if not isinstance(msg, dict):
        raise UpstreamProtocolError(f"{name} sent a chat answer without a message", provider=name)
    return msg


class _ChatStream:
    """Turns Ollama's NDJSON chat objects into OpenAI chunks, one object at a time."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.base: Json = {"id": shapes.new_id(), "model": target.model, "created": shapes.now()}
        self.started = False
        self.calls = 0

    def _chunk(self, delta: Json) -> Json:
        return shapes.chat_chunk(**self.base, delta=delta)

    def feed(self, doc: Json) -> list[Json]:
        msg = _message(doc, self.target)
        out: list[Json] = []
        if not self.started:
            self.started = True
            out.append(self._chunk({"role": "assistant", "content": ""}))
        if msg.get("thinking"):
            out.append(self._chunk({"reasoning_content": msg["thinking"]}))
        if msg.get("content"):
            out.append(self._chunk({"content": msg["content"]}))
        calls = _tool_calls(msg.get("tool_calls"), self.calls)
        if calls:
            self.calls += len(calls)
            out.append(self._chunk({"tool_calls": calls}))
        if doc.get("done"):
            finish = _finish(doc, self.calls > 0)
            out.append(shapes.chat_chunk(**self.base, delta={}, finish_reason=finish))
            out.append(shapes.chat_chunk(**self.base, usage=_usage(doc)))
        return out


async def _ndjson(
    client: Transport, target: Target, path: str, payload: Json
) -> AsyncGenerator[Json, None]:
    """Ollama's stream as objects, each as soon as its line is complete; status checked first."""
    name = target.provider.name
    url = _url(target.base_url, path)
    headers = {"content-type": "application/json", **_headers(target)}
    with failures(target.provider):
        async with client.stream(url, headers, orjson.dumps(payload)) as response:
            check_status(response.status, response.headers, response.body, name, target.redactor)
            async with aclosing(ndjson_lines(response, target.provider)) as lines:
                async for line in lines:
                    if not line.strip():
                        continue
                    doc = json_body(line, name, "a stream line")
                    yield doc
                    if doc.get("done"):
                        return
    raise UpstreamProtocolError(f"{name} stream ended before its final (done) line", provider=name)


async def _post(client: Transport, target: Target, path: str, payload: Json) -> Json:
    name = target.provider.name
    headers = {"content-type": "application/json", **_headers(target)}
    url, limit = _url(target.base_url, path), target.provider.max_response_bytes
    with failures(target.provider):
        answer = await client.post(url, headers, orjson.dumps(payload), limit=limit)
    check_status(answer.status, answer.headers, answer.body, name, target.redactor)
    return json_body(answer.body, name)


def _params_b(size: Any) -> float | None:
    """``"7.6B"`` → 7.6, ``"500M"`` → 0.5, ``"137M"`` → 0.137; None when not a size."""
    m = _SIZE.match(size) if isinstance(size, str) else None
    return round(float(m.group(1)) * _SCALE[m.group(2).upper()], 6) if m else None


def _capabilities(raw: Any) -> tuple[str, ...] | None:
    if not isinstance(raw, list):
        return None
    caps = [c for r in raw if isinstance(r, str) for c in _CAPS.get(r, ())]
    return tuple(dict.fromkeys(caps)) or None


class OllamaAdapter:
    wire = "ollama"

    async def chat(self, client: Transport, target: Target, body: Json) -> Json:
        doc = await _post(client, target, "/api/chat", chat_request(target, body, stream=False))
        msg = _message(doc, target)
        calls = [
            {k: v for k, v in c.items() if k != "index"} for c in _tool_calls(msg.get("tool_calls"))
        ]
        content = msg.get("content") or ("" if not calls else None)
        message = shapes.message(content, calls or None)
        if msg.get("thinking"):
            message["reasoning_content"] = msg["thinking"]
        return shapes.chat_completion(
            id=shapes.new_id(),
            model=target.model,
            created=_created(doc),
            message=message,
            finish_reason=_finish(doc, bool(calls)),
            usage=_usage(doc),
        )

    async def chat_stream(
        self, client: Transport, target: Target, body: Json
    ) -> AsyncIterator[Json]:
        payload = chat_request(target, body, stream=True)
        state = _ChatStream(target)
        async with aclosing(_ndjson(client, target, "/api/chat", payload)) as docs:
            async for doc in docs:
                for chunk in state.feed(doc):
                    yield chunk

    async def completion(self, client: Transport, target: Target, body: Json) -> Json:
        payload = generate_request(target, body, stream=False)
        doc = await _post(client, target, "/api/generate", payload)
        _in_band_error(doc, target)
        text = str(doc.get("response") or "")
        return shapes.text_completion(
            id=shapes.new_id("cmpl"),
            model=target.model,
            created=_created(doc),
            text=(payload["prompt"] + text) if body.get("echo") else text,
            finish_reason=_finish(doc, False),
            usage=_usage(doc),
        )

    async def completion_stream(
        self, client: Transport, target: Target, body: Json
    ) -> AsyncIterator[Json]:
        payload = generate_request(target, body, stream=True)
        base: Json = {"id": shapes.new_id("cmpl"), "model": target.model, "created": shapes.now()}
        if body.get("echo") and payload["prompt"]:
            yield shapes.text_completion(
                **base, text=payload["prompt"], finish_reason=None, usage=None
            )
        async with aclosing(_ndjson(client, target, "/api/generate", payload)) as docs:
            async for doc in docs:
                _in_band_error(doc, target)
                if doc.get("response"):
                    yield shapes.text_completion(
                        **base, text=str(doc["response"]), finish_reason=None, usage=None
                    )
                if doc.get("done"):
                    yield shapes.text_completion(
                        **base, text="", finish_reason=_finish(doc, False), usage=_usage(doc)
                    )

    async def embeddings(self, client: Transport, target: Target, body: Json) -> Json:
        name = target.provider.name
        raw = body.get("input")
        if not (
            isinstance(raw, str)
            or (isinstance(raw, list) and raw and all(isinstance(i, str) for i in raw))
        ):
            raise Refused(name, "embeddings `input` must be a string or a list of strings")
        payload: Json = {"model": target.model, "input": raw}
        if body.get("dimensions") is not None:
            payload["dimensions"] = body["dimensions"]
        doc = await _post(client, target, "/api/embed", payload)
        _in_band_error(doc, target)
        vectors = doc.get("embeddings")
        if not isinstance(vectors, list) or not all(isinstance(v, list) for v in vectors):
            raise UpstreamProtocolError(f"{name} sent no embeddings", provider=name)
        return shapes.embedding_list(target.model, vectors, int(doc.get("prompt_eval_count") or 0))

    async def list_models(
        self,
        client: Transport,
        provider: Provider,
        api_key: str | None,
        redactor: Redactor | None = None,
    ) -> list[DiscoveredModel]:
        target = Target(provider, "", api_key, known=redactor)
        url = _url(provider.base_url or "", "/api/tags")
        with failures(provider):
            response = await client.get(url, _headers(target), limit=provider.max_response_bytes)
        check_status(
            response.status, response.headers, response.body, provider.name, target.redactor
        )
        doc = json_body(response.body, provider.name)
        models = doc.get("models")
        if not isinstance(models, list):
            raise UpstreamProtocolError(
                f"{provider.name} sent no model list", provider=provider.name
            )
        out = []
        for m in models:
            name = (m.get("name") or m.get("model")) if isinstance(m, dict) else None
            if not isinstance(name, str) or not name:
                continue
            details = m.get("details") or {}
            out.append(
                DiscoveredModel(
                    name=name,
                    params_b=_params_b(details.get("parameter_size")),
                    capabilities=_capabilities(m.get("capabilities")),
                )
            )
        return out
