"""The Responses API's ``response`` object: its frame from the request, and its output from an
OpenAI chat completion (the answer of every provider not served natively).

    base(body, …)                   the fields OpenAI's schema requires, as the request set them
                                    (instructions, tools, tool_choice, temperature, top_p, text,
                                    reasoning, metadata, store, previous_response_id, …)
    from_chat(completion, base, …)  status, output items and usage filled in

A chat message becomes output items in the order a Responses model emits them: a ``reasoning``
item (its ``reasoning_content`` as ``reasoning_text``), a ``message`` item (its text as one
``output_text`` part, or a ``refusal`` part), then one ``function_call`` item per tool call
(``call_id`` the tool call's id). ``finish_reason`` ``length`` makes the status ``incomplete``
with ``incomplete_details.reason`` ``max_output_tokens`` (``content_filter``: that reason);
anything else is ``completed``. Usage: ``input_tokens`` (cached ones in
``input_tokens_details.cached_tokens``), ``output_tokens`` (reasoning ones in
``output_tokens_details``), ``total_tokens``.

Item ids are derived from the response's: ``msg_…``, ``rs_…``, ``fc_…_N``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallNames:
    """How the chat translation named the request's tools, to name their calls back:
    ``namespaced`` maps a chat function name to (namespace, name); ``custom`` holds the chat
    names of freeform (``custom``) tools, sent as functions of one string ``input``."""

    namespaced: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    custom: frozenset[str] = frozenset()

    def name(self, chat_name: str) -> str:
        """The tool's own name (without its namespace)."""
        found = self.namespaced.get(chat_name)
        return chat_name if found is None else found[1]


NO_NAMES = CallNames()


def custom_input(arguments: str) -> str:
    """A freeform tool call's input, from the arguments of its chat function (``{"input":
    …}``; anything else is taken as the input itself)."""
    try:
        doc = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return arguments
    value = doc.get("input") if isinstance(doc, dict) else None
    return value if isinstance(value, str) else arguments


_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def base(
    body: Json, *, response_id: str, model: str, created_at: int, previous: str | None
) -> Json:
    """A response in progress for the request ``body``: every required field, no output (and
    no ``usage`` yet: the schema has no null usage)."""
    text = body.get("text")
    reasoning = body.get("reasoning")
    response = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": "in_progress",
        "completed_at": None,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": previous,
        "reasoning": {
            "effort": reasoning.get("effort") if isinstance(reasoning, dict) else None,
            "summary": reasoning.get("summary") if isinstance(reasoning, dict) else None,
        },
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": text
        if isinstance(text, dict) and "format" in text
        else {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "metadata": body.get("metadata", {}),
    }
    if isinstance(body.get("user"), str):  # the schema has no null user: absent when unset
        response["user"] = body["user"]
    return response


def usage_block(input_tokens: int, output_tokens: int, cached: int = 0, reasoning: int = 0) -> Json:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output_tokens,
    }


def usage_from_chat(usage: Any, prompt: int, completion: int) -> Json:
    """The Responses usage of a chat ``usage`` object (its detail counts kept), with
    ``prompt``/``completion`` the token counts the gateway settled on."""
    cached = reasoning = 0
    if isinstance(usage, dict):
        details = usage.get("prompt_tokens_details")
        if isinstance(details, dict) and type(details.get("cached_tokens")) is int:
            cached = details["cached_tokens"]
        details = usage.get("completion_tokens_details")
        if isinstance(details, dict) and type(details.get("reasoning_tokens")) is int:
            reasoning = details["reasoning_tokens"]
    return usage_block(prompt, completion, cached, reasoning)


def text_part(text: str) -> Json:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(item_id: str, parts: list[Json], status: str = "completed") -> Json:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": parts,
    }


def reasoning_item(item_id: str, text: str) -> Json:
    return {
        "id": item_id,
        "type": "reasoning",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": text}],
    }


def call_item(
    item_id: str,
    call_id: str,
    name: str,
    arguments: str,
    status: str,
    names: CallNames = NO_NAMES,
) -> Json:
    """The item of a call of the chat function ``name``: a ``function_call`` (namespaced when
    its tool was), or a ``custom_tool_call`` with its ``input`` for a freeform tool."""
    if name in names.custom:
        return {
            "id": item_id,
            "type": "custom_tool_call",
            "status": status,
            "call_id": call_id,
            "name": name,
            "input": custom_input(arguments) if arguments else "",
        }
    item = {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }
    if name in names.namespaced:
        item["namespace"], item["name"] = names.namespaced[name]
    return item


def item_ids(response_id: str) -> str:
    """The root of a response's item ids."""
    return response_id.removeprefix("resp_")


def output_of(message: Any, root: str, names: CallNames = NO_NAMES) -> list[Json]:
    """The output items of a chat ``message``."""
    if not isinstance(message, dict):
        return []
    out: list[Json] = []
    thought = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(thought, str) and thought:
        out.append(reasoning_item(f"rs_{root}", thought))
    content, refusal = message.get("content"), message.get("refusal")
    if isinstance(content, str) and content:
        out.append(message_item(f"msg_{root}", [text_part(content)]))
    elif isinstance(refusal, str) and refusal:
        out.append(message_item(f"msg_{root}", [{"type": "refusal", "refusal": refusal}]))
    calls = message.get("tool_calls")
    for i, call in enumerate(calls if isinstance(calls, list) else ()):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        arguments = function.get("arguments")
        if not isinstance(arguments, str):  # a provider that sent the object itself
            arguments = orjson.dumps(arguments if arguments is not None else {}).decode()
        given, named = call.get("id"), function.get("name")
        call_id = given if isinstance(given, str) else f"call_{root}_{i}"
        name = named if isinstance(named, str) else ""
        out.append(call_item(f"fc_{root}_{i}", call_id, name, arguments, "completed", names))
    return out


def finished(response: Json, finish_reason: Any, usage: Json, now: int) -> Json:
    """``response`` ended: its status from ``finish_reason``, its usage."""
    reason = _INCOMPLETE.get(finish_reason) if isinstance(finish_reason, str) else None
    if reason is not None:
        response["status"] = "incomplete"
        response["incomplete_details"] = {"reason": reason}
    else:
        response["status"] = "completed"
        response["completed_at"] = now
    response["usage"] = usage
    return response


def from_chat(
    completion: Json, response: Json, usage: Json, now: int, names: CallNames = NO_NAMES
) -> Json:
    """``response`` (from :func:`base`) answered by a chat ``completion`` (``names``: the
    namespaced functions of the request, by their chat names)."""
    choices = completion.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else {}
    choice = choice if isinstance(choice, dict) else {}
    response["output"] = output_of(choice.get("message"), item_ids(response["id"]), names)
    return finished(response, choice.get("finish_reason"), usage, now)
