"""OpenAI ``chat.completion.chunk`` objects → the Responses API's stream events.

The events follow OpenAI's documented sequence, each framed ``event: TYPE\\ndata: {json}\\n\\n``
with a ``sequence_number`` counting from 0::

    response.created · response.in_progress        the response, status in_progress, no output
    response.output_item.added                     an item opens (output_index 0, 1, …)
      message:   response.content_part.added · response.output_text.delta … ·
                 response.output_text.done · response.content_part.done
      reasoning: response.reasoning_text.delta … · response.reasoning_text.done
      function_call: response.function_call_arguments.delta … ·
                 response.function_call_arguments.done
      custom_tool_call (a freeform tool): response.custom_tool_call_input.delta (the whole
                 input, once the call's arguments are complete) · …custom_tool_call_input.done
    response.output_item.done                      the item, complete
    response.completed (or response.incomplete)    the whole response, with usage

One item is open at a time: a chunk's ``reasoning_content`` (or ``reasoning``) opens a
reasoning item, ``content`` a message item, each new tool call (a new ``index`` or ``id``) a
function_call item; the open one is closed first. A tool call that goes on after another item
began cannot be told (its item is done) and raises :class:`StreamShapeError` (the server ends
the stream with an error; no adapter streams that way). The whole output is kept, since the
``.done`` events and the final response repeat it (and a stored response needs it): memory is
the size of the answer.

An error after the first byte is an ``error`` event, then ``response.failed`` with the response
so far and its ``error``; nothing follows.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from localrouter.dialects import responses_answer as answer
from localrouter.errors import StreamShapeError
from localrouter.server.chunk_reader import ChunkReader

Json = dict[str, Any]

_TEXT, _REASONING, _TOOL = 1, 2, 3
_DELTA_TYPES = {
    _TEXT: b"response.output_text.delta",
    _REASONING: b"response.reasoning_text.delta",
    _TOOL: b"response.function_call_arguments.delta",
}


class StreamEncoder(ChunkReader):
    """One stream's encoder: :meth:`feed` every chunk (read by
    :class:`~localrouter.server.chunk_reader.ChunkReader`), then :meth:`finish` (or :meth:`error`).
    Each returns the bytes to send. :attr:`response` is the response as it stands (complete
    after :meth:`finish`)."""

    __slots__ = (
        "call_id", "chars", "index", "item_id", "kind", "name", "names", "pieces", "prefix",
        "response", "root", "seq", "tool_index", "tools",
    )  # fmt: skip

    def __init__(self, response: Json, names: answer.CallNames = answer.NO_NAMES) -> None:
        self.response = response  # from responses_answer.base
        self.names = names  # namespaced functions, by their chat names
        self.root = answer.item_ids(response["id"])
        self.seq = 0
        self.started = self.closed = False
        self.kind = 0  # the open item's kind (0: none open)
        self.index = -1  # the open item's output_index
        self.item_id = ""
        self.prefix = b""  # the open item's delta event, up to the delta's value
        self.pieces: list[str] = []  # the open item's text or arguments so far
        self.name = self.call_id = ""
        self.tool_index = -1
        self.tools: dict[int, str] = {}  # tool call index → its call_id
        self.finish_reason: str | None = None
        self.usage: Json | None = None
        self.chars = 0  # characters streamed, for an estimate when no usage comes

    def _event(self, data: Json) -> bytes:
        data["sequence_number"] = self.seq
        self.seq += 1
        kind: bytes = data["type"].encode()
        return b"event: " + kind + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    def start(self) -> bytes:
        if self.started:
            return b""
        self.started = True
        snapshot = {**self.response}
        out = self._event({"type": "response.created", "response": snapshot})
        return out + self._event({"type": "response.in_progress", "response": snapshot})

    # ------------------------------------------------------------ items

    def _open(self, kind: int, item: Json) -> bytes:
        out = self._close()
        self.index += 1
        self.kind = kind
        self.item_id = item["id"]
        self.pieces = []
        out += self._event(
            {"type": "response.output_item.added", "output_index": self.index, "item": item}
        )
        if kind == _TEXT:
            out += self._event(
                {
                    "type": "response.content_part.added",
                    "item_id": self.item_id,
                    "output_index": self.index,
                    "content_index": 0,
                    "part": answer.text_part(""),
                }
            )
        where = {"item_id": self.item_id, "output_index": self.index}
        if kind != _TOOL:
            where["content_index"] = 0
        head = orjson.dumps({"type": _DELTA_TYPES[kind].decode(), **where})[:-1]
        self.prefix = b"event: " + _DELTA_TYPES[kind] + b"\ndata: " + head + b',"delta":'
        return out

    def _close(self) -> bytes:
        kind = self.kind
        if not kind:
            return b""
        self.kind = 0
        whole = "".join(self.pieces)
        index, item_id = self.index, self.item_id
        out = b""
        if kind == _TEXT:
            part = answer.text_part(whole)
            out += self._event(
                {
                    "type": "response.output_text.done",
                    "item_id": item_id,
                    "output_index": index,
                    "content_index": 0,
                    "text": whole,
                    "logprobs": [],
                }
            )
            out += self._event(
                {
                    "type": "response.content_part.done",
                    "item_id": item_id,
                    "output_index": index,
                    "content_index": 0,
                    "part": part,
                }
            )
            item = answer.message_item(item_id, [part])
        elif kind == _REASONING:
            out += self._event(
                {
                    "type": "response.reasoning_text.done",
                    "item_id": item_id,
                    "output_index": index,
                    "content_index": 0,
                    "text": whole,
                }
            )
            item = answer.reasoning_item(item_id, whole)
        elif self.name in self.names.custom:  # its input, told once it is whole
            item = answer.call_item(
                item_id, self.call_id, self.name, whole, "completed", self.names
            )
            where = {"item_id": item_id, "output_index": index}
            delta = {"type": "response.custom_tool_call_input.delta", **where}
            out += self._event({**delta, "delta": item["input"]})
            done = {"type": "response.custom_tool_call_input.done", **where}
            out += self._event({**done, "input": item["input"]})
        else:
            out += self._event(
                {
                    "type": "response.function_call_arguments.done",
                    "item_id": item_id,
                    "output_index": index,
                    "name": self.names.name(self.name),
                    "arguments": whole,
                }
            )
            item = answer.call_item(
                item_id, self.call_id, self.name, whole, "completed", self.names
            )
        self.response["output"].append(item)
        return out + self._event(
            {"type": "response.output_item.done", "output_index": index, "item": item}
        )

    def _delta(self, piece: str) -> bytes:
        self.pieces.append(piece)
        self.chars += len(piece)
        tail = (
            b',"logprobs":[],"sequence_number":' if self.kind == _TEXT else b',"sequence_number":'
        )
        seq = self.seq
        self.seq += 1
        return self.prefix + orjson.dumps(piece) + tail + str(seq).encode() + b"}\n\n"

    def _text(self, kind: int, piece: str) -> bytes:
        out = b""
        if self.kind != kind:
            item_id = f"{'msg' if kind == _TEXT else 'rs'}_{self.root}_{self.index + 1}"
            if kind == _TEXT:
                item = answer.message_item(item_id, [], "in_progress")
            else:
                item = {"id": item_id, "type": "reasoning", "summary": []}
            out = self._open(kind, item)
        return out + self._delta(piece)

    def _tool(self, call: Any) -> bytes:
        if not isinstance(call, dict):
            return b""
        index, call_id = call.get("index"), call.get("id")
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        new_id = isinstance(call_id, str) and call_id and call_id not in self.tools.values()
        if type(index) is not int:
            index = len(self.tools) if new_id or self.kind != _TOOL else self.tool_index
        out = b""
        if self.kind != _TOOL or index != self.tool_index or new_id:
            if index in self.tools and not new_id:
                raise StreamShapeError(
                    f"tool call {index} continued after another item began; the Responses "
                    "stream cannot reopen an item"
                )
            name = function.get("name")
            if not isinstance(name, str) or not name:
                raise StreamShapeError(f"tool call {index} began without a function name")
            self.call_id = (
                call_id if new_id and isinstance(call_id, str) else f"call_{self.root}_{index}"
            )
            self.tools[index] = self.call_id
            self.tool_index = index
            self.name = name
            item_id = f"fc_{self.root}_{self.index + 1}"
            item = answer.call_item(item_id, self.call_id, name, "", "in_progress", self.names)
            out = self._open(_TOOL, item)
        arguments = function.get("arguments")
        if isinstance(arguments, dict):  # a provider that sends the object itself
            arguments = orjson.dumps(arguments).decode()
        if isinstance(arguments, str) and arguments:
            if self.name in self.names.custom:  # a freeform input is told when whole
                self.pieces.append(arguments)
                self.chars += len(arguments)
            else:
                out += self._delta(arguments)
        return out

    # ------------------------------------------------------------ the stream

    def thought(self, piece: str) -> bytes:
        return self._text(_REASONING, piece)

    def text(self, piece: str) -> bytes:
        return self._text(_TEXT, piece)

    def call(self, call: Any) -> bytes:
        return self._tool(call)

    def finish(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        """The end: the open item's done events, then ``response.completed`` (or
        ``response.incomplete``) with the usage the server settled on."""
        if self.closed:
            return b""
        out = (b"" if self.started else self.start()) + self._close()
        self.closed = True
        usage = answer.usage_from_chat(self.usage, prompt_tokens, completion_tokens)
        response = answer.finished(self.response, self.finish_reason, usage, int(time.time()))
        kind = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
        return out + self._event({"type": kind, "response": response})

    def error(self, message: str, code: str | None = None) -> bytes:
        """An ``error`` event and ``response.failed``; the stream ends with them."""
        if self.closed:
            return b""
        out = b"" if self.started else self.start()
        self.closed = True
        self.kind = 0  # the open item stays unfinished: not in the output
        out += self._event({"type": "error", "code": code, "message": message, "param": None})
        response = self.response
        response["status"] = "failed"
        response["error"] = {"code": "server_error", "message": message}
        return out + self._event({"type": "response.failed", "response": response})
