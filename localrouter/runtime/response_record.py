"""One stored response (:class:`StoredResponse`), its id (:func:`new_response_id`,
:func:`valid_id`) and its encoding in the store (:func:`encode`, :func:`decode`): see
:mod:`localrouter.runtime.response_store`."""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from typing import Any

import orjson

FORMAT = "localrouter-response/1"
_ID = re.compile(r"resp_[0-9a-f]{48}", re.ASCII)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    id: str  # "resp_" + 48 lowercase hex
    owner: str  # the client's name
    created_at: float  # unix seconds
    response: dict[str, Any]  # the response object as answered
    input_items: list[dict[str, Any]]  # the whole conversation's input items, inherited first


def new_response_id() -> str:
    return "resp_" + secrets.token_hex(24)


def valid_id(s: str) -> bool:
    """``s`` has the exact shape of :func:`new_response_id`'s ids."""
    return isinstance(s, str) and _ID.fullmatch(s) is not None


def encode(record: StoredResponse) -> bytes:
    return orjson.dumps(
        {
            "format": FORMAT,
            "id": record.id,
            "owner": record.owner,
            "created_at": record.created_at,
            "response": record.response,
            "input_items": record.input_items,
        }
    )


def decode(data: bytes, response_id: str) -> StoredResponse | None:
    """The record in ``data``, None unless it is a well-formed record of ``response_id``."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("id") != response_id:
        return None
    owner, created, response, items = (
        doc.get("owner"),
        doc.get("created_at"),
        doc.get("response"),
        doc.get("input_items"),
    )
    if not (
        isinstance(owner, str)
        and isinstance(created, (int, float))
        and not isinstance(created, bool)
        and math.isfinite(created)
        and isinstance(response, dict)
        and isinstance(items, list)
        and all(isinstance(i, dict) for i in items)
    ):
        return None
    return StoredResponse(response_id, owner, float(created), response, items)
