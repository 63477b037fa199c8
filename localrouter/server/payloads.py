"""What one call to a candidate sends, by operation: the seam between a dialect's request and an
adapter's methods.

* :class:`OpenAIPayload` — chat, completions, embeddings: the OpenAI body, through the adapter of
  the provider's wire format (which translates it when the provider speaks another).
* :class:`MessagesPayload` — an Anthropic Messages request: to a provider that speaks Anthropic's
  wire it is forwarded as the client sent it (only ``model`` changed: thinking signatures and
  ``cache_control`` markers arrive intact, the stream comes back as sent); to any other provider
  it is translated to an OpenAI chat body once, when the first such candidate is reached, and what
  the translation could not carry is named (``dropped``), signed thinking blocks among it.

A call returns :class:`Called`: the answer (or the first item and the rest of a stream) and the
``form`` its items are in — ``openai`` (``chat.completion`` objects and chunks) or ``anthropic``
(a Messages answer and :class:`~localrouter.providers.anthropic_native.NativeEvent` items).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from localrouter.compiler.table import Provider
from localrouter.errors import UpstreamProtocolError, UpstreamUnsupported
from localrouter.providers import anthropic_native, openai_responses
from localrouter.providers.base import Json, Target
from localrouter.providers.registry import adapter_for

Operation = Literal["chat", "completion", "embeddings", "messages"]
Form = Literal["openai", "anthropic", "responses"]

_METHODS: dict[tuple[str, bool], str] = {
    ("chat", False): "chat",
    ("chat", True): "chat_stream",
    ("completion", False): "completion",
    ("completion", True): "completion_stream",
    ("embeddings", False): "embeddings",
}


@dataclass
class Called:
    form: Form
    result: Json | None = None  # a non-streamed answer
    first: Any = None  # a stream's first item
    rest: AsyncGenerator[Any, None] | None = None  # the rest of the stream
    dropped: tuple[str, ...] = ()  # what a translation could not carry


async def _first(gen: Any, target: Target) -> tuple[Any, Any]:
    """A stream's first item (the call is committed only once it arrives), and the rest."""
    try:
        first = await gen.__anext__()
    except StopAsyncIteration:
        raise UpstreamProtocolError(
            f"{target.provider.name} ended the stream before any data",
            provider=target.provider.name,
        ) from None
    except BaseException:
        await gen.aclose()
        raise
    return first, gen


class OpenAIPayload:
    __slots__ = ("body", "operation")
    metered = True  # holds limits

    def __init__(self, operation: Operation, body: Json) -> None:
        self.operation = operation
        self.body = body

    async def call(self, client: Any, target: Target, stream: bool) -> Called:
        adapter = adapter_for(target.provider.wire)
        method = getattr(adapter, _METHODS[(self.operation, stream)])
        if not stream:
            return Called("openai", await method(client, target, self.body))
        first, rest = await _first(method(client, target, self.body), target)
        return Called("openai", first=first, rest=rest)


class Translation(Protocol):
    """How a dialect's body becomes an OpenAI chat body (given by the dialect: the server
    imports no dialect)."""

    def refusal(self, body: Json) -> str | None:
        """Why ``body`` cannot go to a provider of another wire at all, or None."""
        ...

    def to_chat(self, body: Json, *, stream: bool) -> Any:
        """The chat body and what it could not carry (``.body``, ``.dropped``)."""
        ...


class MessagesPayload:
    """An Anthropic Messages request (see the module doc); ``headers``: the client's headers a
    forward passes on (``anthropic-version``, ``anthropic-beta``)."""

    __slots__ = ("_chat", "_native", "_translate", "body", "headers")
    metered = True

    def __init__(self, body: Json, headers: Mapping[str, str], translate: Translation) -> None:
        self.body = body
        self.headers = headers
        self._translate = translate
        self._chat: Any = None
        self._native: tuple[Json, tuple[str, ...]] | None = None

    @staticmethod
    def native(provider: Provider) -> bool:
        return provider.wire == "anthropic"

    def translated(self, stream: bool) -> Any:
        if self._chat is None:
            self._chat = self._translate.to_chat(self.body, stream=stream)
        return self._chat

    def forwarded(self) -> tuple[Json, tuple[str, ...]]:
        """The body an Anthropic provider gets: as sent, less thinking blocks with no signature
        (LocalRouter's own translations of another provider's reasoning, which Anthropic would
        refuse)."""
        if self._native is None:
            body = without_unsigned_thinking(self.body)
            self._native = (body, ("unsigned thinking",) if body is not self.body else ())
        return self._native

    async def call(self, client: Any, target: Target, stream: bool) -> Called:
        if self.native(target.provider):
            body, dropped = self.forwarded()
            if not stream:
                answer = await anthropic_native.messages(client, target, body, self.headers)
                return Called("anthropic", answer, dropped=dropped)
            gen = anthropic_native.messages_stream(client, target, body, self.headers)
            first, rest = await _first(gen, target)
            return Called("anthropic", first=first, rest=rest, dropped=dropped)
        refusal = self._translate.refusal(self.body)
        if refusal is not None:  # only an Anthropic provider can serve it: the next candidate
            raise UpstreamUnsupported(
                f"{target.provider.name} cannot serve this request ({refusal})",
                provider=target.provider.name,
            )
        chat = self.translated(stream)
        adapter = adapter_for(target.provider.wire)
        if not stream:
            answer = await adapter.chat(client, target, chat.body)
            return Called("openai", answer, dropped=chat.dropped)
        first, rest = await _first(adapter.chat_stream(client, target, chat.body), target)
        return Called("openai", first=first, rest=rest, dropped=chat.dropped)


def without_unsigned_thinking(body: Json) -> Json:
    """``body`` less the thinking blocks whose ``signature`` is empty (a new body only when
    there were some; the client's body is never changed)."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return body
    out: list[Any] | None = None
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list) or message.get("role") != "assistant":
            continue
        kept = [b for b in content if not _unsigned(b)]
        if len(kept) != len(content):
            if out is None:
                out = list(messages)
            out[i] = {**message, "content": kept}
    return body if out is None else {**body, "messages": out}


def _unsigned(block: object) -> bool:
    return (
        isinstance(block, dict) and block.get("type") == "thinking" and not block.get("signature")
    )


class ResponsesPayload:
    """A Responses API request: sent as it is (``native``, its conversation already expanded)
    to a provider that serves the Responses API, else as its chat translation (``chat``: the
    body, what it dropped, what only a native provider could serve)."""

    __slots__ = ("chat", "native")
    metered = True

    def __init__(self, native: Json, chat: Any) -> None:
        self.native = native
        self.chat = chat

    @staticmethod
    def serves_natively(target: Target) -> bool:
        return target.provider.type == "openai" or "responses" in target.capabilities

    async def call(self, client: Any, target: Target, stream: bool) -> Called:
        if self.serves_natively(target):
            if not stream:
                answer = await openai_responses.respond(client, target, self.native)
                return Called("responses", answer)
            gen = openai_responses.respond_stream(client, target, self.native)
            first, rest = await _first(gen, target)
            return Called("responses", first=first, rest=rest)
        name = target.provider.name
        if self.chat.refused:
            raise UpstreamUnsupported(
                f"{name} cannot serve this request ({'; '.join(self.chat.refused)}): only a "
                "provider that serves the Responses API natively can",
                provider=name,
            )
        dropped = self.chat.dropped
        body = self.chat.body
        if "reasoning_effort" in body and target.provider.wire in _NO_EFFORT:
            dropped = (*dropped, "reasoning.effort")
        adapter = adapter_for(target.provider.wire)
        if not stream:
            return Called("openai", await adapter.chat(client, target, body), dropped=dropped)
        first, rest = await _first(adapter.chat_stream(client, target, body), target)
        return Called("openai", first=first, rest=rest, dropped=dropped)


# the adapters that have no equivalent of reasoning_effort (the others map it)
_NO_EFFORT = frozenset({"anthropic", "mock"})


class CountTokensPayload:
    """``count_tokens``: counted by an Anthropic provider, else LocalRouter's ``estimate``."""

    __slots__ = ("body", "estimate", "headers")
    metered = False  # generates nothing: holds no limits

    def __init__(self, body: Json, headers: Mapping[str, str], estimate: int) -> None:
        self.body = body
        self.headers = headers
        self.estimate = estimate

    async def call(self, client: Any, target: Target, stream: bool) -> Called:
        if MessagesPayload.native(target.provider):
            body = {k: v for k, v in self.body.items() if k not in _NOT_COUNTED}
            answer = await anthropic_native.count_tokens(client, target, body, self.headers)
            return Called("anthropic", answer)
        return Called("anthropic", {"input_tokens": self.estimate})


# fields of a Messages request that count_tokens does not take
_NOT_COUNTED = frozenset({"max_tokens", "stream", "stop_sequences", "temperature", "top_p",
                          "top_k", "metadata", "service_tier"})  # fmt: skip
