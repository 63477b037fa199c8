"""Hypothesis strategies for request bodies, driven by the vendored OpenAI description.

    bodies("CreateChatCompletionRequest")    # schema-valid-ish and mutated bodies

:class:`SchemaStrategies` turns the JSON Schema subset OpenAI's description uses (``$ref``,
``allOf``/``anyOf``/``oneOf``, ``enum``/``const``, typed objects, arrays, strings, numbers) into
strategies, with recursion bounded by depth. "Valid-ish": formats, patterns and cross-field rules
are not modelled, so some bodies are ones OpenAI would refuse — which is the point too.
:func:`mutated` then puts a value of a wrong type (or nothing) at a random path of such a body,
or adds a known field with a wrong value.

Written here rather than taken from ``hypothesis-jsonschema`` (0.23.1 fails on today's
Hypothesis: ``'many' object has no attribute 'more'``) or ``schemathesis`` (which builds on it).
"""

from __future__ import annotations

import copy
import datetime
from functools import cache
from typing import Any

from hypothesis import strategies as st

from tests.openapi import document

Json = Any
TEXT = st.characters(codec="utf-8")  # no lone surrogates: those stop at "not valid JSON"
LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(TEXT, max_size=8),
)
ANY_JSON = st.recursive(
    LEAF,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(TEXT, max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
WRONG = st.one_of(  # a value of a type nobody asked for, edge values included
    LEAF,
    st.sampled_from([0, -1, 2**63, 1e39, -1e39, 1e308, "", [], {}, [[]], [None], {"": None}]),
    st.lists(LEAF, min_size=1, max_size=3),
    st.dictionaries(st.text(TEXT, max_size=6), LEAF, min_size=1, max_size=3),
)


def _clean(node: Any) -> Any:
    """The description as plain JSON (YAML dates as strings)."""
    if isinstance(node, dict):
        return {k: _clean(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_clean(v) for v in node]
    if isinstance(node, datetime.date | datetime.datetime):
        return node.isoformat()
    return node


class SchemaStrategies:
    def __init__(self, schemas: dict[str, Any], depth: int = 5) -> None:
        self.schemas = schemas
        self.depth = depth
        self._refs: dict[tuple[str, int], st.SearchStrategy[Json]] = {}

    def named(self, name: str) -> st.SearchStrategy[Json]:
        return self.of({"$ref": f"#/components/schemas/{name}"}, self.depth)

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.schemas[node["$ref"].rsplit("/", 1)[1]]
        return node

    def of(self, node: Any, depth: int) -> st.SearchStrategy[Json]:
        if not isinstance(node, dict):
            return ANY_JSON
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[1]
            if depth <= 0:
                return st.just({})
            key = (name, depth)
            if key not in self._refs:
                self._refs[key] = st.deferred(lambda: self.of(self.schemas[name], depth - 1))
            return self._refs[key]
        if "const" in node:
            return st.just(node["const"])
        if "enum" in node:
            return st.sampled_from(node["enum"])
        for key in ("anyOf", "oneOf"):
            if key in node:
                return st.one_of([self.of(sub, depth) for sub in node[key]])
        if "allOf" in node:
            return self._all_of(node, depth)
        kind = node.get("type")
        if isinstance(kind, list):
            return st.one_of([self.of({**node, "type": k}, depth) for k in kind])
        if kind == "object" or (kind is None and "properties" in node):
            return self._object(node.get("properties") or {}, node.get("required") or [], depth)
        if kind == "array":
            low = int(node.get("minItems", 0))
            high = min(int(node.get("maxItems", low + 3)), low + 3)
            return st.lists(self.of(node.get("items", {}), depth), min_size=low, max_size=high)
        if kind == "string":
            return st.text(TEXT, min_size=int(node.get("minLength", 0)), max_size=24)
        if kind == "integer":
            low, high = node.get("minimum"), node.get("maximum")
            return st.integers(
                int(low) if low is not None else -(2**31), int(high) if high is not None else 2**31
            )
        if kind == "number":
            return st.floats(
                node.get("minimum"), node.get("maximum"), allow_nan=False, allow_infinity=False
            )
        if kind == "boolean":
            return st.booleans()
        if kind == "null":
            return st.none()
        return ANY_JSON

    def _all_of(self, node: dict[str, Any], depth: int) -> st.SearchStrategy[Json]:
        parts = [self.resolve(p) for p in node["allOf"]]
        if all("properties" in p or "allOf" in p for p in parts):
            properties: dict[str, Any] = {}
            required: list[str] = []
            for part in self.flatten(parts):
                properties.update(part.get("properties") or {})
                required += part.get("required") or []
            return self._object(properties, required, depth)
        return self.of(parts[0], depth)

    def flatten(self, parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for part in parts:
            if "allOf" in part:
                out += self.flatten([self.resolve(p) for p in part["allOf"]])
            else:
                out.append(part)
        return out

    def _object(
        self, properties: dict[str, Any], required: list[str], depth: int
    ) -> st.SearchStrategy[Json]:
        need = {k: self.of(properties.get(k, {}), depth) for k in required}
        optional = {k: self.of(v, depth) for k, v in properties.items() if k not in need}
        return st.fixed_dictionaries(need, optional=optional)


def paths(value: Json, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into ``value`` (keys and indexes), the root excluded."""
    out: list[tuple[Any, ...]] = []
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        out.append((*prefix, key))
        out += paths(item, (*prefix, key))
    return out


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[Json], fields: list[str]) -> Json:
    """``base``'s body with one to three changes: a wrong value at a path, a path removed, or a
    known top-level field added with a wrong value."""
    body = copy.deepcopy(draw(base))  # strategies share objects (st.just): never mutate those
    for _ in range(draw(st.integers(1, 3))):
        where = paths(body)
        how = draw(st.sampled_from(["replace", "replace", "remove", "add"]))
        if how == "add" or not where:
            body[draw(st.sampled_from(fields))] = copy.deepcopy(draw(WRONG))
            continue
        path = draw(st.sampled_from(where))
        parent = body
        for key in path[:-1]:
            parent = parent[key]
        if how == "remove":
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(draw(WRONG))  # (a shared one could make a cycle)
    return body


@cache
def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = _clean(document()["components"]["schemas"])
    return schemas


def bodies(name: str, depth: int = 5) -> st.SearchStrategy[Json]:
    """Bodies for the request schema ``name``: valid-ish ones and mutated ones, half and half."""
    schemas = _schemas()
    gen = SchemaStrategies(schemas, depth)
    base = gen.named(name)
    parts = gen.flatten([gen.resolve(schemas[name])])
    fields = sorted({k for part in parts for k in part.get("properties") or {}})
    return st.one_of(base, mutated(base, fields))
