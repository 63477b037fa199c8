"""LocalRouter's exceptions, every one a caller can catch. A leaf module: it imports nothing of
ours (a type it would name is a structural Protocol here, never an import).

    LocalRouterError
    ├── ConfigError            a config did not compile; carries its diagnostics
    ├── SecretError            a ${env:…}/${keyring:…} reference could not be resolved (names the
    │                          reference, never a value)
    ├── RequestDataError       a request's routing data (tags, headers, metadata) is over a bound:
    │                          answered 400 (431 for headers), see routing/client_data.py
    ├── StateFileError         a file in state_dir cannot be used; str() is the one line `serve`
    │   │                      prints to refuse to start (commands/serve.py)
    │   ├── LimitStateError        limits.sqlite3 is unreadable, corrupt or not ours
    │   │                          (runtime/persist.py): limits fail closed
    │   ├── GenerationStateError   generations.sqlite3 cannot be opened (generations.py)
    │   └── ResponseStateError     responses/responses.sqlite3 cannot be opened
    │                              (runtime/response_store.py)
    ├── McpError               a tool call (or list, read, get) behind /mcp was refused or failed;
    │   │                      `reason` is what the MCP client is told (never a secret), `code`
    │   │                      the JSON-RPC error code, `status` the access log's (mcp/calls.py)
    │   └── McpUnavailable     the server has no session (starting, failed, removed by a
    │                          reload) (mcp/upstream.py)
    └── UpstreamError          a provider call failed
        ├── UpstreamConnectError   no connection, or it broke (refused, reset, cut mid-stream):
        │                          retryable
        ├── UpstreamTimeout        connect or read timeout: retryable
        ├── UpstreamHTTPError      the provider answered with an error status (retryable for
        │   │                      429 and 5xx; `retry_after` from its Retry-After header)
        │   └── UpstreamUnsupported  this provider cannot do what was asked (e.g. embeddings on
        │       │                  Anthropic, an image URL on Ollama): try the next candidate
        │       └── Refused        a request Ollama cannot express, raised before anything is sent
        │                          (providers/ollama_request.py, ollama.py)
        ├── UpstreamProtocolError  the provider's answer could not be understood (malformed JSON,
        │                          a broken stream): retryable
        └── UpstreamTooLarge       the answer passed one of the provider's size caps (a whole
                                   answer, one stream event or line): 502 `upstream_too_large`,
                                   the connection is closed, the next candidate is tried

    Outside LocalRouterError, each under the standard base its handlers catch it by (moved under
    LocalRouterError, its message would be shown whole where runtime/health.py and
    runtime/catalog.py show only the type of an error that is not ours):

    ValueError
    ├── RequestError           an OpenAI request a provider's translation cannot express
    │                          (providers/anthropic_request.py, gemini_request.py); the adapter
    │                          answers it as UpstreamUnsupported (400, next candidate)
    ├── Untranslatable         an Anthropic request only an Anthropic provider can serve, with
    │                          `param` (dialects/anthropic_to_chat.py): the candidate is passed over
    ├── StreamShapeError       chat chunks that Anthropic's stream events cannot express
    │                          (dialects/anthropic_events.py): UpstreamProtocolError, in-band
    ├── DecodingError          an answer's compressed body does not inflate (providers/inflate.py)
    │   └── ContentEncodingError   an answer in an encoding not inflated in bounded steps;
    │                          both become UpstreamProtocolError (providers/upstream_errors.py)
    └── EditError              a `clients:` edit cannot be made on this text (config/edit.py,
                               config/client_edits.py): `localrouter keys` prints it and exits
                               1, the admin API answers 409
    RuntimeError
    └── SecretStoreError       the encrypted secrets file cannot be used: its key is missing or
                               wrong, it is damaged (keystore.py)
    Exception
    ├── BodyTooLarge           a success's body passed the limit it was read within
    │                          (providers/transport.py, transport_memory.py): UpstreamTooLarge
    ├── ClientGone             the client disconnected before its request body arrived
    │                          (server/incoming.py): the request is dropped, nothing is answered
    └── Exhausted              no candidate answered, with every Attempt (server/dispatch.py):
                               the pipeline answers its `status` (400/413/429/502/503/504)
    BaseException
    └── JobAbandoned           raised inside an overrunning job's thread to stop it
                               (server/bounded.py); not an Exception, so no job swallows it

Private control flow stays where it is raised: an exception named with a leading underscore that
is raised and caught in one module (config/source.py `_Hostile`, mcp/skills.py `_StepFailed`,
server/http_servers.py `_HeadTooLarge`), and `Fail`, raised by the Anthropic body checks
(dialects/anthropic_check_types.py) and always caught by ``anthropic_check.check``, which returns
the problem instead. None of them reaches a caller; every other exception class lives here.

Messages never contain a secret: adapters build them from status codes and the provider's own
error text, and redact anything that looks like a key.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol


class LocalRouterError(Exception):
    """Base of every error LocalRouter raises on purpose."""


class ConfigError(LocalRouterError):
    def __init__(self, message: str, diagnostics: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.diagnostics = tuple(diagnostics)


class SecretError(LocalRouterError):
    def __init__(self, reference: str, reason: str) -> None:
        super().__init__(f"secret {reference} is not available: {reason}")
        self.reference = reference


class RequestDataError(LocalRouterError):
    """Client data that routing would read is over a bound; ``status`` is the HTTP answer."""

    def __init__(self, message: str, *, status: int = 400, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.param = param


# ---------------------------------------------------------------- state files


class StateFileError(LocalRouterError):
    """A file in ``state_dir`` cannot be used; ``str()`` is one line: the file and how to
    recover."""

    def __init__(self, path: Path | str, reason: str, message: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(message)


class LimitStateError(StateFileError):
    """The runtime state file cannot be read or written. Limits fail closed."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(
            path,
            reason,
            f"rate-limit state file {path} cannot be used: {reason}. LocalRouter will not start "
            f"with spent budgets reset to zero. To recover, restore the file from a backup, or "
            f"move it (and {path}-wal, {path}-shm if present) aside to start with empty counters "
            f"— budgets already spent in the current windows, circuit breakers and health "
            f"history are then forgotten.",
        )


class GenerationStateError(StateFileError):
    """``generations.sqlite3`` cannot be opened or is not a database of ours; ``kept_days`` is
    how long its records are kept (``generations.RETENTION_S``), named in the message."""

    def __init__(self, path: Path, reason: str, *, kept_days: int) -> None:
        super().__init__(
            path,
            reason,
            f"generation records file {path} cannot be used: {reason}. To recover, move it (and "
            f"{path}-wal, {path}-shm if present) aside: LocalRouter then starts an empty one, and "
            f"the records /v1/generation answers from (kept {kept_days} days) are lost.",
        )


class ResponseStateError(StateFileError):
    """``responses/responses.sqlite3`` (the stored responses) cannot be opened or is not a
    database of ours."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            path,
            reason,
            f"stored responses file {path} cannot be used: {reason}. To recover, move it (and "
            f"{path}-wal, {path}-shm if present) aside: LocalRouter then starts an empty one, and "
            "the responses stored so far can no longer be read or continued.",
        )


# ---------------------------------------------------------------- MCP servers


class McpError(LocalRouterError):
    """A request behind ``/mcp`` refused or failed: ``reason`` (what the client is told),
    ``code`` (JSON-RPC; default -32603, internal error) and ``status`` (the access log's)."""

    def __init__(self, server: str, reason: str, *, code: int = -32603, status: int = 502) -> None:
        super().__init__(reason)
        self.server = server
        self.reason = reason
        self.code = code
        self.status = status


class McpUnavailable(McpError):
    """The server has no ready session: starting, failed (``reason`` says why) or removed by a
    reload."""

    def __init__(self, server: str, reason: str) -> None:
        super().__init__(server, f"MCP server '{server}' is unavailable: {reason}", status=503)


# ---------------------------------------------------------------- upstream calls


class UpstreamError(LocalRouterError):
    """A provider call failed. ``status`` is the provider's HTTP status when it answered."""

    retryable: bool = True
    code: str | None = None  # the error envelope's `code` when this failure decides the answer

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status
        self.retry_after = retry_after


class UpstreamConnectError(UpstreamError):
    pass


class UpstreamTimeout(UpstreamError):
    pass


class UpstreamHTTPError(UpstreamError):
    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider, status=status, retry_after=retry_after)
        self.retryable = status is not None and (status == 429 or status >= 500)


class UpstreamProtocolError(UpstreamError):
    pass


class UpstreamUnsupported(UpstreamHTTPError):
    """The request is fine, this provider just cannot serve it: the next candidate may."""

    def __init__(self, message: str, *, provider: str = "") -> None:
        super().__init__(message, provider=provider, status=400)
        self.retryable = False


class Refused(UpstreamUnsupported):
    """A request Ollama cannot express (raised before anything is sent)."""

    def __init__(self, provider: str, what: str) -> None:
        super().__init__(f"{provider}: {what}", provider=provider)


class UpstreamTooLarge(UpstreamError):
    """The provider sent more than its cap allows: a whole answer over ``max_response_mb``, or
    one stream event (an SSE event, an NDJSON line) over ``max_event_kb``. Not retried on the
    same provider (it would send the same again): the next candidate is tried."""

    retryable = False
    code = "upstream_too_large"

    def __init__(self, message: str, *, provider: str = "") -> None:
        super().__init__(message, provider=provider, status=502)


# ---------------------------------------------------------------- outside LocalRouterError


class RequestError(ValueError):
    """The OpenAI request cannot be expressed for the provider a translation builds it for
    (Anthropic, Gemini); the adapter answers it as a 400 of that provider."""


class Untranslatable(ValueError):
    """The request asks for what only an Anthropic provider does (answered by passing the
    candidate over; ``param`` names the field)."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class StreamShapeError(ValueError):
    """The chunks cannot be expressed as Anthropic events (a tool call resumed late)."""


class DecodingError(ValueError):
    """A compressed body that does not inflate."""


class ContentEncodingError(DecodingError):
    """An answer in a ``Content-Encoding`` that is not inflated in bounded steps."""


class EditError(ValueError):
    """The edit cannot be made on this text (what, and how to fix it)."""


class SecretStoreError(RuntimeError):
    """The encrypted file cannot be used (its key is missing or wrong, it is damaged)."""


class BodyTooLarge(Exception):
    """A success's body passed the ``limit`` it was read within (the connection is closed)."""


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


class _Attempt(Protocol):
    """What :class:`Exhausted` needs of a try (``server.dispatch.Attempt``): its record."""

    def as_dict(self) -> dict[str, Any]: ...


class Exhausted(Exception):
    """No candidate answered. ``status``: 400 or 413 (the request's fault), 429, 502, 503 or
    504. ``attempts``: every try, in order (``server.dispatch.Attempt``)."""

    def __init__(
        self,
        status: int,
        message: str,
        attempts: Sequence[_Attempt],
        retry_after: float | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.attempts = attempts
        self.retry_after = retry_after
        self.code = code  # the envelope's code when one kind of failure decided it


class JobAbandoned(BaseException):  # a stop request, not an error of the job
    """Raised inside an abandoned job's thread to stop it (a BaseException, so that no
    ``except Exception`` in the job swallows it)."""
