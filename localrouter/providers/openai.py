"""The OpenAI adapter: OpenAI and every OpenAI-compatible API (wire ``openai``), passed through.

Provider types ``openai``, ``openai-compatible`` (and its presets), ``openrouter`` and
``lmstudio`` speak this wire. ``base_url`` already ends in ``/v1``; the adapter appends
``/chat/completions``, ``/completions``, ``/embeddings`` and ``/models``.

Headers: ``content-type: application/json``, the provider's configured headers (OpenRouter's
``HTTP-Referer`` / ``X-Title`` attribution comes from there), then ``Authorization: Bearer KEY``
only when a key is set (LM Studio, vLLM and llama.cpp need none) — the key always wins over a
configured ``Authorization``.

Requests (the client's OpenAI body, otherwise untouched):

======================  ===================================================================
``model``               replaced by the target's model
``tags``                dropped (LocalRouter's routing input, not OpenAI's)
``metadata``            dropped unless ``store: true`` on chat (OpenAI answers 400 "The
                        'metadata' parameter is only allowed when 'store' is enabled", and
                        its reference types it as at most 16 string → string pairs: other
                        shapes, used only for routing, are dropped too); always dropped on
                        legacy completions and embeddings, whose schemas have no such field
``stream``              ``true`` on the streaming calls, absent otherwise
``stream_options``      streams: the client's, with ``include_usage: true`` forced (the server
                        drops the usage chunk if the client did not ask); non-streaming calls:
                        dropped (OpenAI refuses it without ``stream``)
``encoding_format``     embeddings: always ``float`` (the server encodes base64 itself)
======================  ===================================================================

Answers are checked and filled by :mod:`localrouter.providers.openai_answers` so they validate
against OpenAI's published schemas even when a compatible server leaves fields out. Streams are
read event by event with ``httpx_sse`` and every chunk is yielded as it arrives; ``data:
[DONE]`` ends the stream; ``:`` comments (OpenRouter's ``: OPENROUTER PROCESSING``) are skipped.
An ``error`` object in a data event (OpenRouter mid-stream, vLLM's ``"object": "error"``) or an
``event: error`` raises ``UpstreamHTTPError`` (its ``code`` when it is an HTTP status, else 502);
a stream that ends without ``[DONE]`` and without any ``finish_reason`` raises
``UpstreamProtocolError``. A server that ignores ``stream`` and answers one JSON completion is
turned into chunks.

Errors: OpenAI's ``{"error": {"message", "type", "param", "code"}}`` → ``UpstreamHTTPError``
with the status, the ``code`` (or ``type``) and the message (redacted whole, then cut: see
:mod:`localrouter.providers.upstream_errors`); ``retry_after`` from ``retry-after-ms`` /
``retry-after``, else, on a 429, from the ``x-ratelimit-reset-*`` headers (``6m0s``, ``20ms``;
OpenRouter's ``X-RateLimit-Reset`` is an epoch in milliseconds).
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

import orjson

from localrouter.compiler.catalog import DiscoveredModel
from localrouter.compiler.table import Provider
from localrouter.errors import UpstreamHTTPError, UpstreamProtocolError
from localrouter.providers import openai_answers as answers
from localrouter.providers.base import Target
from localrouter.providers.http import json_body, read_body
from localrouter.providers.sse_read import sse_events
from localrouter.providers.transport import Headers, Transport
from localrouter.providers.upstream_errors import (
    ErrorParts,
    failures,
    http_error,
    message,
    parse_error,
    retry_after,
)
from localrouter.redaction import Redactor

Json = dict[str, Any]

DROPPED = frozenset({"tags", "metadata", "stream", "stream_options"})
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


# ---------------------------------------------------------------- requests


def _string_map(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def request_body(body: Json, model: str, *, kind: str, stream: bool = False) -> Json:
    """The body to send upstream: the client's, with the rules of the module docstring."""
    out = {k: v for k, v in body.items() if k not in DROPPED}
    out["model"] = model
    if kind == "chat" and body.get("store") is True and _string_map(body.get("metadata")):
        out["metadata"] = body["metadata"]
    if kind == "embeddings":
        out["encoding_format"] = "float"
    elif stream:
        options = body.get("stream_options")
        out["stream"] = True
        out["stream_options"] = {**(options if isinstance(options, dict) else {})}
        out["stream_options"]["include_usage"] = True
    return out


def request_headers(target: Target, *, stream: bool = False) -> dict[str, str]:
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream" if stream else "application/json",
    }
    headers.update({k.lower(): v for k, v in target.headers().items()})
    if target.api_key:
        headers["authorization"] = f"Bearer {target.api_key}"
    return headers


def endpoint_url(target: Target, path: str) -> str:
    return _joined(target.base_url, path)


@functools.lru_cache(maxsize=256)
def _joined(base_url: str, path: str) -> str:
    """An endpoint's URL, built once."""
    return f"{base_url.rstrip('/')}{path}"


# ---------------------------------------------------------------- errors


def _reset_seconds(value: str) -> float | None:
    """``6m0s`` / ``1.5s`` / ``20ms`` → seconds; a large integer is an epoch in milliseconds."""
    value = value.strip()
    if value.isdigit() and int(value) > 10**12:
        return max(0.0, int(value) / 1000 - time.time())
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return None
    return sum(float(n) * _UNIT[u] for n, u in parts)


def _wait(status: int, headers: Headers) -> float | None:
    """Seconds to wait: ``Retry-After`` first; on a 429 without it, the rate-limit resets."""
    found = retry_after(headers)
    if found is not None or status != 429:
        return found
    resets: dict[str, float] = {}
    for kind in ("requests", "tokens"):
        value = headers.get(f"x-ratelimit-reset-{kind}")
        seconds = _reset_seconds(value) if value else None
        if seconds is not None:
            resets[kind] = seconds
    spent = [s for k, s in resets.items() if headers.get(f"x-ratelimit-remaining-{k}") == "0"]
    value = headers.get("x-ratelimit-reset")  # OpenRouter: when its window resets
    reset = _reset_seconds(value) if value else None
    if spent:
        return max(spent)
    return reset if reset is not None else max(resets.values(), default=None)


def _describe(doc: object) -> tuple[str | None, int | None]:
    """(code or type, an HTTP status if the code is one) of an OpenAI-style error object."""
    err = doc.get("error", doc) if isinstance(doc, dict) else None
    if not isinstance(err, dict):
        return None, None
    code = err.get("code")
    if isinstance(code, int) and not isinstance(code, bool):  # OpenRouter: an HTTP status
        return None, code if 400 <= code <= 599 else None
    for label in (code, err.get("type")):
        if isinstance(label, str) and label:
            return label[:60], None
    return None, None


def error_parts(body: bytes) -> ErrorParts:
    """OpenAI's error body: its message (or the raw text) and its code or type as the label."""
    text = body.decode("utf-8", "replace").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        return ErrorParts(text)
    label, _ = _describe(doc)
    return ErrorParts(message(doc) or text, label)


def check_status(
    status: int, headers: Headers, body: bytes, provider: str, redactor: Redactor
) -> None:
    """Raise ``UpstreamHTTPError`` for an error status, before the body is used for anything."""
    if status >= 400:
        parts = error_parts(body)
        parts = ErrorParts(parts.text, parts.label, _wait(status, headers))
        raise http_error(provider, status, parts, redactor)


def stream_error(doc: Json, provider: str, redactor: Redactor) -> UpstreamHTTPError | None:
    """The error an event carries (``{"error": ...}`` or vLLM's ``"object": "error"``)."""
    if doc.get("error") is None and doc.get("object") != "error":
        return None
    label, status = _describe(doc)
    parts = ErrorParts(message(doc) or json.dumps(doc), label)
    return http_error(provider, status or 502, parts, redactor, said="failed mid-stream")


# ---------------------------------------------------------------- the adapter


class OpenAIAdapter:
    """Speaks OpenAI's API and its compatible copies (``wire: openai``). Stateless."""

    wire = "openai"

    async def _post(self, client: Transport, target: Target, path: str, body: Json) -> Json:
        p = target.provider
        with failures(p):
            answer = await client.post(
                endpoint_url(target, path),
                request_headers(target),
                orjson.dumps(body),
                limit=p.max_response_bytes,
            )
        check_status(answer.status, answer.headers, answer.body, p.name, target.redactor)
        name = p.name
        doc = json_body(answer.body, name)
        error = stream_error(doc, name, target.redactor)  # OpenRouter: 200 with an error
        if error is not None and not doc.get("choices") and not doc.get("data"):
            raise error
        return doc

    async def _events(
        self, client: Transport, target: Target, path: str, body: Json
    ) -> AsyncGenerator[tuple[str, Json], None]:
        """``("data", chunk)`` for each data event as soon as it is complete, then ``("done",
        {})`` at ``[DONE]``; ``("whole", answer)`` when the server ignored ``stream``."""
        name, redactor = target.provider.name, target.redactor
        headers = request_headers(target, stream=True)
        with failures(target.provider):
            async with client.stream(
                endpoint_url(target, path), headers, orjson.dumps(body)
            ) as response:
                check_status(response.status, response.headers, response.body, name, redactor)
                if response.headers.get("content-type", "").startswith("application/json"):
                    doc = json_body(await read_body(response, target.provider), name)
                    error = stream_error(doc, name, redactor)
                    if error is not None:
                        raise error
                    yield "whole", doc
                    return
                async with aclosing(sse_events(response, target.provider)) as events:
                    async for event in events:
                        data = event.data.strip()
                        if data == "[DONE]":
                            yield "done", {}
                            return
                        if not data:
                            continue
                        doc = json_body(data.encode(), name)
                        error = stream_error(doc, name, redactor)
                        if error is None and event.event == "error":
                            parts = parse_error(data.encode())
                            error = http_error(name, 502, parts, redactor, said="failed mid-stream")
                        if error is not None:
                            raise error
                        yield "data", doc

    async def _stream(
        self, client: Transport, target: Target, path: str, body: Json, legacy: bool
    ) -> AsyncIterator[Json]:
        name = target.provider.name
        kind = "completion" if legacy else "chat"
        payload = request_body(body, target.model, kind=kind, stream=True)
        chunks = answers.Chunks(target.model, name, legacy=legacy)
        done = False
        async with aclosing(self._events(client, target, path, payload)) as events:
            async for what, doc in events:
                if what == "done":
                    done = True
                    break
                if what == "whole":
                    for chunk in _as_chunks(doc, target, legacy):
                        yield chunk
                    return
                yield chunks.fix(doc)
        if not done and not chunks.finished:
            raise UpstreamProtocolError(
                f"{name} ended the stream before it finished", provider=name
            )

    async def chat(self, client: Transport, target: Target, body: Json) -> Json:
        payload = request_body(body, target.model, kind="chat")
        doc = await self._post(client, target, "/chat/completions", payload)
        return answers.chat_completion(doc, target.model, target.provider.name)

    def chat_stream(self, client: Transport, target: Target, body: Json) -> AsyncIterator[Json]:
        return self._stream(client, target, "/chat/completions", body, legacy=False)

    async def completion(self, client: Transport, target: Target, body: Json) -> Json:
        payload = request_body(body, target.model, kind="completion")
        doc = await self._post(client, target, "/completions", payload)
        return answers.text_completion(doc, target.model, target.provider.name)

    def completion_stream(
        self, client: Transport, target: Target, body: Json
    ) -> AsyncIterator[Json]:
        return self._stream(client, target, "/completions", body, legacy=True)

    async def embeddings(self, client: Transport, target: Target, body: Json) -> Json:
        payload = request_body(body, target.model, kind="embeddings")
        doc = await self._post(client, target, "/embeddings", payload)
        return answers.embedding_list(doc, target.model, target.provider.name, body.get("input"))

    async def list_models(
        self,
        client: Transport,
        provider: Provider,
        api_key: str | None,
        redactor: Redactor | None = None,
    ) -> list[DiscoveredModel]:
        target = Target(provider, "", api_key, known=redactor)
        with failures(provider):
            response = await client.get(
                endpoint_url(target, "/models"),
                request_headers(target),
                limit=provider.max_response_bytes,
            )
        check_status(
            response.status, response.headers, response.body, provider.name, target.redactor
        )
        try:
            doc = json.loads(response.body)
        except ValueError:
            raise UpstreamProtocolError(
                f"{provider.name} sent a model list that is not JSON", provider=provider.name
            ) from None
        found = (answers.discovered(e) for e in answers.model_entries(doc, provider.name))
        return [m for m in found if m is not None]


def _as_chunks(doc: Json, target: Target, legacy: bool) -> list[Json]:
    """A whole answer from a server that ignored ``stream``, as the chunks it would have sent."""
    name, model = target.provider.name, target.model
    if legacy:
        whole = answers.text_completion(doc, model, name)
        first = {k: v for k, v in whole.items() if k != "usage"}
        tail = [{**first, "choices": [], "usage": whole["usage"]}] if "usage" in whole else []
        return [first, *tail]
    whole = answers.chat_completion(doc, model, name)
    top = {"id": whole["id"], "object": "chat.completion.chunk"}
    top |= {"created": whole["created"], "model": whole["model"]}
    out: list[Json] = []
    for choice in whole["choices"]:
        msg, index = choice["message"], choice["index"]
        delta: Json = {"role": "assistant", "content": msg.get("content")}
        if msg.get("refusal") is not None:
            delta["refusal"] = msg["refusal"]
        if msg.get("tool_calls"):
            delta["tool_calls"] = [{**c, "index": i} for i, c in enumerate(msg["tool_calls"])]
        for delta_, reason in ((delta, None), ({}, choice["finish_reason"])):
            part = {"index": index, "delta": delta_, "logprobs": None, "finish_reason": reason}
            out.append({**top, "choices": [part]})
    if "usage" in whole:
        out.append({**top, "choices": [], "usage": whole["usage"]})
    return out
