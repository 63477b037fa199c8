"""The Anthropic adapter (Messages API): OpenAI requests ⇄ ``POST {base_url}/v1/messages``.

Every call sends ``x-api-key``, ``anthropic-version: 2023-06-01`` and a JSON body; the provider's
configured headers are added (and may override ``anthropic-version`` or add ``anthropic-beta``),
the key is always ours. ``base_url`` defaults to ``https://api.anthropic.com`` and may already end
in ``/v1``.

Requests are translated by :mod:`localrouter.providers.anthropic_request`, answers and streams by
:mod:`localrouter.providers.anthropic_stream` (the mapping tables are in their docstrings).
Streams are read event by event with ``httpx_sse`` and every event is translated as it arrives.
Legacy completions go through the Messages API (the prompt as one user turn) and come back as
``text_completion`` objects. Anthropic has no embeddings endpoint: 400. Model discovery pages
through ``GET /v1/models`` (``has_more`` / ``last_id`` → ``after_id``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from typing import Any, TypeVar

import orjson

from localrouter.compiler.catalog import DiscoveredModel
from localrouter.compiler.table import Provider
from localrouter.errors import RequestError
from localrouter.providers import anthropic_stream as answers
from localrouter.providers.anthropic_request import chat_request, completion_request
from localrouter.providers.base import Target
from localrouter.providers.http import json_body
from localrouter.providers.sse_read import sse_events
from localrouter.providers.transport import Transport
from localrouter.providers.upstream_errors import failures, unsupported
from localrouter.redaction import Redactor

Json = dict[str, Any]
T = TypeVar("T")

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
MAX_PAGES = 50
SAMPLING = ("temperature", "top_p", "top_k")


# ---------------------------------------------------------------- HTTP


def api_root(base_url: str | None) -> str:
    root = (base_url or DEFAULT_BASE_URL).rstrip("/")
    return root if root.endswith("/v1") else f"{root}/v1"


def request_headers(target: Target) -> dict[str, str]:
    """Every call's headers: ``anthropic-version``, the configured headers, our key."""
    headers = {"anthropic-version": API_VERSION, "content-type": "application/json"}
    headers.update({k.lower(): v for k, v in target.headers().items()})
    if target.api_key:
        headers["x-api-key"] = target.api_key
    return headers


def _for_version(headers: dict[str, str], payload: Json) -> Json:
    """API version 2026-10-21 removed the sampling parameters: drop them when it is configured."""
    if headers.get("anthropic-version", API_VERSION) >= "2026-10-21":
        return {k: v for k, v in payload.items() if k not in SAMPLING}
    return payload


def _translate(target: Target, build: Callable[[Json, str], T], body: Json) -> T:
    try:
        return build(body, target.model)
    except (RequestError, AttributeError, TypeError, KeyError) as exc:
        detail = str(exc) if isinstance(exc, RequestError) else "malformed request"
        raise unsupported(target.provider.name, detail) from None


class AnthropicAdapter:
    """Speaks the Anthropic Messages API (``wire: anthropic``). Stateless."""

    wire = "anthropic"

    async def _post(self, client: Transport, target: Target, payload: Json) -> Json:
        name = target.provider.name
        headers = request_headers(target)
        url = f"{api_root(target.base_url)}/messages"
        data, limit = (
            orjson.dumps(_for_version(headers, payload)),
            target.provider.max_response_bytes,
        )
        with failures(target.provider):
            answer = await client.post(url, headers, data, limit=limit)
        answers.check_status(answer.status, answer.headers, answer.body, name, target.redactor)
        return json_body(answer.body, name)

    async def _events(
        self, client: Transport, target: Target, payload: Json
    ) -> AsyncGenerator[tuple[str, Json], None]:
        """(event name, data) for each SSE event, as soon as it is complete."""
        name = target.provider.name
        url = f"{api_root(target.base_url)}/messages"
        headers = request_headers(target) | {"accept": "text/event-stream"}
        payload = {**_for_version(headers, payload), "stream": True}
        with failures(target.provider):
            async with client.stream(url, headers, orjson.dumps(payload)) as resp:
                answers.check_status(resp.status, resp.headers, resp.body, name, target.redactor)
                async with aclosing(sse_events(resp, target.provider)) as events:
                    async for event in events:
                        if event.data.strip():
                            yield event.event, json_body(event.data.encode(), name)

    async def _stream(
        self,
        client: Transport,
        target: Target,
        body: Json,
        build: Callable[[Json, str], Json],
        legacy: bool,
    ) -> AsyncIterator[Json]:
        payload = _translate(target, build, body)
        stream = answers.ChatStream(target.model, target.provider.name, target.redactor)
        async with aclosing(self._events(client, target, payload)) as events:
            async for event, data in events:
                for chunk in stream.feed(event, data):
                    out = answers.completion_chunk(chunk) if legacy else chunk
                    if out is not None:
                        yield out
        stream.end()  # raises if the stream ended before message_stop

    async def chat(self, client: Transport, target: Target, body: Json) -> Json:
        doc = await self._post(client, target, _translate(target, chat_request, body))
        return answers.chat_completion(doc, target.model, target.provider.name)

    def chat_stream(self, client: Transport, target: Target, body: Json) -> AsyncIterator[Json]:
        return self._stream(client, target, body, chat_request, legacy=False)

    async def completion(self, client: Transport, target: Target, body: Json) -> Json:
        doc = await self._post(client, target, _translate(target, completion_request, body))
        return answers.text_completion(doc, target.model, target.provider.name)

    def completion_stream(
        self, client: Transport, target: Target, body: Json
    ) -> AsyncIterator[Json]:
        return self._stream(client, target, body, completion_request, legacy=True)

    async def embeddings(self, client: Transport, target: Target, body: Json) -> Json:
        name = target.provider.name
        raise unsupported(name, "anthropic has no embeddings endpoint")

    async def list_models(
        self,
        client: Transport,
        provider: Provider,
        api_key: str | None,
        redactor: Redactor | None = None,
    ) -> list[DiscoveredModel]:
        target = Target(provider, "", api_key, known=redactor)
        url = f"{api_root(provider.base_url)}/models"
        found: list[DiscoveredModel] = []
        after: object = None
        for _ in range(MAX_PAGES):
            params: dict[str, str | int] = {"limit": 1000}
            if isinstance(after, str):
                params["after_id"] = after
            with failures(provider):
                response = await client.get(
                    url, request_headers(target), limit=provider.max_response_bytes, params=params
                )
            answers.check_status(
                response.status, response.headers, response.body, provider.name, target.redactor
            )
            doc = json_body(response.body, provider.name)
            entries = doc.get("data")
            for entry in entries if isinstance(entries, list) else []:
                model = answers.discovered(entry) if isinstance(entry, dict) else None
                if model is not None:
                    found.append(model)
            after = doc.get("last_id")
            if doc.get("has_more") is not True or not isinstance(after, str) or not after:
                break
        return found
