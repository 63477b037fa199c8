"""The Gemini adapter (Google AI Gemini API, v1beta): OpenAI requests ⇄ ``generateContent``.

Endpoints under ``{base_url}/v1beta`` (``base_url`` may already end in a version such as
``/v1beta``): ``models/{model}:generateContent``, ``:streamGenerateContent?alt=sse`` (SSE, one
``GenerateContentResponse`` per event), ``:batchEmbedContents`` and ``GET models`` (paged by
``pageToken``). The key goes in ``x-goog-api-key``, never in the URL.

Requests are translated by :mod:`~localrouter.providers.gemini_request`, answers and streams by
:mod:`~localrouter.providers.gemini_stream` (the mapping tables are in their docstrings). Legacy
completions go through ``generateContent`` (the prompt as one user turn) and come back as
``text_completion``. Embeddings: ``input`` (a string or a list of strings) →
``batchEmbedContents`` (``dimensions`` → ``outputDimensionality``), answered as OpenAI does,
``encoding_format: base64`` included (little-endian float32); Gemini reports no embedding token
counts, so usage is then estimated (``usage.estimated: true``). The model list keeps the models
that can generate or embed: ``models/`` stripped, ``inputTokenLimit`` → ``context_window``,
``supportedGenerationMethods`` → capabilities.
"""

from __future__ import annotations

import base64
import math
import re
import struct
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from typing import Any, TypeVar

import orjson

from localrouter.compiler.catalog import DiscoveredModel
from localrouter.compiler.table import Provider
from localrouter.errors import RequestError, UpstreamProtocolError
from localrouter.providers import gemini_stream as answers
from localrouter.providers import shapes
from localrouter.providers.base import Target
from localrouter.providers.gemini_request import (
    chat_request,
    completion_request,
    embedding_inputs,
)
from localrouter.providers.http import json_body
from localrouter.providers.sse_read import sse_events
from localrouter.providers.transport import Transport
from localrouter.providers.upstream_errors import failures, unsupported
from localrouter.redaction import Redactor

Json = dict[str, Any]
T = TypeVar("T")

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
_VERSIONED = re.compile(r"/v\d+(?:alpha|beta)?\d*$")
MAX_PAGES = 100


def _json(body: bytes, provider: str) -> Json:
    return dict(json_body(body, provider))


def api_root(base_url: str | None) -> str:
    root = (base_url or DEFAULT_BASE_URL).rstrip("/")
    return root if _VERSIONED.search(root) else f"{root}/v1beta"


def model_path(model: str) -> str:
    return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"


def _headers(target: Target) -> dict[str, str]:
    return target.headers({"x-goog-api-key": target.api_key} if target.api_key else None)


def _translate(target: Target, build: Callable[[Json, str], T], body: Json) -> T:
    try:
        return build(body, target.model)
    except (RequestError, AttributeError, TypeError, KeyError) as exc:
        detail = str(exc) if isinstance(exc, RequestError) else "malformed request"
        raise unsupported(target.provider.name, detail) from None


def _event_doc(data: str, target: Target) -> Json:
    """One SSE event's response; an in-stream ``{"error": …}`` event raises."""
    name = target.provider.name
    doc = _json(data.encode(), name)
    err = doc.get("error")
    if isinstance(err, dict):
        code = err.get("code")
        status = code if isinstance(code, int) else 500
        raise answers.http_error(data.encode(), status, name, target.redactor)
    return doc


class GeminiAdapter:
    """Speaks the Gemini API (``wire: gemini``). Stateless."""

    wire = "gemini"

    def _url(self, target: Target, method: str) -> str:
        return f"{api_root(target.base_url)}/{model_path(target.model)}:{method}"

    async def _post(self, client: Transport, target: Target, method: str, payload: Json) -> Json:
        headers = {"content-type": "application/json", **_headers(target)}
        p = target.provider
        with failures(p):
            answer = await client.post(
                self._url(target, method),
                headers,
                orjson.dumps(payload),
                limit=p.max_response_bytes,
            )
        answers.check_status(answer.status, answer.headers, answer.body, p.name, target.redactor)
        return _json(answer.body, p.name)

    async def _events(
        self, client: Transport, target: Target, payload: Json
    ) -> AsyncGenerator[Json, None]:
        """The streamed responses, each as soon as its SSE event is complete."""
        name = target.provider.name
        url = self._url(target, "streamGenerateContent") + "?alt=sse"
        headers = {"content-type": "application/json", **_headers(target)}
        with failures(target.provider):
            async with client.stream(url, headers, orjson.dumps(payload)) as response:
                answers.check_status(
                    response.status, response.headers, response.body, name, target.redactor
                )
                async with aclosing(sse_events(response, target.provider)) as sse:
                    async for event in sse:
                        if event.data.strip():
                            yield _event_doc(event.data, target)

    async def chat(self, client: Transport, target: Target, body: Json) -> Json:
        payload = _translate(target, chat_request, body)
        doc = await self._post(client, target, "generateContent", payload)
        return answers.chat_completion(doc, target.model, target.provider.name)

    async def chat_stream(
        self, client: Transport, target: Target, body: Json
    ) -> AsyncIterator[Json]:
        payload = _translate(target, chat_request, body)
        stream = answers.ChatStream(target.model, target.provider.name)
        async with aclosing(self._events(client, target, payload)) as events:
            async for doc in events:
                for chunk in stream.feed(doc):
                    yield chunk
        for chunk in stream.end():
            yield chunk

    async def completion(self, client: Transport, target: Target, body: Json) -> Json:
        payload = _translate(target, completion_request, body)
        doc = await self._post(client, target, "generateContent", payload)
        return answers.text_completion(doc, target.model, target.provider.name)

    async def completion_stream(
        self, client: Transport, target: Target, body: Json
    ) -> AsyncIterator[Json]:
        payload = _translate(target, completion_request, body)
        stream = answers.CompletionStream(target.model, target.provider.name)
        async with aclosing(self._events(client, target, payload)) as events:
            async for doc in events:
                for chunk in stream.feed(doc):
                    yield chunk
        for chunk in stream.end():
            yield chunk

    async def embeddings(self, client: Transport, target: Target, body: Json) -> Json:
        texts = _translate(target, embedding_inputs, body)
        model = model_path(target.model)
        requests: list[Json] = []
        for text in texts:
            request: Json = {"model": model, "content": {"parts": [{"text": text}]}}
            if body.get("dimensions"):
                request["outputDimensionality"] = body["dimensions"]
            requests.append(request)
        doc = await self._post(client, target, "batchEmbedContents", {"requests": requests})
        name = target.provider.name
        items = doc.get("embeddings")
        if not isinstance(items, list) or len(items) != len(texts):
            raise UpstreamProtocolError(
                f"{name} sent the wrong number of embeddings", provider=name
            )
        vectors = [item.get("values") if isinstance(item, dict) else None for item in items]
        if not all(isinstance(v, list) for v in vectors):
            raise UpstreamProtocolError(f"{name} sent an embedding without values", provider=name)
        meta = doc.get("usageMetadata")
        reported = meta.get("promptTokenCount") if isinstance(meta, dict) else None
        tokens = (
            reported if isinstance(reported, int) else sum(math.ceil(len(t) / 4) for t in texts)
        )
        out = shapes.embedding_list(target.model, vectors, tokens)  # type: ignore[arg-type]
        if not isinstance(reported, int):
            out["usage"]["estimated"] = True
        if body.get("encoding_format") == "base64":
            for item in out["data"]:
                vec = item["embedding"]
                item["embedding"] = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()
        return out

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
        token: object = None
        for _ in range(MAX_PAGES):
            params: dict[str, str | int] = {"pageSize": 1000}
            if isinstance(token, str):
                params["pageToken"] = token
            with failures(provider):
                response = await client.get(
                    url, _headers(target), limit=provider.max_response_bytes, params=params
                )
            answers.check_status(
                response.status, response.headers, response.body, provider.name, target.redactor
            )
            doc = _json(response.body, provider.name)
            for entry in doc.get("models") or []:
                model = answers.discovered(entry) if isinstance(entry, dict) else None
                if model is not None:
                    found.append(model)
            token = doc.get("nextPageToken")
            if not isinstance(token, str) or not token:
                break
        return found
