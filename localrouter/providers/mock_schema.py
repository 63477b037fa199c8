"""A JSON value that validates against a JSON Schema, made deterministically: what the ``mock``
provider answers to ``response_format: json_schema`` and to a forced tool call.

Covers what structured-output clients send (the openai SDK's ``parse()``, pydantic's
``model_json_schema``, LangChain's ``with_structured_output``): ``type`` (one or a list),
``properties`` and ``required``, ``enum``/``const``, ``items``/``prefixItems`` with
``minItems``/``maxItems``/``uniqueItems``, nested objects, ``$ref`` into ``$defs``/``definitions``
(recursive ones end at :data:`MAX_DEPTH`), ``anyOf``/``oneOf`` (the first branch that is not
``null``), ``allOf`` (merged), string ``format``/``minLength``/``maxLength``/``pattern`` (a few
candidates are tried) and numeric bounds with ``multipleOf``. Anything else is ignored, so a
schema outside that subset may get a value it refuses; never an exception, never unbounded work.
"""

from __future__ import annotations

import importlib
import math
import re
from typing import Any

MAX_DEPTH = 8  # below it an object keeps only its required properties, an array its minimum
MAX_ITEMS = 16
MAX_STRING = 4096
FORMATS = {
    "date-time": "2025-01-01T00:00:00Z",
    "date": "2025-01-01",
    "time": "00:00:00Z",
    "duration": "P1D",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "hostname": "example.com",
    "idn-hostname": "example.com",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "uri": "https://example.com/",
    "uri-reference": "https://example.com/",
    "iri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
_PATTERN_TRIES = ("example", "a", "A", "0", "1", "abc", "ABC", "a1", "example-1", "x_1", "")


def instance(schema: Any) -> Any:
    """A value valid under ``schema`` (the root document for ``$ref``)."""
    return _Maker(schema).make(schema, 0, 0)


class _Maker:
    def __init__(self, root: Any) -> None:
        self.root = root

    def deref(self, ref: str) -> Any:
        if not ref.startswith("#"):
            return {}
        node: Any = self.root
        for part in ref[1:].split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return {}
        return node

    def make(self, schema: Any, depth: int, seed: int) -> Any:
        if schema is True or not isinstance(schema, dict):
            return "example"
        for _ in range(MAX_DEPTH):  # a chain of $refs, bounded
            ref = schema.get("$ref")
            if not isinstance(ref, str):
                break
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            target = self.deref(ref)
            schema = {**target, **rest} if isinstance(target, dict) else rest
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return enum[seed % len(enum)]
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and all_of:
            return self.make(_merge(schema, all_of, self), depth, seed)
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key)
            if isinstance(branches, list) and branches:
                chosen = next((b for b in branches if not _is_null(b)), branches[0])
                base = {k: v for k, v in schema.items() if k != key}
                merged = {**base, **chosen} if isinstance(chosen, dict) else chosen
                return self.make(merged, depth, seed)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((t for t in kind if t != "null"), kind[0] if kind else None)
        if kind is None:
            if "properties" in schema or "required" in schema:
                kind = "object"
            elif "items" in schema or "prefixItems" in schema:
                kind = "array"
        if kind == "object":
            return self.obj(schema, depth, seed)
        if kind == "array":
            return self.array(schema, depth, seed)
        if kind == "string":
            return _string(schema, seed)
        if kind == "integer":
            return int(_number(schema, seed, integer=True))
        if kind == "number":
            return _number(schema, seed, integer=False)
        if kind == "boolean":
            return seed % 2 == 0
        if kind == "null":
            return None
        return "example"

    def obj(self, schema: dict[str, Any], depth: int, seed: int) -> dict[str, Any]:
        props = schema.get("properties")
        props = props if isinstance(props, dict) else {}
        required = schema.get("required")
        needed = [r for r in required if isinstance(r, str)] if isinstance(required, list) else []
        names = list(props) if depth < MAX_DEPTH else []
        names += [n for n in needed if n not in names]
        out: dict[str, Any] = {}
        for name in names:
            out[name] = self.make(props.get(name, True), depth + 1, seed)
        return out

    def array(self, schema: dict[str, Any], depth: int, seed: int) -> list[Any]:
        low = _int(schema.get("minItems"), 0)
        high = _int(schema.get("maxItems"), MAX_ITEMS)
        prefix = schema.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        want = low if depth >= MAX_DEPTH else max(low, 1, len(prefix))
        count = max(0, min(want, high, MAX_ITEMS))
        items = schema.get("items", True)
        out = []
        for i in range(count):
            sub = prefix[i] if i < len(prefix) else items
            out.append(self.make(sub if sub is not False else True, depth + 1, seed + i))
        return out


def _is_null(branch: Any) -> bool:
    return isinstance(branch, dict) and branch.get("type") == "null"


def _merge(schema: dict[str, Any], parts: list[Any], maker: _Maker) -> dict[str, Any]:
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for part in parts:
        if isinstance(part, dict) and isinstance(part.get("$ref"), str):
            part = {**maker.deref(part["$ref"]), **{k: v for k, v in part.items() if k != "$ref"}}
        if not isinstance(part, dict):
            continue
        for k, v in part.items():
            if k == "properties" and isinstance(v, dict):
                merged["properties"] = {**merged.get("properties", {}), **v}
            elif k == "required" and isinstance(v, list):
                merged["required"] = [*merged.get("required", []), *v]
            else:
                merged.setdefault(k, v)
    return merged


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _string(schema: dict[str, Any], seed: int) -> str:
    low = min(_int(schema.get("minLength"), 0), MAX_STRING)
    high = _int(schema.get("maxLength"), MAX_STRING)
    fmt = schema.get("format")
    base = FORMATS.get(fmt, "example") if isinstance(fmt, str) else "example"
    if seed:
        base = f"{base}{seed}" if base == "example" else base
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            compiled = re.compile(pattern)
        except re.error:
            compiled = None
        if compiled is not None:
            for attempt in (base, _from_pattern(pattern), *_PATTERN_TRIES):
                if attempt is not None and low <= len(attempt) <= high and compiled.search(attempt):
                    return attempt
    text = base + "x" * max(0, low - len(base))
    return text[: max(high, 0)]


def _number(schema: dict[str, Any], seed: int, *, integer: bool) -> float:
    def num(key: str) -> float | None:
        v = schema.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            return float(v)
        return None

    low, high = num("minimum"), num("maximum")
    ex_low, ex_high = num("exclusiveMinimum"), num("exclusiveMaximum")
    step = num("multipleOf")
    value = float(seed)
    if low is not None:
        value = max(value, low)
    if ex_low is not None and value <= ex_low:
        value = ex_low + (step or 1.0) if integer or step else ex_low + 0.5
    if step and step > 0:
        value = math.ceil(value / step) * step
    if integer:
        value = float(math.ceil(value))
    top = high
    if ex_high is not None:
        below = ex_high - (1.0 if integer else 0.5)
        top = below if top is None else min(top, below)
    if top is not None and value > top:
        value = top
        if step and step > 0:
            value = math.floor(value / step) * step
        if integer:
            value = float(math.floor(value))
    return value


_CATEGORY = {
    "CATEGORY_DIGIT": "0",
    "CATEGORY_NOT_DIGIT": "a",
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_SPACE": "a",
    "CATEGORY_WORD": "a",
    "CATEGORY_NOT_WORD": "-",
}


def _from_pattern(pattern: str) -> str | None:
    """The shortest string the regular expression's parse tree spells (first branch, fewest
    repeats): ``^[0-9]{5}$`` → ``00000``. The caller checks it matches."""
    try:
        tree = importlib.import_module("re._parser").parse(pattern)
    except (ImportError, re.error, RecursionError):
        return None
    out: list[str] = []
    _spell(tree, out, 0)
    return "".join(out)[:MAX_STRING]


def _spell(items: Any, out: list[str], depth: int) -> None:
    if depth > 32 or len(out) > MAX_STRING:
        return
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "NOT_LITERAL":
            out.append("a" if arg != ord("a") else "b")
        elif name == "ANY":
            out.append("a")
        elif name == "IN":
            out.append(_one_of(arg))
        elif name == "CATEGORY":
            out.append(_CATEGORY.get(str(arg), "a"))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            for _ in range(min(int(arg[0]), MAX_STRING)):
                _spell(arg[2], out, depth + 1)
        elif name in ("SUBPATTERN", "ATOMIC_GROUP"):
            _spell(arg[-1], out, depth + 1)
        elif name == "BRANCH" and arg[1]:
            _spell(arg[1][0], out, depth + 1)
        # AT (anchors), lookarounds and group references spell nothing


def _one_of(members: Any) -> str:
    """A character of a ``[...]`` class."""
    negated = bool(members) and str(members[0][0]) == "NEGATE"
    if not negated:
        for op, arg in members:
            name = str(op)
            if name == "LITERAL":
                return chr(arg)
            if name == "RANGE":
                return chr(arg[0])
            if name == "CATEGORY":
                return _CATEGORY.get(str(arg), "a")
        return "a"
    rest = members[1:]
    for candidate in "a0A_- x.":
        if not any(_in_member(op, arg, candidate) for op, arg in rest):
            return candidate
    return "~"


def _in_member(op: Any, arg: Any, char: str) -> bool:
    name, code = str(op), ord(char)
    if name == "LITERAL":
        return bool(arg == code)
    if name == "RANGE":
        return bool(arg[0] <= code <= arg[1])
    if name == "CATEGORY":
        return _CATEGORY.get(str(arg)) == char or (
            str(arg) == "CATEGORY_WORD" and (char.isalnum() or char == "_")
        )
    return False
