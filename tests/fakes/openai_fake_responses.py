"""The fake OpenAI API's Responses endpoint, ``POST /v1/responses`` (served by
:mod:`tests.fakes.openai_fake`, which records the request, plays the script's ``fail``,
``hang`` and early ``reset`` and checks the key before :func:`serve` runs).

Checks, like the real API: a JSON object, only ``CreateResponse``'s fields, the body valid
against ``CreateResponse`` (its ``oneOf``s with a ``discriminator`` read as the discriminator
means: pick by ``type``; what the API accepts although the description marks it required is
accepted: a function tool without ``strict``/``parameters``, an ``output_text`` part without
``logprobs``), ``model`` present, a ``function_call_output`` answers an earlier
``function_call`` and every ``function_call`` is answered, no ``previous_response_id`` (this
fake stores nothing), the model exists and is a chat model (404). Errors are 400s in the
``{"error": {...}}`` envelope.

Answers reuse the chat fake's model (:func:`tests.fakes.openai_fake_model.chat_answer`) on the
request turned into chat messages (``instructions`` first): the last text echoed, ``call NAME
{json}`` lines call offered function tools (``tool_choice`` ``none``/``required``/a named
function as in chat), a last ``function_call_output`` answers ``tool said: OUTPUT``, ``refuse…``
is refused (a ``refusal`` part), ``text.format`` ``json_object`` answers ``{"echo": text}`` and
``json_schema`` a minimal instance of its schema (:func:`instance`), ``max_output_tokens``
caps the words: ``status: incomplete``, ``incomplete_details.reason: max_output_tokens``.

Streams are ``event: TYPE`` / ``data: JSON`` events, numbered by ``sequence_number`` from 0:
``response.created``, ``response.in_progress``, per output item ``response.output_item.added``,
(a message) ``response.content_part.added``, one ``response.output_text.delta`` (or
``refusal.delta``) per word, ``….done``, ``response.content_part.done``, (a function call)
``response.function_call_arguments.delta`` per 8 characters and ``….done``, then
``response.output_item.done``; last ``response.completed`` (``response.incomplete`` when cut)
with the usage. Delta events carry ``obfuscation`` unless
``stream_options.include_obfuscation`` is false. The state's stream knobs act here as on chat
streams, counting events from 0: ``break_stream_after(n, mode)`` (``error`` sends an ``error``
event), ``reset_connection(after_events)``, ``malformed(what, after_events)`` (a 200 body that
is cut JSON, Ollama's answer or HTML; on a stream, event ``n`` is cut JSON or not the event's
shape), ``chunk_delay``, ``split_writes``, ``crlf``, ``burst``. The objects and the stream are
built in :mod:`tests.fakes.openai_fake_responses_events`.
"""

from __future__ import annotations

import copy
import json
import time
from functools import cache
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from quart import Response
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from tests.fakes import openai_fake_answers as fa
from tests.fakes import openai_fake_model as fm
from tests.fakes import openai_fake_responses_events as fe
from tests.openapi import URI, document

if TYPE_CHECKING:
    from tests.fakes.openai_fake import FakeState, Step

__all__ = ["answer", "check", "instance", "serve", "to_chat"]

Json = dict[str, Any]
# What the API accepts although the published description marks it required.
_OPTIONAL = {"FunctionTool": {"strict", "parameters"}, "OutputTextContent": {"logprobs"}}


# ---------------------------------------------------------------- checks


@cache
def _validator() -> Draft202012Validator:
    doc = copy.deepcopy(document())

    def relax(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: relax(v) for k, v in node.items()}
            if "oneOf" in out and "discriminator" in out:
                out["anyOf"] = out.pop("oneOf")
            return out
        return [relax(v) for v in node] if isinstance(node, list) else node

    doc = relax(doc)
    for name, optional in _OPTIONAL.items():
        schema = doc["components"]["schemas"][name]
        schema["required"] = [r for r in schema["required"] if r not in optional]
    registry: Registry = Registry().with_resource(URI, DRAFT202012.create_resource(doc))
    ref = {"$ref": f"{URI}#/components/schemas/CreateResponse"}
    return Draft202012Validator(ref, registry=registry)


@cache
def known_fields() -> frozenset[str]:
    schemas = document()["components"]["schemas"]

    def walk(node: Json) -> set[str]:
        if "$ref" in node:
            return walk(schemas[node["$ref"].rsplit("/", 1)[-1]])
        return set(node.get("properties", {})).union(*map(walk, node.get("allOf", [])))

    return frozenset(walk(schemas["CreateResponse"]))


def check(body: Any, model_ids: list[str]) -> None:
    """Raise :class:`~tests.fakes.openai_fake_model.Invalid` as OpenAI would for this body."""
    if not isinstance(body, dict):
        raise fm.Invalid(
            "We could not parse the JSON body of your request. The OpenAI API "
            "expects a JSON payload."
        )
    for key in body:
        if key not in known_fields():
            raise fm.Invalid(f"Unrecognized request argument supplied: {key}")
    err = best_match(_validator().iter_errors(body))
    if err is not None:
        name = ".".join(str(p) for p in err.absolute_path) or "body"
        raise fm.Invalid(
            f"Invalid value for '{name}': {err.message[:200]}", param=name, code="invalid_value"
        )
    for required in ("model", "input"):
        if body.get(required) is None:
            raise fm.Invalid(
                f"Missing required parameter: '{required}'.",
                param=required,
                code="missing_required_parameter",
            )
    if body.get("previous_response_id") is not None:
        raise fm.Invalid(
            f"Previous response with id '{body['previous_response_id']}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    if body["input"] == []:
        raise fm.Invalid(
            "Invalid 'input': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param="input",
            code="empty_array",
        )
    _check_calls(body["input"] if isinstance(body["input"], list) else [])
    model = body["model"]
    if model not in model_ids:
        raise fm.Invalid(
            f"The model `{model}` does not exist or you do not have access to it.",
            status=404,
            code="model_not_found",
        )
    if fm.endpoint_of(model) != "chat":
        raise fm.Invalid(
            f"The model `{model}` is not supported by the Responses API.", param="model"
        )


def _check_calls(items: list[Json]) -> None:
    called: list[str] = []
    answered: set[str] = set()
    for item in items:
        if item.get("type") == "function_call":
            called.append(item["call_id"])
        elif item.get("type") == "function_call_output":
            if item.get("call_id") not in called:
                raise fm.Invalid(
                    "No tool call found for function call output with call_id "
                    f"{item.get('call_id')}.",
                    param="input",
                )
            answered.add(item["call_id"])
        elif item.get("type", "message") not in ("message", "reasoning"):
            raise fm.Invalid(f"This fake does not take input items of type '{item['type']}'.")
    for call_id in called:
        if call_id not in answered:
            raise fm.Invalid(f"No tool output found for function call {call_id}.", param="input")


# ---------------------------------------------------------------- the model


def _parts(content: Any) -> Any:
    if isinstance(content, str):
        return content
    kinds = {"input_image": "image_url", "input_file": "file", "input_audio": "input_audio"}
    out = []
    for part in content:
        kind = part.get("type")
        if kind in ("input_text", "output_text"):
            out.append({"type": "text", "text": part["text"]})
        elif kind == "refusal":
            out.append({"type": "text", "text": part["refusal"]})
        elif kind in kinds:
            out.append({"type": kinds[kind]})
    return out


def to_chat(body: Json) -> Json:
    """The request as a chat body: what :func:`fm.chat_answer` reads."""
    messages: list[Json] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": body["instructions"]})
    items = body["input"] if isinstance(body["input"], list) else [body["input"]]
    for item in items:
        if isinstance(item, str):
            messages.append({"role": "user", "content": item})
        elif item.get("type") == "function_call":
            call = {"id": item["call_id"], "type": "function"}
            call["function"] = {"name": item["name"], "arguments": item["arguments"]}
            last = messages[-1] if messages else {}
            if last.get("role") == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif item.get("type") == "function_call_output":
            output = _parts(item["output"])
            text = output if isinstance(output, str) else fm.text_of(output)[0]
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": text})
        elif item.get("type", "message") == "message":
            messages.append({"role": item["role"], "content": _parts(item["content"])})
    chat: Json = {"model": body["model"], "messages": messages}
    tools = [t for t in body.get("tools") or [] if t.get("type") == "function"]
    if tools:
        chat["tools"] = [{"type": "function", "function": t} for t in tools]
    choice = body.get("tool_choice")
    if choice in ("none", "required") or (isinstance(choice, dict) and "name" in choice):
        chat["tool_choice"] = choice if isinstance(choice, str) else {"function": choice}
    fmt = ((body.get("text") or {}).get("format") or {}).get("type")
    if fmt == "json_object":
        chat["response_format"] = {"type": "json_object"}
    if body.get("max_output_tokens") is not None:
        chat["max_completion_tokens"] = body["max_output_tokens"]
    return chat


def instance(schema: Json, text: str, root: Json | None = None) -> Any:
    """A minimal JSON value valid against ``schema``: objects with their required properties,
    enums and consts as given, strings ``text`` (or the format's example), numbers at their
    minimum, arrays of ``minItems`` items (one when unbounded), ``$ref`` into the same schema."""
    root = schema if root is None else root

    def resolve(node: Json) -> Json:
        target: Any = root
        for part in node["$ref"].lstrip("#/").split("/") if "$ref" in node else []:
            target = target[part]
        return target if "$ref" in node else node

    if "$ref" in schema:
        return instance(resolve(schema), text, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return instance(options[0], text, root)
    if len(schema.get("allOf", [])) == 1:
        return instance(schema["allOf"][0], text, root)
    if "allOf" in schema:  # objects: their properties and required ones together
        merged: Json = {"type": "object", "properties": {}, "required": []}
        for part in map(resolve, schema["allOf"]):
            merged["properties"] |= part.get("properties", {})
            merged["required"] += part.get("required", [])
        return instance(merged, text, root)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: instance(props.get(k, {}), text, root) for k in schema.get("required", [])}
    if kind == "array":
        count = schema.get("minItems", 0 if schema.get("maxItems") == 0 else 1)
        return [instance(schema.get("items", {}), text, root) for _ in range(count)]
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1)
        value = max(0, low) if "maximum" not in schema else min(max(0, low), schema["maximum"])
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    examples = {"date-time": "2025-01-01T00:00:00Z", "date": "2025-01-01", "email": "a@b.example"}
    value = examples.get(schema.get("format", ""), text)
    value = value.ljust(schema.get("minLength", 0), "x")
    return value[: schema["maxLength"]] if "maxLength" in schema else value


def answer(body: Json) -> fm.Answer:
    """What the fake model answers to a checked Responses request."""
    result = fm.chat_answer(to_chat(body))
    fmt = (body.get("text") or {}).get("format") or {}
    if fmt.get("type") == "json_schema" and result.content is not None:
        result.content = json.dumps(instance(fmt.get("schema") or {}, result.content))
        result.completion_tokens = max(1, fm.words(result.content))
    return result


# ---------------------------------------------------------------- serving


def _json(doc: Any, status: int, headers: dict[str, str]) -> Response:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    return Response(text, status=status, headers=headers, content_type="application/json")


async def serve(
    state: FakeState, body: Any, step: Step | None, headers: dict[str, str], scope: Any
) -> Response:
    """Answer a recorded, authorised ``POST /v1/responses``."""
    try:
        check(body, [m["id"] for m in state.models])
    except fm.Invalid as exc:
        error = fm.error_body(exc.message, param=exc.param, code=exc.code)
        return _json(error, exc.status, headers)
    streaming = body.get("stream") is True
    if step is not None and step.kind == "malformed" and (not streaming or step.mode == "html"):
        if step.mode == "html":
            return Response(fa.HTML_PAGE, headers=headers, content_type="text/html")
        text = fa.TRUNCATED if step.mode == "json" else fa.malformed_body(body["model"])
        return _json(text, 200, headers)
    result = answer(body)
    if not streaming:
        items = fe.output_items(result)
        doc = fe.response_object(body, result, items, fe.new_id("resp"), int(time.time()))
        state.reported.append(doc["usage"])
        return _json(doc, 200, headers)
    obfuscate = (body.get("stream_options") or {}).get("include_obfuscation", True) is not False
    response = Response(
        fe.stream(state, fe.events(body, result, obfuscate), step, scope),
        headers=headers,
        content_type="text/event-stream; charset=utf-8",
    )
    response.timeout = None
    return response
