"""The gateway's lifespan: every long-lived resource is opened here when serving starts and
closed here, in reverse order, when it stops (one :class:`~contextlib.AsyncExitStack`).

Opened in order: the observer's writer (access log, generations), the stored responses, the
background tasks (metrics warm-up from the log, the generations flusher, the state snapshot every
10 s, model discovery, the config watcher), the health checks. Closed in reverse: tasks
cancelled, health checks stopped, every pending stored response and every queued access-log line
and generation written, the runtime state saved (spent budgets, open circuits survive a
restart), the upstream pools closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from localrouter.errors import LimitStateError
from localrouter.runtime.catalog import Discovery
from localrouter.server.reload import watch as watch_config
from localrouter.server.state import Runtime

STATE_SNAPSHOT_S = 10.0
log = logging.getLogger("localrouter.server")


async def persist_state(rt: Runtime) -> None:
    """Limit counters, breakers and health to ``state_dir`` every 10 s: gathered on the loop
    (where they change), written in a worker thread."""
    while True:
        await asyncio.sleep(STATE_SNAPSHOT_S)
        rt.limit_store.prune(rt.live_limit_keys(), round(time.time() * 1000))
        try:
            await asyncio.to_thread(rt.write_state, rt.saved_state())
        except LimitStateError as exc:  # keep serving; the next snapshot tries again
            log.error("%s", exc)


def save_state(rt: Runtime) -> None:
    try:
        rt.write_state(rt.saved_state())
    except LimitStateError as exc:
        log.error("%s", exc)


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def serving(rt: Runtime, discovery: Discovery | None, watch: bool) -> AsyncIterator[None]:
    """Open every resource of ``rt`` for serving; close them all when the block ends."""
    rt.loop = asyncio.get_running_loop()  # swaps from worker threads reconcile on it
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(rt.upstreams.aclose)
        stack.callback(save_state, rt)
        rt.observer.start()
        stack.callback(rt.observer.close)  # every queued line and generation is written
        if rt.responses is not None:  # stored responses: every pending one written at the end
            await rt.responses.open()
            stack.push_async_callback(rt.responses.close)
        if rt.health is not None:  # health checks and the breakers they feed
            stack.push_async_callback(rt.health.aclose)
        tasks: list[asyncio.Task[None]] = []
        stack.push_async_callback(_cancel, tasks)
        stopping = asyncio.Event()
        stack.callback(stopping.set)
        jobs: list[Coroutine[Any, Any, None]] = [
            rt.observer.warm(),
            rt.generations.run_flusher(),
            persist_state(rt),
        ]
        if discovery is not None:
            jobs.append(discovery.run())
        if watch and rt.config is not None and rt.config.path is not None:
            jobs.append(watch_config(rt.config, stopping))
        tasks.extend(asyncio.ensure_future(job) for job in jobs)
        if rt.health is not None:
            rt.health.start(rt.holder.current.providers)
        rt.mcp.start()  # `at_start` MCP servers connect now
        stack.push_async_callback(rt.mcp.aclose)  # closed before the tasks are cancelled
        yield
