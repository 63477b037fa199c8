"""Validate against OpenAI's published OpenAPI description (tests/reference/, vendored).

    from tests.openapi import validate
    validate("CreateChatCompletionResponse", body)     # raises jsonschema.ValidationError
    check_response(body); check_event(event)           # the Responses API's answer, its events

OpenAPI 3.0's ``nullable: true`` is rewritten as an allowed ``null`` first (JSON Schema ignores
it, and valid objects would fail). The document is parsed once per process (~1.7 s).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = Path(
    os.environ.get(
        "LOCALROUTER_OPENAPI", ROOT / "tests" / "reference" / "openai-openapi.yaml"
    )
)
URI = "urn:openai-openapi"


def _nullable(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _nullable(v) for k, v in node.items() if k != "nullable"}
        if node.get("nullable") is True:
            if "type" in out and isinstance(out["type"], str):
                out["type"] = [out["type"], "null"]
            elif "$ref" in out or "allOf" in out or "anyOf" in out or "oneOf" in out:
                out = {"anyOf": [out, {"type": "null"}]}
            elif "enum" in out:
                out["enum"] = [*out["enum"], None]
        if "enum" in out and out.get("type") and "null" in out.get("type", []):
            out["enum"] = [*out["enum"], None] if None not in out["enum"] else out["enum"]
        return out
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    return node


@cache
def document() -> dict[str, Any]:
    with REFERENCE.open(encoding="utf-8") as fh:
        doc: dict[str, Any] = YAML(typ="safe").load(fh)
    return _nullable(doc)  # type: ignore[no-any-return]


@cache
def validator(name: str) -> Draft202012Validator:
    doc = document()
    registry: Registry = Registry().with_resource(URI, Resource(doc, DRAFT202012))
    schema = {"$ref": f"{URI}#/components/schemas/{name}"}
    return Draft202012Validator(schema, registry=registry)


def validate(name: str, instance: Any) -> None:
    """Raise ``jsonschema.ValidationError`` (the most relevant one) if ``instance`` is invalid."""
    from jsonschema.exceptions import best_match

    err = best_match(validator(name).iter_errors(instance))
    if err is not None:
        raise err


def check_response(obj: Any) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``obj`` is a valid Responses ``response``."""
    validate("Response", obj)


@cache
def event_schemas() -> dict[str, str]:
    """Each Responses stream event type (``response.completed``, ``error``, …) → the name of its
    schema, read from ``ResponseStreamEvent``'s ``anyOf``."""
    schemas = document()["components"]["schemas"]
    out: dict[str, str] = {}
    for option in schemas["ResponseStreamEvent"]["anyOf"]:
        name = option["$ref"].rsplit("/", 1)[-1]
        for kind in schemas[name]["properties"]["type"].get("enum", []):
            out[kind] = name
    return out


def check_event(obj: Any) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``obj`` (an SSE event's parsed ``data``) is a
    valid ``ResponseStreamEvent``: validated against the schema its ``type`` names, so the error
    says what is wrong with that event (the union's would only say that nothing matched)."""
    from jsonschema.exceptions import ValidationError

    kind = obj.get("type") if isinstance(obj, dict) else None
    name = event_schemas().get(kind) if isinstance(kind, str) else None
    if name is None:
        raise ValidationError(f"not a Responses stream event type: {kind!r}")
    validate(name, obj)
    validate("ResponseStreamEvent", obj)
