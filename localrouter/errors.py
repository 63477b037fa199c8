"""LocalRouter's exceptions. A leaf module: it imports nothing of ours.

    LocalRouterError
    ├── ConfigError            a config did not compile; carries its diagnostics
    ├── SecretError            a ${env:…}/${keyring:…} reference could not be resolved (names the
    │                          reference, never a value)
    ├── RequestDataError       a request's routing data (tags, headers, metadata) is over a bound:
    │                          answered 400 (431 for headers), see routing/client_data.py
    └── UpstreamError          a provider call failed
        ├── UpstreamConnectError   no connection, or it broke (refused, reset, cut mid-stream):
        │                          retryable
        ├── UpstreamTimeout        connect or read timeout: retryable
        ├── UpstreamHTTPError      the provider answered with an error status (retryable for
        │   │                      429 and 5xx; `retry_after` from its Retry-After header)
        │   └── UpstreamUnsupported  this provider cannot do what was asked (e.g. embeddings on
        │                          Anthropic, an image URL on Ollama): try the next candidate
        ├── UpstreamProtocolError  the provider's answer could not be understood (malformed JSON,
        │                          a broken stream): retryable
        └── UpstreamTooLarge       the answer passed one of the provider's size caps (a whole
                                   answer, one stream event or line): 502 `upstream_too_large`,
                                   the connection is closed, the next candidate is tried

Messages never contain a secret: adapters build them from status codes and the provider's own
error text, and redact anything that looks like a key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


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


class UpstreamTooLarge(UpstreamError):
    """The provider sent more than its cap allows: a whole answer over ``max_response_mb``, or
    one stream event (an SSE event, an NDJSON line) over ``max_event_kb``. Not retried on the
    same provider (it would send the same again): the next candidate is tried."""

    retryable = False
    code = "upstream_too_large"

    def __init__(self, message: str, *, provider: str = "") -> None:
        super().__init__(message, provider=provider, status=502)
