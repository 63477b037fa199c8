"""OpenAI ``chat.completion.chunk`` objects → Anthropic's SSE events, for the Messages ingress.

The events follow Anthropic's stream exactly::

    message_start        the message with empty content, stop_reason null, usage
                         {input_tokens: the request's estimate, output_tokens: 1}
    content_block_start  index 0, 1, 2 … one block open at a time: text {text: ""},
                         thinking {thinking: "", signature: ""}, tool_use {id, name, input: {}}
    ping                 once, after the first content_block_start (where Anthropic sends it)
    content_block_delta  text_delta {text} · thinking_delta {thinking} · input_json_delta
                         {partial_json} (a tool call's argument pieces, as they come)
    content_block_stop   when the next block starts, or at the end
    message_delta        {delta: {stop_reason, stop_sequence}, usage: {input_tokens,
                         output_tokens[, cache_read_input_tokens]}} — the final counts
    message_stop

Each event is framed ``event: NAME\\ndata: {json}\\n\\n`` (JSON by orjson). A chunk's
``reasoning_content`` (or ``reasoning``) opens a thinking block; there is no
``signature_delta``, since nothing but Anthropic can sign (the block's ``signature`` stays
``""``). ``content`` opens a text block; each new tool call (a new ``index``, or a new ``id``)
opens a tool_use block. A tool call that goes on after another block has begun cannot be
expressed in Anthropic's stream (a block, once stopped, stays stopped): :class:`StreamShapeError`
is raised, and the server ends the stream with an in-band error (no adapter streams that way).

Stop reasons and usage are mapped as in :mod:`localrouter.dialects.anthropic_answer`. An error
after the first byte is one ``event: error`` with Anthropic's error object (:meth:`error`), and
then nothing more: no ``message_stop``, as Anthropic ends such a stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from localrouter.dialects.anthropic_answer import matched_stop, stop_reason, usage_from_chat
from localrouter.dialects.anthropic_errors import error_body
from localrouter.errors import StreamShapeError
from localrouter.server.chunk_reader import ChunkReader

Json = dict[str, Any]

_TEXT, _THINKING, _TOOL = 1, 2, 3
_PING = b'event: ping\ndata: {"type":"ping"}\n\n'
_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
_DELTA = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_DELTA_KINDS = {
    _TEXT: b',"delta":{"type":"text_delta","text":',
    _THINKING: b',"delta":{"type":"thinking_delta","thinking":',
    _TOOL: b',"delta":{"type":"input_json_delta","partial_json":',
}


def _event(name: bytes, data: Json) -> bytes:
    return b"event: " + name + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class StreamEncoder(ChunkReader):
    """One stream's encoder: :meth:`start`, :meth:`feed` for every chunk (read by
    :class:`~localrouter.server.chunk_reader.ChunkReader`), then :meth:`finish`
    (or :meth:`error`). Every method returns the bytes to send (maybe none)."""

    __slots__ = (
        "chars", "index", "input_tokens", "kind", "message_id", "model", "prefix",
        "stop_sequence", "stop_sequences", "tool_id", "tool_index", "tools",
    )  # fmt: skip

    def __init__(
        self,
        *,
        model: str,
        message_id: str,
        input_tokens: int = 0,
        stop_sequences: Sequence[str] | None = None,
    ) -> None:
        self.model = model
        self.message_id = message_id
        self.input_tokens = input_tokens  # the estimate message_start carries
        self.stop_sequences = stop_sequences
        self.started = self.closed = False
        self.index = -1  # the current block's index
        self.kind = 0  # the open block's kind (0: none open)
        self.prefix = b""  # the open block's content_block_delta prefix
        self.tool_index = -1
        self.tool_id = ""
        self.tools: dict[int, str] = {}  # tool call index → the tool_use id given to it
        self.finish_reason: str | None = None
        self.stop_sequence: str | None = None
        self.usage: Json | None = None
        self.chars = 0  # characters streamed, for an output estimate when no usage comes

    # ------------------------------------------------------------ the events

    def start(self) -> bytes:
        """``message_start`` (once)."""
        if self.started:
            return b""
        self.started = True
        message: Json = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": 1},
        }
        return _event(b"message_start", {"type": "message_start", "message": message})

    def _close(self) -> bytes:
        if not self.kind:
            return b""
        self.kind = 0
        return _event(b"content_block_stop", {"type": "content_block_stop", "index": self.index})

    def _open(self, kind: int, block: Json) -> bytes:
        out = self._close()
        self.index += 1
        self.kind = kind
        self.prefix = _DELTA + str(self.index).encode() + _DELTA_KINDS[kind]
        start = {"type": "content_block_start", "index": self.index, "content_block": block}
        out += _event(b"content_block_start", start)
        return out + _PING if self.index == 0 else out

    def _delta(self, kind: int, piece: str, block: Json) -> bytes:
        out = b"" if self.kind == kind else self._open(kind, block)
        self.chars += len(piece)
        return out + self.prefix + orjson.dumps(piece) + b"}}\n\n"

    def _tool(self, call: Any) -> bytes:
        if not isinstance(call, dict):
            return b""
        index, call_id = call.get("index"), call.get("id")
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        new_id = isinstance(call_id, str) and call_id and call_id != self.tool_id
        if type(index) is not int:
            index = len(self.tools) if new_id or self.kind != _TOOL else self.tool_index
        out = b""
        if self.kind != _TOOL or index != self.tool_index or new_id:
            if index in self.tools and not (new_id and call_id not in self.tools.values()):
                raise StreamShapeError(
                    f"tool call {index} continued after another block began; Anthropic's "
                    "stream cannot reopen a block"
                )
            name = function.get("name")
            if not isinstance(name, str) or not name:
                raise StreamShapeError(f"tool call {index} began without a function name")
            tool_id = call_id if new_id else f"toolu_{self.message_id.removeprefix('msg_')}_{index}"
            self.tools[index] = self.tool_id = str(tool_id)
            self.tool_index = index
            block = {"type": "tool_use", "id": self.tool_id, "name": name, "input": {}}
            out = self._open(_TOOL, block)
        arguments = function.get("arguments")
        if isinstance(arguments, dict):  # a provider that sends the object itself
            arguments = orjson.dumps(arguments).decode()
        if isinstance(arguments, str) and arguments:
            out += self._delta(_TOOL, arguments, {})
        return out

    def thought(self, piece: str) -> bytes:
        return self._delta(_THINKING, piece, _THINKING_BLOCK)

    def text(self, piece: str) -> bytes:
        return self._delta(_TEXT, piece, _TEXT_BLOCK)

    def call(self, call: Any) -> bytes:
        return self._tool(call)

    def finished(self, choice: Json, reason: str) -> None:
        self.finish_reason = reason
        self.stop_sequence = matched_stop(choice, self.stop_sequences)

    def finish(
        self, usage: tuple[int, int] | None = None, finish_reason: str | None = None
    ) -> bytes:
        """The end: the open block's stop, ``message_delta`` and ``message_stop``.

        ``usage``: (prompt tokens, completion tokens) as the server counted them (OpenAI's
        convention: prompt tokens include cached ones); None: the last chunk's usage, else the
        estimates. ``finish_reason``: None for the one the chunks gave."""
        if self.closed:
            return b""
        out = (b"" if self.started else self.start()) + self._close()
        self.closed = True
        counts = usage_from_chat(self.usage)
        if usage is not None:
            cached = counts.get("cache_read_input_tokens", 0)
            counts["input_tokens"] = max(usage[0] - cached, 0)
            counts["output_tokens"] = usage[1]
        elif self.usage is None:
            counts["input_tokens"] = self.input_tokens
            counts["output_tokens"] = (self.chars + 3) // 4  # estimate_tokens' rule
        reason = stop_reason(finish_reason or self.finish_reason, tool_calls=bool(self.tools))
        sequence = self.stop_sequence if reason == "end_turn" and not finish_reason else None
        delta = {
            "stop_reason": "stop_sequence" if sequence is not None else reason,
            "stop_sequence": sequence,
        }
        out += _event(b"message_delta", {"type": "message_delta", "delta": delta, "usage": counts})
        return out + _STOP

    def error(
        self, status_or_type: int | str, message: str, *, request_id: str | None = None
    ) -> bytes:
        """One in-band ``error`` event; the stream ends with it."""
        if self.closed:
            return b""
        self.closed = True
        return _event(b"error", error_body(status_or_type, message, request_id=request_id))


_TEXT_BLOCK: Json = {"type": "text", "text": ""}
_THINKING_BLOCK: Json = {"type": "thinking", "thinking": "", "signature": ""}
