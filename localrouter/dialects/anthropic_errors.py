"""Anthropic's error envelope, for the Messages ingress (``/v1/messages``).

Every error the ingress answers, as an HTTP body or as an in-band SSE ``error`` event, has
Anthropic's shape::

    {"type": "error", "error": {"type": "invalid_request_error", "message": "..."},
     "request_id": "..."}

``request_id`` is the gateway's own request id (the ``x-request-id`` header's value) when given.
The HTTP status is LocalRouter's own (the same status the OpenAI endpoints answer); only the
error ``type`` follows Anthropic's table:

    400, 408, 409, 421, 422, 431 and any other 4xx   invalid_request_error
    401                                              authentication_error
    402                                              billing_error
    403                                              permission_error
    404                                              not_found_error
    413                                              request_too_large
    429                                              rate_limit_error
    500, 501, 502 and any other 5xx                  api_error
    503 (no healthy candidate), 529                  overloaded_error
    504 (upstream timeout)                           timeout_error

503 is ``overloaded_error``: like Anthropic's 529, it says "nothing can serve this now, retry
later", and Anthropic's SDKs retry it. 502 (every candidate failed) is ``api_error``, Anthropic's
type for a failure inside the service. The status itself is never rewritten (a 503 stays 503).
"""

from __future__ import annotations

from typing import Any

ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
KNOWN_TYPES = frozenset(ERROR_TYPES.values())


def error_type(status: int) -> str:
    """Anthropic's error ``type`` for an HTTP status."""
    known = ERROR_TYPES.get(status)
    if known is not None:
        return known
    return "invalid_request_error" if 400 <= status < 500 else "api_error"


def error_body(
    status_or_type: int | str, message: str, *, request_id: str | None = None
) -> dict[str, Any]:
    """The envelope for an HTTP status, or for an error type given by name (a name Anthropic
    does not use becomes ``api_error``)."""
    if isinstance(status_or_type, int):
        kind = error_type(status_or_type)
    else:
        kind = status_or_type if status_or_type in KNOWN_TYPES else "api_error"
    out: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
    if request_id is not None:
        out["request_id"] = request_id
    return out
