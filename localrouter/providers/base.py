"""The provider adapter contract: one module per wire format speaks it.

The gateway's own format is OpenAI's: requests arrive as OpenAI chat/completions/embeddings
bodies (plain dicts, already parsed), and every adapter returns OpenAI-shaped dicts — a
``chat.completion``, a stream of ``chat.completion.chunk`` objects, a ``text_completion``, an
embedding ``list`` — so the server never knows which provider answered. Adapters translate both
ways; the OpenAI adapter passes through.

Adapters are stateless. They are handed a :class:`~localrouter.providers.transport.Transport`
(pooled, one per provider as configured, owned by the server's lifespan; tests hand one pointed at
a fake provider, or an in-memory one) and a :class:`Target`. They
raise only :mod:`localrouter.errors` ``Upstream*`` errors, with messages built from status codes and
the provider's own error text — never a request header, never the API key.

Streams: ``chat_stream`` is an async generator. It requests usage from the provider whenever the
provider can report it (OpenAI: ``stream_options.include_usage``), and the LAST chunk it yields
carries ``usage`` when known; the server decides whether the client sees it. An error before the
first chunk raises (the server may retry or fall back); an error after it also raises, and the
server turns it into one in-band error event. Cancelling the generator (client disconnect) must
close the upstream response promptly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from localrouter.compiler.catalog import DiscoveredModel
from localrouter.compiler.table import Provider
from localrouter.providers.transport import Transport
from localrouter.redaction import Redactor

Json = dict[str, Any]


@dataclass(frozen=True)
class Target:
    """Where one call goes: the provider (from the table), the provider's model name, the key."""

    provider: Provider
    model: str
    api_key: str | None = field(default=None, repr=False)
    # configured headers whose values are secret references, resolved (never shown in a repr)
    secret_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    # every secret the server resolved (all providers'), for the error path; None: this
    # target's own key and secret headers only (e.g. a model listing)
    known: Redactor | None = field(default=None, repr=False, compare=False)
    capabilities: tuple[str, ...] = ()  # the model's, as the catalog lists them

    @property
    def redactor(self) -> Redactor:
        """What an error's upstream text is redacted with (built here only when not given)."""
        if self.known is not None:
            return self.known
        return Redactor((self.api_key, *self.secret_headers.values()))

    @property
    def base_url(self) -> str:
        return self.provider.base_url or ""

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The provider's configured headers (secret references resolved), plus ``extra``."""
        out = {k: v for k, v in self.provider.headers.items() if isinstance(v, str)}
        out.update(self.secret_headers)
        out.update(extra or {})
        return out


class Adapter(Protocol):
    """One wire format. Every method takes the pooled client and the target."""

    wire: str

    async def chat(self, client: Transport, target: Target, body: Json) -> Json:
        """A non-streaming chat completion, as an OpenAI ``chat.completion`` object."""
        ...

    def chat_stream(self, client: Transport, target: Target, body: Json) -> AsyncIterator[Json]:
        """OpenAI ``chat.completion.chunk`` objects as they arrive; usage on the last."""
        ...

    async def completion(self, client: Transport, target: Target, body: Json) -> Json:
        """A legacy text completion, as an OpenAI ``text_completion`` object."""
        ...

    def completion_stream(
        self, client: Transport, target: Target, body: Json
    ) -> AsyncIterator[Json]:
        """Legacy completion chunks (``text_completion`` objects); usage on the last."""
        ...

    async def embeddings(self, client: Transport, target: Target, body: Json) -> Json:
        """An OpenAI embedding ``list`` object."""
        ...

    async def list_models(
        self,
        client: Transport,
        provider: Provider,
        api_key: str | None,
        redactor: Redactor | None = None,
    ) -> list[DiscoveredModel]:
        """The provider's model list (for discovery and health checks); ``redactor``: every
        secret the server resolved, for the error's text (default: this provider's key)."""
        ...
