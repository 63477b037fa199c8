"""What a dialect gives the serving core: parse a request, encode its outcome, answer errors.

A :class:`Dialect` turns a request body into a :class:`Parsed` request (or a
:class:`~localrouter.server.pipeline.Failure`, its 400); the parsed request carries what the
pipeline needs (the payload each call sends, the routing facts, whether it streams) and knows how
to read a non-streamed answer (:meth:`Parsed.finish`) and to encode the outcome
(:meth:`Parsed.reply`). Errors before a request is parsed — a wrong key, a body too large —
are answered with :meth:`Dialect.error`, in the dialect's own envelope.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from localrouter.server.errors import error_response

if TYPE_CHECKING:
    from localrouter.routing.facts import RequestFacts
    from localrouter.runtime.response_store import ResponseStore
    from localrouter.server.dispatch import Payload, Served
    from localrouter.server.pipeline import Failure, Finished, Outcome
    from localrouter.server.reply import Reply

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent the request, and what of the gateway's state a dialect may read for it."""

    client: str  # the authenticated client's name
    store: ResponseStore | None = None  # stored responses (the Responses API's)


class Parsed(Protocol):
    @property
    def payload(self) -> Payload: ...

    @property
    def facts(self) -> RequestFacts: ...

    @property
    def stream(self) -> bool: ...

    def finish(self, served: Served, result: Json) -> Finished: ...

    def reply(self, outcome: Outcome) -> Reply: ...


class Dialect(Protocol):
    name: str

    async def parse(
        self, operation: str, body: Json, headers: Mapping[str, str], caller: Caller
    ) -> Parsed | Failure:
        """``body`` (a JSON object) as a gateway request, or the 400 that refuses it."""
        ...

    def error(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply: ...


class Envelope:
    """A dialect's answers to refusals: :meth:`failure` answers a
    :class:`~localrouter.server.pipeline.Failure` with the dialect's own :meth:`error`."""

    def error(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        raise NotImplementedError

    def failure(self, f: Failure) -> Reply:
        return self.error(f.status, f.message, code=f.code, param=f.param, headers=f.headers)


class OpenAIEnvelope(Envelope):
    """Errors in OpenAI's envelope (the chat and the Responses dialects)."""

    def error(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        return error_response(status, message, code=code, param=param, headers=headers)
