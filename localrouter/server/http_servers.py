"""The HTTP/1.1 server under the gateway's ASGI app: Hypercorn, uvicorn or Granian, chosen by
``server.http_server`` (or ``serve --http-server``), each set up for the same guarantees.

Only the ASGI interface is used (``http`` and ``lifespan`` scopes), so any ASGI app can be served;
the app's own lifespan runs at start and at stop under every server. What each is set to:

* **the request head**: a connection must deliver a complete request head within
  :data:`KEEP_ALIVE_S` of opening, or of the end of its previous answer — otherwise it is closed
  (the slow-header defence; also the idle keep-alive timeout). A head over
  :data:`MAX_HEAD_BYTES` is answered 431. Hypercorn: ``keep_alive_timeout`` (its idle timer runs
  until a complete head) and h11's 16 KiB bound. uvicorn has neither (its keep-alive timer stops
  at the first byte of the next request, and httptools bounds no head), so its protocol is
  :class:`_BoundedHead` here. Granian: hyper's ``header_read_timeout`` and its read buffer.
* **graceful stop**: when ``stop`` is set, no new connection is accepted, idle ones are closed,
  and open requests and streams get up to :data:`GRACEFUL_S` to finish; then they are cancelled
  and the app's lifespan shutdown runs. Granian has no such bound of its own: the requests it is
  serving are tracked here (:class:`_InFlight`) and cancelled at the deadline.
* **no server access log** (LocalRouter writes its own) and **no ``Server`` header** (Granian
  always sends ``server: granian``: it has no switch). Errors go through ``logging``.
* **bodies** are the app's: it enforces ``server.max_body_mb`` itself.
* **framing**: ``Content-Length`` with ``Transfer-Encoding`` is refused by the app's edge under
  Hypercorn (h11 passes both on), by the parser under uvicorn (llhttp: 400), and served as
  chunked with the connection closed after it under Granian (hyper drops ``Content-Length``, as
  RFC 9112 §6.1 allows): under none of them is a byte after such a body read as a request.

Signals are the caller's (``serve`` installs SIGINT, SIGTERM and SIGHUP and sets ``stop``); no
server here installs its own. The address is bound here first, so a taken port is an
``OSError`` under every server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Literal

HttpServer = Literal["hypercorn", "uvicorn", "granian"]
HTTP_SERVERS: tuple[HttpServer, ...] = ("hypercorn", "uvicorn", "granian")
DEFAULT_HTTP_SERVER: HttpServer = "uvicorn"  # the least CPU a request: docs/performance.md
KEEP_ALIVE_S = 10
GRACEFUL_S = 30
MAX_HEAD_BYTES = 16 * 1024  # Hypercorn's (h11's) bound, kept for the others
BACKLOG = 1024

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]
log = logging.getLogger("localrouter.server")


def bind_address(host: str, port: int) -> str:
    """``host:port`` as a URL authority: ``[::1]:3625`` for an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listen_socket(host: str, port: int) -> socket.socket:
    """A listening socket on ``host`` (a name, an IPv4 or an IPv6 address) and ``port``; an
    ``OSError`` when the address is taken or not this machine's."""
    family, kind, proto, _name, addr = socket.getaddrinfo(
        host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:  # [::] is IPv6 only, as Hypercorn binds it
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(addr)
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


async def serve(
    app: ASGIApp,
    server: HttpServer,
    host: str,
    port: int,
    stop: asyncio.Event,
    *,
    graceful_s: float = GRACEFUL_S,
) -> None:
    """Serve ``app`` on ``host:port`` with ``server`` until ``stop`` is set, then stop
    gracefully, open requests given up to ``graceful_s`` (see the module's docstring). Runs on
    the current event loop."""
    runner = {"hypercorn": _hypercorn, "uvicorn": _uvicorn, "granian": _granian}[server]
    await runner(app, host, port, stop, graceful_s)


# ---------------------------------------------------------------------------------- Hypercorn


async def _hypercorn(
    app: ASGIApp, host: str, port: int, stop: asyncio.Event, graceful_s: float
) -> None:
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [bind_address(host, port)]
    config.backlog = BACKLOG
    config.keep_alive_timeout = KEEP_ALIVE_S  # also the time to a complete head
    config.graceful_timeout = graceful_s
    config.h11_max_incomplete_size = MAX_HEAD_BYTES
    config.include_server_header = False
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")  # ours: one format, printed once
    await hypercorn_serve(app, config, shutdown_trigger=stop.wait, mode="asgi")


# ------------------------------------------------------------------------------------ uvicorn


def _bounded_head_protocol() -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with the head bounded in time and size."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class _HeadTooLarge(Exception):
        """Raised in a parser callback: httptools then stops and raises a parser error."""

    class _BoundedHead(HttpToolsProtocol):
        """A head must be complete within KEEP_ALIVE_S of the connection opening or the end of
        the previous answer (else the connection is closed), and at most MAX_HEAD_BYTES of
        request line and fields (else 431 and the connection is closed)."""

        _head_timer: asyncio.TimerHandle | None = None
        _head_bytes = 0
        _too_large = False

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)  # type: ignore[arg-type]
            self._wait_for_head()

        def _wait_for_head(self) -> None:
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(KEEP_ALIVE_S, self._head_too_slow)

        def _head_too_slow(self) -> None:
            self._head_timer = None
            if not self.transport.is_closing():
                self.transport.close()

        def _count(self, size: int) -> None:
            self._head_bytes += size
            if self._head_bytes > MAX_HEAD_BYTES:
                self._too_large = True
                raise _HeadTooLarge

        def on_message_begin(self) -> None:
            self._head_bytes = 0
            super().on_message_begin()

        def on_url(self, url: bytes) -> None:
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value) + 4)
            super().on_header(name, value)

        def send_400_response(self, msg: str) -> None:  # a parser error; ours is a 431
            if not self._too_large:
                super().send_400_response(msg)
                return
            self.transport.write(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n"
                b"connection: close\r\n\r\n"
            )
            self.transport.close()

        def on_headers_complete(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            waiting = not self.pipeline  # a pipelined request's head is already here
            super().on_response_complete()
            if waiting and not self.transport.is_closing():
                self._wait_for_head()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            super().connection_lost(exc)

    return _BoundedHead


async def _uvicorn(
    app: ASGIApp, host: str, port: int, stop: asyncio.Event, graceful_s: float
) -> None:
    import uvicorn

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:  # the caller's signals, not uvicorn's
            yield

    sock = listen_socket(host, port)
    config = uvicorn.Config(
        app,
        http=_bounded_head_protocol(),
        ws="none",
        lifespan="on",
        loop="none",
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=graceful_s,  # type: ignore[arg-type]
        backlog=BACKLOG,
        access_log=False,
        server_header=False,
        proxy_headers=False,  # the client address is the connection's, never a header's
        log_config=None,  # ours
    )
    logging.getLogger("uvicorn").setLevel(logging.ERROR)  # start-up lines, bad requests: no
    server = _Server(config)

    async def stop_when_asked() -> None:
        await stop.wait()
        server.should_exit = True

    stopper = asyncio.ensure_future(stop_when_asked())
    try:
        with sock:
            await server.serve(sockets=[sock])
    except SystemExit as exc:  # uvicorn exits this way when the app's lifespan startup fails
        raise RuntimeError("the app failed to start (lifespan startup)") from exc
    finally:
        stopper.cancel()


# ------------------------------------------------------------------------------------ Granian


class _InFlight:
    """ASGI wrapper: the tasks serving ``http`` requests right now, to cancel at a deadline."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.tasks: set[asyncio.Task[Any]] = set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            await self.app(scope, receive, send)
        finally:
            self.tasks.discard(task)

    def cancel_all(self) -> int:
        for task in self.tasks:
            task.cancel()
        return len(self.tasks)


async def _granian(
    app: ASGIApp, host: str, port: int, stop: asyncio.Event, graceful_s: float
) -> None:
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server.embed import Server

    # Granian binds in its own (Rust) code and panics on a taken port: bind here first, so a
    # taken port is a plain OSError, and give it the numeric address (it parses no names)
    with listen_socket(host, port) as probe:
        address = str(probe.getsockname()[0])
    tracked = _InFlight(app)
    server = Server(
        tracked,
        address=address,
        port=port,
        interface=Interfaces.ASGI,  # with lifespan
        http=HTTPModes.http1,
        websockets=False,
        backlog=BACKLOG,
        http1_settings=HTTP1Settings(
            header_read_timeout=KEEP_ALIVE_S * 1000,  # hyper: idle and head, as Hypercorn's
            keep_alive=True,
        ),
        log_level=LogLevels.error,  # "embedded server is experimental" at every start: no
        log_dictconfig={"loggers": {"_granian": {"handlers": [], "propagate": True}}},
        log_access=False,
    )

    async def stop_when_asked() -> None:
        await stop.wait()
        server.stop()  # type: ignore[no-untyped-call]
        await asyncio.sleep(graceful_s)
        cut = tracked.cancel_all()
        if cut:
            log.warning(
                "graceful stop: %d request(s) still open after %g s cancelled", cut, graceful_s
            )

    stopper = asyncio.ensure_future(stop_when_asked())
    try:
        await server.serve()
    finally:
        stopper.cancel()
    if server.interrupt_children and not stop.is_set():  # its worker ended: a failed start-up
        raise RuntimeError("Granian's worker ended (lifespan startup failed?): see the log")
