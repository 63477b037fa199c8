"""Take the next item of an async generator only if it is ready now, without waiting.

A stream's events often arrive together — one network read holds many SSE events — and each
one sent on its own costs a trip through Quart, Hypercorn and h11 (~25 µs). The relay asks
:func:`ready` for the next chunk: when the generator can produce it without suspending (the
bytes are already buffered), it is returned at once and joins the same write; when the generator
would wait for the network, the relay flushes what it has and then awaits the returned
:class:`Pending`, which resumes the very same step — nothing is read twice, nothing is lost.

This is what an asyncio Task does with a coroutine, done by hand for one step: ``send(None)``
runs the generator's ``__anext__`` until it either finishes (the item is ready) or yields the
future it waits on. :class:`Pending` then yields that future to the running Task exactly as the
generator would have, and forwards the Task's resumption (or a thrown cancellation) back into
the step, as ``yield from`` would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Coroutine, Generator
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")


class End:
    """The generator is exhausted (its ``__anext__`` raised ``StopAsyncIteration``)."""

    __slots__ = ()


END = End()


class Pending(Generic[T]):
    """A step of ``__anext__`` that is waiting; await it (once) for the item, or ``END``."""

    __slots__ = ("_signal", "_step")

    def __init__(self, step: Coroutine[Any, None, T], signal: object) -> None:
        self._step = step
        self._signal = signal

    def __await__(self) -> Generator[Any, None, T | End]:
        step, signal = self._step, self._signal
        while True:
            try:
                try:
                    yield signal  # what the generator was waiting on, to the Task
                except BaseException as exc:  # noqa: BLE001 — thrown in (a cancel): passed on
                    signal = step.throw(exc)
                else:
                    signal = step.send(None)
            except StopIteration as done:  # the step finished: the item
                return cast(T, done.value)
            except StopAsyncIteration:
                return END

    async def cancel(self) -> None:
        """Abandon the step as a cancelled Task would: ``CancelledError`` is thrown into the
        generator where it waits, and its clean-up (which may await) is driven to the end.
        Needed when the relay stops while holding a step — the generator counts as running,
        so ``aclose()`` alone would refuse."""
        try:
            self._signal = self._step.throw(asyncio.CancelledError())
        except (StopIteration, StopAsyncIteration, asyncio.CancelledError):
            return
        with contextlib.suppress(asyncio.CancelledError):
            await self


def ready(gen: AsyncGenerator[T, None]) -> T | End | Pending[T]:
    """The next item if ``gen`` has it now, ``END`` if it is exhausted, else a
    :class:`Pending` to await. An exception the generator raises is raised here."""
    step = cast(Coroutine[Any, None, T], gen.__anext__())
    try:
        signal = step.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    except StopAsyncIteration:
        return END
    return Pending(step, signal)
