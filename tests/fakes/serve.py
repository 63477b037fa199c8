"""Run an ASGI app for real: Hypercorn on a free loopback port, in a thread with its own loop.

    with serve_app(app) as base_url:
        httpx.get(f"{base_url}/health")

The server is stopped (and its thread joined) when the block ends.

A fake provider can also break the TCP connection a request came on, as a crashing server or a
middlebox does: :func:`break_connection` (``how="rst"`` resets it, ``"fin"`` closes it) makes the
connection's next write end it instead of sending anything — before the status line (no HTTP
answer at all) or in the middle of a streamed body. The bytes written before stay delivered.
It works because this harness accepts connections itself (:class:`_Listener` hands Hypercorn
:class:`ScriptedSocket` objects) and hands each request its socket in the ASGI scope.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, Literal

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config, Sockets
from hypercorn.utils import wrap_app

Breaking = Literal["rst", "fin"]
SOCKET_EXTENSION = "tests.fakes.connection"  # scope["extensions"][...]: the ScriptedSocket
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def wait_for_requests(*states: Any, timeout: float = 5.0) -> None:
    """Wait until every fake state has recorded a request: a gateway's first health check,
    which would otherwise take the step a test is about to script."""
    deadline = time.monotonic() + timeout
    while not all(s.requests for s in states):
        if time.monotonic() > deadline:
            raise AssertionError("a fake provider never received its first request")
        time.sleep(0.01)


def wait_for_streams_closed(*states: Any, timeout: float = 5.0) -> None:
    """Wait until no fake has a stream still open: a stream a previous test left (its client
    gone, the server not told yet) would otherwise end, or count a disconnect, inside the next
    test's counters."""
    deadline = time.monotonic() + timeout
    while any(s.streams_open for s in states):
        if time.monotonic() > deadline:
            raise AssertionError("a fake provider's stream from an earlier test never ended")
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ScriptedSocket(socket.socket):
    """An accepted connection whose next write can be turned into a reset or a close."""

    _breaking: Breaking | None = None

    def break_on_next_write(self, how: Breaking) -> None:
        """The next write sends nothing: with ``rst`` the connection is reset (SO_LINGER 0, so
        closing it sends a TCP RST), with ``fin`` it is closed (FIN) without an answer."""
        self._breaking = how

    def _written(self) -> None:
        how = self._breaking
        if how is None:
            return
        self._breaking = None
        if how == "rst":
            self.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # asyncio's transport takes this as a lost connection and closes the socket: RST or FIN
        raise ConnectionResetError("scripted connection break")

    def send(self, data: Any, flags: int = 0) -> int:
        self._written()
        return super().send(data, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self._written()
        super().sendall(data, flags)

    def sendmsg(self, *args: Any) -> int:
        self._written()
        return super().sendmsg(*args)


class _Listener(socket.socket):
    """A listening socket whose accepted connections are :class:`ScriptedSocket` objects,
    remembered by peer address so the request's scope can name its own."""

    def __init__(self, family: int, kind: int) -> None:
        super().__init__(family, kind)
        self.accepted: weakref.WeakValueDictionary[tuple[str, int], ScriptedSocket] = (
            weakref.WeakValueDictionary()
        )

    def accept(self) -> tuple[socket.socket, Any]:
        fd, addr = self._accept()  # type: ignore[attr-defined]
        conn = ScriptedSocket(self.family, self.type, self.proto, fileno=fd)
        if socket.getdefaulttimeout() is None and self.gettimeout():
            conn.setblocking(True)
        self.accepted[(addr[0], addr[1])] = conn
        return conn, addr


async def released(hold: threading.Event | None, timeout: float = 10.0) -> None:
    """Wait until the test sets ``hold`` (no wait without one): a scripted break mid-stream
    waits for it, so the test decides when its client has seen enough."""
    if hold is not None:
        await asyncio.to_thread(hold.wait, timeout)


def break_connection(scope: Scope, how: Breaking = "rst") -> None:
    """Make the next write on the connection of the request with ``scope`` end the connection
    (see :class:`ScriptedSocket`). Only for apps run by :func:`serve_app`."""
    conn = (scope.get("extensions") or {}).get(SOCKET_EXTENSION)
    if not isinstance(conn, ScriptedSocket):
        raise RuntimeError("break_connection needs an app served by tests.fakes.serve.serve_app")
    conn.break_on_next_write(how)


ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _with_socket(app: Any, listener: _Listener) -> ASGIApp:
    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("client"):
            host, port = scope["client"][0], scope["client"][1]
            conn = listener.accepted.get((host, port))
            scope = {**scope, "extensions": {**(scope.get("extensions") or {})}}
            scope["extensions"][SOCKET_EXTENSION] = conn
        await app(scope, receive, send)

    return asgi


@contextmanager
def serve_app(app: Any, *, host: str = "127.0.0.1", startup_timeout: float = 10.0) -> Iterator[str]:
    listener = _Listener(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, 0))  # asyncio listens once Hypercorn serves: until then, refused
    port: int = listener.getsockname()[1]
    config = Config()
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 1.0
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    started = threading.Event()
    failure: list[BaseException] = []

    async def main() -> None:
        async def _serve() -> None:
            wrapped = wrap_app(_with_socket(app, listener), config.wsgi_max_body_size, "asgi")
            await worker_serve(
                wrapped, config, sockets=Sockets([], [listener], []), shutdown_trigger=stop.wait
            )

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
            listener.close()

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
