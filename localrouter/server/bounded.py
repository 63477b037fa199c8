"""Run a blocking job in a thread of its own with a deadline, and stop it if it overruns.

The serving loop awaits the job for at most ``timeout_s``. Past that the job is *abandoned*: the
awaiting side gets :class:`TimeoutError` at once (whatever waits on it — the next reload — goes on),
and the thread is asked to stop: :class:`JobAbandoned` is raised inside it at its next Python
bytecode (CPython's ``PyThreadState_SetAsyncExc``; a thread never shares anything with the
server but its result, which is then dropped). A job stuck inside one C call cannot be
interrupted: it stays counted in :class:`Abandoned` until it ends, and while
:data:`MAX_ABANDONED` of them are still running no new job is started (it fails at once with
:class:`TimeoutError`), so a config that hangs the parser cannot pile up threads or memory.

Why a thread and not a process: the compiled table holds compiled CEL programs and is built from
the source document the server keeps; it does not cross a process boundary, and a process per
reload would cost an interpreter start (~0.5 s) every save.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from localrouter.errors import JobAbandoned

log = logging.getLogger("localrouter.reload")

MAX_ABANDONED = 2  # overrunning jobs that would not stop; no new job while this many run

T = TypeVar("T")


class Abandoned:
    """The threads of abandoned jobs that have not ended yet."""

    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []

    def add(self, thread: threading.Thread) -> None:
        self._threads.append(thread)

    @property
    def running(self) -> int:
        self._threads = [t for t in self._threads if t.is_alive()]
        return len(self._threads)


def _interrupt(thread: threading.Thread) -> bool:
    """Raise :class:`JobAbandoned` in ``thread`` at its next bytecode; False if it has ended."""
    ident = thread.ident
    if ident is None or not thread.is_alive():
        return False
    done = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(ident), ctypes.py_object(JobAbandoned)
    )
    return bool(done == 1)


async def run_bounded(job: Callable[[], T], timeout_s: float, abandoned: Abandoned, name: str) -> T:
    """``job()`` in a new daemon thread; its result, or :class:`TimeoutError` after
    ``timeout_s`` (the job is then abandoned, see the module docstring). An exception the job
    raises is re-raised here."""
    if abandoned.running >= MAX_ABANDONED:
        raise TimeoutError(
            f"{abandoned.running} earlier {name} jobs overran their deadline and are still "
            "running; not starting another"
        )
    future: concurrent.futures.Future[T] = concurrent.futures.Future()
    future.set_running_or_notify_cancel()  # running: the waiter's cancel cannot touch it

    def work() -> None:
        try:
            try:
                result = job()
            except JobAbandoned:
                log.warning("%s: the overrunning job stopped", name)
                return
            except BaseException as exc:  # noqa: BLE001  # not swallowed: the waiter re-raises it
                future.set_exception(exc)
                return
            future.set_result(result)
        except JobAbandoned:  # the stop request arrived just as the job ended: nothing to stop
            return

    thread = threading.Thread(target=work, name=f"localrouter-{name}", daemon=True)
    thread.start()
    try:
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)
    except TimeoutError:
        abandoned.add(thread)
        stopping = _interrupt(thread)
        log.error(
            "%s: did not finish within %g s; abandoned%s",
            name, timeout_s, " (asked to stop)" if stopping else "",
        )  # fmt: skip
        raise TimeoutError(f"compiling did not finish within {timeout_s:g} s") from None
