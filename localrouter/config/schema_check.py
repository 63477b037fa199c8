"""Check a plain config document against the JSON Schema; every problem becomes a diagnostic.

The schema is the one :func:`localrouter.config.spec.json_schema` generates (what editors see), so
the command line and the editor agree. jsonschema's own messages are rewritten into what a person
needs: the unknown key and the nearest known one, the expected type, the allowed values.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

import pydantic

from localrouter.config.source import PathKey, SpanIndex
from localrouter.config.spec import ConfigSpec, json_schema

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError
from localrouter.diagnostics import Diagnostic, error

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing",
}


@cache
def validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json_schema())


def _valid_fast(data: Any) -> bool:
    """pydantic in strict mode accepts exactly what the schema (generated from the same models)
    accepts, in microseconds; jsonschema — slower to import and to run — is consulted only to
    explain a config that fails."""
    try:
        ConfigSpec.model_validate(data, strict=True)
    except pydantic.ValidationError:
        return False
    return True


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return match[0] if match else None


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}" if len(value) <= 40 else "a string"
    return repr(value)


def _where(path: Sequence[Any]) -> str:
    parts: list[str] = []
    for p in path:
        parts.append(f"[{p}]" if isinstance(p, int) else (f".{p}" if parts else str(p)))
    return "".join(parts) or "the top level"


def _leaf_errors(err: ValidationError) -> Iterator[ValidationError]:
    """Descend through anyOf/oneOf to the errors that explain the failure (not null branches)."""
    if err.validator in ("anyOf", "oneOf") and err.context:
        branches = [
            e for e in err.context if not (e.validator == "type" and e.validator_value == "null")
        ]
        deeper = [e for e in branches if len(e.absolute_path) > len(err.absolute_path)]
        if deeper:
            for e in deeper:
                yield from _leaf_errors(e)
            return
        if branches:
            yield branches[0]
            return
    yield err


def check(data: Any, spans: SpanIndex) -> list[Diagnostic]:
    """Every schema problem in ``data``, each located with ``spans``."""
    if isinstance(data, dict) and "version" not in data:
        return [
            error(
                "LR202",
                "missing required key 'version'",
                spans.span(()),
                "add `version: 2` at the top of the file",
            )
        ]
    version = data.get("version") if isinstance(data, dict) else None
    if isinstance(data, dict) and (version != 2 or isinstance(version, bool)):
        message = f"unknown config version {version!r}"
        if str(version).strip() == "2":
            message = f"version must be the number 2, not {_describe(version)}"
        return [
            error(
                "LR208",
                message,
                spans.span(("version",)),
                "write `version: 2` (this LocalRouter reads version 2 and the legacy version 1)",
            )
        ]
    if _valid_fast(data):
        return []
    out: list[Diagnostic] = []
    for err in validator().iter_errors(data):
        for leaf in _leaf_errors(err):
            out.extend(_diagnose(leaf, spans))
    return out


def _diagnose(err: ValidationError, spans: SpanIndex) -> list[Diagnostic]:
    path: PathKey = tuple(err.absolute_path)
    kind = err.validator
    where = _where(path)
    schema: Any = err.schema
    value: Any = err.validator_value
    if kind == "additionalProperties" and isinstance(err.instance, dict):
        known = list(schema.get("properties", {}))
        out = []
        for key in err.instance:
            if key in known:
                continue
            guess = did_you_mean(str(key), known)
            hint = f"did you mean '{guess}'?" if guess else f"known keys here: {', '.join(known)}"
            if not path and key in _V1_NAMES:
                hint = f"'{key}' is the version-1 name: write '{_V1_NAMES[key]}'"
            out.append(
                error(
                    "LR201",
                    f"unknown key '{key}' in {where}",
                    spans.key_span((*path, key)),
                    hint,
                )
            )
        return out
    if kind == "required":
        missing = str(err.message).split("'")[1] if "'" in err.message else str(err.message)
        return [
            error(
                "LR202",
                f"missing required key '{missing}' in {where}",
                spans.key_span(path),
                _MISSING_HELP.get(missing),
            )
        ]
    if kind == "type":
        expected = value
        names = [expected] if isinstance(expected, str) else list(expected)
        want = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        return [
            error(
                "LR203",
                f"{where} must be {want}, not {_describe(err.instance)}",
                spans.span(path),
            )
        ]
    if kind in ("enum", "const"):
        allowed = value if kind == "enum" else [value]
        guess = did_you_mean(str(err.instance), [str(a) for a in allowed])
        listing = ", ".join(str(a) for a in allowed)
        hint = f"did you mean '{guess}'?" if guess else f"allowed: {listing}"
        return [
            error(
                "LR204",
                f"{where} must be one of {listing}; got {_describe(err.instance)}",
                spans.span(path),
                hint,
            )
        ]
    if kind == "pattern":
        return [
            error(
                "LR205",
                f"{where} has the wrong form: {_describe(err.instance)}",
                spans.span(path),
                _PATTERN_HELP.get(
                    next((p for p in reversed(path) if isinstance(p, str)), ""),
                    f"expected to match {value}",
                ),
            )
        ]
    if kind in (
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
    ):
        bound = {
            "minimum": "at least",
            "maximum": "at most",
            "exclusiveMinimum": "more than",
            "exclusiveMaximum": "less than",
            "minItems": "at least",
            "maxItems": "at most",
            "minLength": "at least",
            "maxLength": "at most",
        }[str(kind)]
        unit = (
            " items" if "Items" in str(kind) else (" characters" if "Length" in str(kind) else "")
        )
        return [
            error(
                "LR206",
                f"{where} must be {bound} {value}{unit}; got {_describe(err.instance)}",
                spans.span(path),
            )
        ]
    return [error("LR209", f"{where}: {err.message}", spans.span(path))]


_V1_NAMES = {"routers": "strategies", "api_keys": "clients", "settings": "server"}
_MISSING_HELP = {
    "key_hash": "`localrouter keys create NAME` writes key_prefix and key_hash",
    "key_prefix": "`localrouter keys create NAME` writes key_prefix and key_hash",
    "when": "a route needs a CEL condition, e.g. when: 'request.has_tools'",
    "type": "e.g. type: ollama (one of openai, openai-compatible, anthropic, gemini, ollama, "
    "openrouter, lmstudio, mock)",
}

_PATTERN_HELP = {
    "per": "a window is a whole number and a unit: 30s, 1m, 12h or 30d (1s to 366d)",
    "retention": "a duration is a whole number and a unit: 3600s, 90m, 12h or 30d",
    "key_prefix": "the first 11 characters of the key, `lr-` and 8 more; "
    "`localrouter keys create` writes it",
    "name": "letters, digits, '.', '_' and '-', starting with a letter or digit",
    "allowed_hosts": "a host name without scheme or port: localhost, 192.168.1.5, [::1], "
    "*.example.com (its subdomains) or * (every host)",
    "cors_origins": "an origin, scheme://host[:port] without a path: http://localhost:5173, "
    "http://localhost:* (any port), https://*.example.com, or * (every origin)",
}


NAMED = ("providers", "strategies", "clients", "mcp_servers", "skills")


def prune_invalid(
    data: dict[str, Any],
) -> tuple[dict[str, Any] | None, set[tuple[str, str]], set[tuple[str, str]]]:
    """``data`` without its schema-invalid parts, so meaning checks can still run on the rest.

    In a provider, strategy, client or MCP server the offending field is dropped (it takes its
    default); an entry that is still invalid is dropped whole and returned in ``broken``
    (references to it are then not reported as unknown); ``damaged`` lists the entries that lost a
    field. Any other section with a problem is dropped whole (it takes its defaults). None when
    nothing usable is left.
    """
    doc = dict(data)
    broken: set[tuple[str, str]] = set()
    damaged: set[tuple[str, str]] = set()  # entries that lost a field: skip 'missing' checks
    for _ in range(6):
        errors = list(validator().iter_errors(doc))
        if not errors:
            return doc, broken, damaged
        for err in errors:
            path: PathKey = tuple(err.absolute_path)
            if not path:
                if err.validator != "additionalProperties":
                    return None, broken, damaged
                schema: Any = err.schema
                known = schema.get("properties", {})
                for key in [k for k in doc if k not in known]:
                    del doc[key]
            elif path[0] == "version":
                return None, broken, damaged
            elif path[0] in NAMED and len(path) >= 2 and isinstance(doc.get(path[0]), dict):
                section = dict(doc[str(path[0])])
                entry = section.get(str(path[1]))
                if len(path) >= 3 and isinstance(entry, dict):
                    # drop only the bad field; if it was required, the next round drops the entry
                    section[str(path[1])] = {k: v for k, v in entry.items() if k != path[2]}
                    damaged.add((str(path[0]), str(path[1])))
                else:
                    section.pop(str(path[1]), None)
                    broken.add((str(path[0]), str(path[1])))
                doc[str(path[0])] = section
            else:
                doc.pop(str(path[0]), None)
    return None, broken, damaged
