"""Small helpers shared by adapters on top of the transport (:mod:`.transport`) and the one error
mapper (:mod:`.upstream_errors`): an upstream's JSON read as one object, a streamed answer read
whole within its cap.

    with failures(target.provider):
        answer = await transport.post(url, headers, body, limit=provider.max_response_bytes)
    check_status(answer.status, answer.headers, answer.body, name, target.redactor)
    doc = json_body(answer.body, name)
"""

from __future__ import annotations

import orjson

from localrouter.compiler.table import Provider
from localrouter.errors import UpstreamProtocolError
from localrouter.providers.transport import Streamed, read_capped
from localrouter.providers.upstream_errors import too_large


def json_body(response_bytes: bytes, provider: str, what: str = "a body") -> dict[str, object]:
    """One JSON object from an upstream (``what``: a body, a stream line, …), or the protocol
    error that names what was wrong with it."""
    try:
        doc = orjson.loads(response_bytes)
    except ValueError:
        raise UpstreamProtocolError(
            f"{provider} sent {what} that is not JSON", provider=provider
        ) from None
    if not isinstance(doc, dict):
        raise UpstreamProtocolError(
            f"{provider} sent {what} that is not a JSON object", provider=provider
        )
    return doc


async def read_body(streamed: Streamed, provider: Provider) -> bytes:
    """The whole body of a streamed answer (one that did not stream after all), read within
    ``provider.max_response_bytes``: past it :class:`~localrouter.errors.UpstreamTooLarge` (the
    transport's ``stream`` then closes the connection)."""
    body = await read_capped(streamed.chunks, provider.max_response_bytes)
    if body is None:
        raise too_large(provider)
    return body
