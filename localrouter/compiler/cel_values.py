"""Values for CEL: plain Python data converted to cel-python's types, and neutral facts.

cel-python's runners need its own value types (:func:`to_cel`); the native runner takes plain
data. :func:`neutral_activation` is the plain activation of zeros, empty strings, lists and maps
used for the compile-time trial evaluation.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from celpy import celtypes

from localrouter.compiler.cel_types import FIELDS, SCOPES, WHOLE_TYPES, Scope
from localrouter.routing.client_data import (
    MAX_HEADERS,
    MAX_METADATA_CHARS,
    MAX_METADATA_VALUES,
    MAX_TAG_CHARS,
    MAX_TAGS,
)

__all__ = ["MAX_VALUE_DEPTH", "largest_activation", "neutral_activation", "to_cel"]

MAX_VALUE_DEPTH = 32  # nesting of a value given to to_cel (request metadata comes from clients)
_TRUE, _FALSE = celtypes.BoolType(True), celtypes.BoolType(False)
# fmt: off
_SCALARS = (celtypes.BoolType, celtypes.IntType, celtypes.UintType, celtypes.DoubleType,
            celtypes.StringType, celtypes.BytesType)
_NEUTRAL: Mapping[str, Any] = MappingProxyType({
    "string": "", "int": 0, "double": 0.0, "bool": False, "list": (), "map": MappingProxyType({})})
# fmt: on


def _convert(value: Any, depth: int) -> Any:
    kind = type(value)  # exact types first, built without celpy's slower constructors
    if kind is str:
        return str.__new__(celtypes.StringType, value)
    if kind is bool:
        return _TRUE if value else _FALSE
    if kind is int:
        if not -(2**63) <= value < 2**63:
            raise ValueError(f"to_cel: {value} is outside CEL's int64 range")
        return int.__new__(celtypes.IntType, value)
    if kind is float:
        return float.__new__(celtypes.DoubleType, value)
    if value is None or isinstance(value, _SCALARS):
        return value
    if isinstance(value, str | int | float):  # subclasses, such as str and int enums
        return _convert(_base(value), depth)
    if depth >= MAX_VALUE_DEPTH:
        raise ValueError(f"to_cel: value nested deeper than {MAX_VALUE_DEPTH} levels")
    if isinstance(value, Mapping):
        converted = celtypes.MapType()
        dict.update(
            converted, {_convert(k, depth + 1): _convert(v, depth + 1) for k, v in value.items()}
        )
        return converted
    if isinstance(value, list | tuple):
        return celtypes.ListType([_convert(v, depth + 1) for v in value])
    raise TypeError(f"to_cel: cannot convert {kind.__name__} (JSON-like data only)")


def _base(value: str | int | float) -> str | int | float:
    if isinstance(value, str):
        return str(value)
    return float(value) if isinstance(value, float) else int(value)


def to_cel(value: Any) -> Any:
    """Python JSON-like data (dict/list/tuple/str/int/float/bool/None) → celpy values.

    Values already converted pass through. Raises ValueError for an int outside int64 or data
    nested deeper than :data:`MAX_VALUE_DEPTH`, TypeError for anything that is not JSON-like.
    A ``double`` field must be given as a Python float: an int becomes a CEL int.
    """
    return _convert(value, 0)


def neutral_activation(scope: Scope) -> dict[str, Any]:
    """Every variable of ``scope`` with neutral facts: zeros, false, empty strings, lists, maps."""
    return {
        var: _neutral(WHOLE_TYPES[var].name)
        if var in WHOLE_TYPES
        else {f: _neutral(t.name) for f, t in FIELDS[var].items()}
        for var in SCOPES[scope]
    }


def _neutral(kind: str) -> Any:
    return [] if kind == "list" else {} if kind == "map" else _NEUTRAL[kind]


@functools.cache
def largest_activation(scope: Scope) -> Mapping[str, Any]:
    """Neutral facts, but with the largest client data a request may bring
    (:mod:`localrouter.routing.client_data`): :data:`MAX_TAGS` tags of :data:`MAX_TAG_CHARS`
    characters, :data:`MAX_HEADERS` headers (~16 KB, the HTTP server's bound) and ``metadata``
    with as many keys and as much text as allowed. The compile-time trial times an expression
    on it: what a client can make the expression cost is bounded before the config is served.
    Built once per scope and shared: read it, never change it (no runner does).
    """
    act = neutral_activation(scope)
    keys = (MAX_METADATA_VALUES - 1) // 2
    big = {f"k{i:03d}": "m" * (MAX_METADATA_CHARS // keys - 8) for i in range(keys)}
    if "request" in act:
        act["request"].update(
            tags=[f"{i:03d}".ljust(MAX_TAG_CHARS, "t") for i in range(MAX_TAGS)],
            headers={f"x-header-{i:03d}": "v" * 140 for i in range(MAX_HEADERS)},
            metadata=big,
        )
    if "tool" in act:  # a tool call's arguments: as much data as a request's metadata
        act["tool"]["args"] = big
    if "input" in act:
        act["input"] = big
    return act
