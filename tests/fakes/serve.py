"""Run an ASGI app for real: Hypercorn on a free loopback port, in a thread with its own loop.

    with serve_app(app) as base_url:
        httpx.get(f"{base_url}/health")

The server is stopped (and its thread joined) when the block ends.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serve_app(app: Any, *, host: str = "127.0.0.1", startup_timeout: float = 10.0) -> Iterator[str]:
    port = free_port()
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 1.0
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    started = threading.Event()
    failure: list[BaseException] = []

    async def main() -> None:
        async def _serve() -> None:
            await serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]

        task = asyncio.ensure_future(_serve())
        for _ in range(int(startup_timeout / 0.01)):
            await asyncio.sleep(0.01)
            try:
                _r, w = await asyncio.open_connection(host, port)
                w.close()
                break
            except OSError:
                if task.done():
                    break
        started.set()
        await task

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # reported to the caller below  # noqa: BLE001
            failure.append(exc)
            started.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name=f"fake-server-{port}", daemon=True)
    thread.start()
    started.wait(startup_timeout)
    if failure:
        raise RuntimeError(f"server on port {port} failed to start") from failure[0]
    try:
        yield f"http://{host}:{port}"
    finally:
        if not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
