"""The reading of OpenAI ``chat.completion.chunk`` objects that every stream translated into
another dialect's events shares (the Anthropic Messages and the Responses encoders).

:class:`ChunkReader` is the template: :meth:`~ChunkReader.feed` takes one chunk and calls the
encoder's hooks in the order a chunk's parts come — :meth:`~ChunkReader.thought` for its
``reasoning_content`` (or ``reasoning``), :meth:`~ChunkReader.text` for its ``content``,
:meth:`~ChunkReader.call` for each of its ``tool_calls``, :meth:`~ChunkReader.finished` for its
``finish_reason`` — and keeps the last ``usage`` it reports. Values of the wrong type are
skipped. Each hook returns the bytes it makes; ``feed`` returns them joined, after
:meth:`~ChunkReader.start`'s the first time, and nothing once the encoder is ``closed``.
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]


class ChunkReader:
    """See the module doc; an encoder subclasses it and sets these four attributes."""

    __slots__ = ("closed", "finish_reason", "started", "usage")
    started: bool
    closed: bool
    finish_reason: str | None
    usage: Json | None

    def start(self) -> bytes:
        raise NotImplementedError

    def thought(self, piece: str) -> bytes:
        raise NotImplementedError

    def text(self, piece: str) -> bytes:
        raise NotImplementedError

    def call(self, call: Any) -> bytes:
        raise NotImplementedError

    def finished(self, choice: Json, reason: str) -> None:
        self.finish_reason = reason

    def feed(self, chunk: Json) -> bytes:
        """The events one ``chat.completion.chunk`` makes (often one, maybe none)."""
        if self.closed:
            return b""
        out = b"" if self.started else self.start()
        choices = chunk.get("choices")
        if choices:
            choice = choices[0]
            delta = choice.get("delta")
            if delta:
                thought = delta.get("reasoning_content") or delta.get("reasoning")
                if thought and isinstance(thought, str):
                    out += self.thought(thought)
                text = delta.get("content")
                if text and isinstance(text, str):
                    out += self.text(text)
                calls = delta.get("tool_calls")
                if calls and isinstance(calls, list):
                    for call in calls:
                        out += self.call(call)
            finish = choice.get("finish_reason")
            if finish and isinstance(finish, str):
                self.finished(choice, finish)
        usage = chunk.get("usage")
        if usage and isinstance(usage, dict):
            self.usage = usage
        return out
