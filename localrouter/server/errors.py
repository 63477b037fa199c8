"""HTTP errors in OpenAI's envelope: ``{"error": {"message", "type", "param", "code"}}``."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from quart import Response

from localrouter.logs.record import error_type


def error_body(
    status: int, message: str, *, code: str | None = None, param: str | None = None
) -> dict[str, object]:
    return {
        "error": {
            "message": message,
            "type": error_type(status),
            "param": param,
            "code": code,
        }
    }


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = orjson.dumps(error_body(status, message, code=code, param=param))
    response = Response(body, status=status, content_type="application/json")
    for k, v in (headers or {}).items():
        response.headers[k] = v
    return response
