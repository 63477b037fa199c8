"""One upstream MCP server: its session, kept alive by one supervising task.

An :class:`Upstream` owns a task (:meth:`Upstream.start`) that connects over the configured
transport (``stdio``: a subprocess; ``sse``; ``streamable_http``), initialises an MCP session
with the official SDK's :class:`~mcp.ClientSession`, reads the server's tools, resources and
prompts, and then waits until the connection ends or the upstream is stopped. When the
connection ends (the process died, the HTTP server went away, initialisation failed or timed
out) the state becomes ``failed`` with the reason, and the task tries again after a backoff
(0.5 s doubling to :data:`MAX_BACKOFF_S`). Everything a session holds (the process, the HTTP
client, the SDK's task groups) is entered and left in that one task, as anyio requires.

Other tasks use the session through :meth:`Upstream.session`, which waits (up to the
server's ``connect_timeout_s``) for it to be ready, and start it first for a ``first_use``
server. A call in flight when the connection ends fails at once with the SDK's "connection
closed" error: nothing waits for a dead process.

The connection's end is seen without the SDK's private state: the transport's read stream is
forwarded into the session through one more memory stream, and its end (EOF) is the signal.
A stdio server's stderr goes to LocalRouter's log at debug (:mod:`localrouter.mcp.errlog`), and
its last line ends the server's ``last_error`` when it fails.

Secrets (``${env:}``/``${keyring:}`` in ``headers`` and ``env``) are resolved at each connect;
a value never reaches a log line, an error or ``/health`` (errors are redacted with every value
resolved).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx2
import mcp_types as types
from anyio.streams.memory import MemoryObjectSendStream
from mcp import ClientSession, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from mcp_types import CONNECTION_CLOSED

from localrouter import __version__
from localrouter.compiler.mcp_table import McpServer
from localrouter.compiler.table import SecretValue
from localrouter.errors import McpUnavailable
from localrouter.mcp.errlog import describe, stderr_to_log
from localrouter.mcp.listing import Listing, read_listing
from localrouter.redaction import Redactor

log = logging.getLogger("localrouter.mcp")


MAX_BACKOFF_S = 30.0
SESSION_HEADER = "mcp-session-id"
PING_S = 2.0

Resolve = Callable[[SecretValue], str]
Changed = Callable[["Upstream", str], None]  # (upstream, "tools" | "resources" | "prompts")


class Upstream:
    """One configured MCP server (see the module doc). ``resolve`` turns a secret reference
    into its value (raising :class:`~localrouter.errors.SecretError`); ``on_change`` is told
    when the server's tools, resources or prompts changed (after they were read again)."""

    def __init__(
        self,
        server: McpServer,
        resolve: Resolve,
        on_change: Changed | None = None,
    ) -> None:
        self.server = server
        self.name = server.name
        self._resolve = resolve
        self._on_change = on_change
        self._redactor = Redactor()  # the secret values resolved for the last connect
        self.state = "idle"  # idle | starting | ready | failed | stopped
        self.last_error: str | None = None
        self.listing = Listing()
        self.restarts = 0
        self._http_error: str | None = None  # the last error status an HTTP server answered
        self._eof = anyio.Event()  # set when the current connection's transport ended
        self._stderr: list[str] = []  # a stdio server's last line on stderr
        self._garbled = False  # this connection sent something that is not JSON-RPC
        self._eof.set()  # (no connection yet)
        self._session: ClientSession | None = None
        self._settled = anyio.Event()  # set when an attempt to connect ends, either way
        self._stop = anyio.Event()
        self._task: Any = None  # asyncio.Task of the supervisor
        self._scope: anyio.CancelScope | None = None  # the supervisor's: cancelled by aclose()

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the supervising task (idempotent; on the serving loop)."""
        if self._task is None and not self._stop.is_set():
            self._task = asyncio.ensure_future(self._supervise())

    async def aclose(self) -> None:
        """Stop: the session is closed and a stdio server's process ends."""
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            # also mid-connect: a server still starting is not waited for. anyio's cancellation,
            # not the task's: the SDK shields a stdio server's shutdown (stdin closed, SIGTERM,
            # SIGKILL) from it, which a native task.cancel() can cut short, leaving the process
            if self._scope is not None:
                self._scope.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.state = "stopped"
        self._session = None

    async def session(self) -> ClientSession:
        """The ready session, waiting up to ``connect_timeout_s`` for it (a ``first_use``
        server is started here). Raises :class:`~localrouter.errors.McpUnavailable`."""
        if self._session is not None and self.state == "ready":
            return self._session
        if self._stop.is_set():
            raise McpUnavailable(self.name, "the server was removed or changed by a reload")
        self.start()
        if self.state == "failed" and self.last_error is not None:
            raise McpUnavailable(self.name, self.last_error)
        with anyio.move_on_after(self.server.connect_timeout_s):
            await self._settled.wait()
        if self._session is None:
            why = self.last_error or f"not ready within {self.server.connect_timeout_s:g} s"
            raise McpUnavailable(self.name, why)
        return self._session

    @property
    def lost(self) -> bool:
        """Has the current connection ended (or is there none)?"""
        return self._eof.is_set()

    async def alive(self) -> bool:
        """Does the server still answer (a ping, within 2 s)? Asked after a call failed with
        "connection closed", which an HTTP transport also says of one request's stream. When it
        does not answer, the connection is given up (the supervisor connects again)."""
        session = self._session
        if session is None or self.lost:
            return False
        try:
            with anyio.fail_after(min(PING_S, self.server.call_timeout_s)):
                await session.send_ping()
        except MCPError as exc:
            if exc.code != CONNECTION_CLOSED and not self.lost:
                return True  # it answered, if only to say it has no ping: it is there
            self._eof.set()
            return False
        except TimeoutError:
            self._eof.set()
            return False
        return True

    def redact(self, text: str) -> str:
        """``text`` (an error the server sent) without the secret values sent to it."""
        return self._redactor.redact(text)

    # -- the supervisor -----------------------------------------------------------------------
    async def _supervise(self) -> None:
        with anyio.CancelScope() as self._scope:
            await self._loop()

    async def _loop(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            self.state = "starting"
            started = time.monotonic()
            self._http_error = None
            try:
                await self._connect_and_wait()
            except Exception as exc:  # noqa: BLE001 - any failure of the server: reported, retried
                why = describe(exc, self._redactor)
                if self._http_error is not None:  # the SDK's message does not say which
                    why = f"{why} (the server answered {self._http_error})"
                self._failed(self._with_stderr(why))
            else:
                if not self._stop.is_set():
                    self._failed(self._with_stderr("the server closed the connection"))
            if self._stop.is_set():
                break
            if time.monotonic() - started > 60:  # it had been up a while: start over quickly
                backoff = 0.5
            with anyio.move_on_after(backoff):
                await self._stop.wait()
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            self.restarts += 1

    def _with_stderr(self, why: str) -> str:
        """``why`` and, for a stdio server, the last line it wrote on stderr (redacted)."""
        if not self._stderr:
            return why
        said = " ".join(self._redactor.redact(self._stderr[-1]).split())
        return f"{why}; its last words on stderr: {said[:300]}"

    def _failed(self, why: str) -> None:
        self._session = None
        settled, self._settled = self._settled, anyio.Event()
        settled.set()  # whoever waits for this attempt learns that it failed
        self.state = "failed"
        self.last_error = why
        log.warning("MCP server %s: %s", self.name, why)
        self._tell("tools")  # its tools leave the lists until it is back

    def _tell(self, kind: str) -> None:
        if self._on_change is not None and not self._stop.is_set():
            self._on_change(self, kind)

    async def _connect_and_wait(self) -> None:
        eof, s = anyio.Event(), self.server
        self._eof, self._garbled = eof, False
        async with contextlib.AsyncExitStack() as stack:
            read, write = await stack.enter_async_context(self._transport())
            fwd_send, fwd_recv = anyio.create_memory_object_stream[SessionMessage | Exception](0)
            tg = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(tg.cancel_scope.cancel)
            tg.start_soon(_forward, read, fwd_send, eof)
            session = await stack.enter_async_context(
                ClientSession(
                    fwd_recv,
                    write,
                    # a listing or read waits call_timeout_s, and initialize (bounded below by
                    # connect_timeout_s) is not cut short by a shorter call timeout
                    read_timeout_seconds=max(s.call_timeout_s, s.connect_timeout_s),
                    message_handler=self._on_message,
                    client_info=types.Implementation(name="localrouter", version=__version__),
                )
            )
            with anyio.fail_after(self.server.connect_timeout_s):
                await session.initialize()
                self.listing = await read_listing(session, self.name)
            self._session, self.state, self.last_error = session, "ready", None
            self._settled.set()
            log.info("MCP server %s ready: %d tools", self.name, len(self.listing.tools))
            self._tell("tools")
            async with anyio.create_task_group() as waiting:

                async def until(event: anyio.Event) -> None:
                    await event.wait()
                    waiting.cancel_scope.cancel()

                waiting.start_soon(until, eof)
                waiting.start_soon(until, self._stop)

    @contextlib.asynccontextmanager
    async def _transport(self) -> AsyncIterator[tuple[Any, Any]]:
        s = self.server
        if s.transport == "stdio":
            env = {k: self._resolve(v) for k, v in s.env.items()}
            self._redactor = Redactor([v for k, v in env.items() if s.env[k].ref_kind != "literal"])
            params = StdioServerParameters(command=s.command[0], args=list(s.command[1:]), env=env)
            self._stderr = []
            with stderr_to_log(self.name, self._stderr) as errlog:
                async with stdio_client(params, errlog=errlog) as streams:
                    yield streams
            return
        headers = {k: self._resolve(v) for k, v in s.headers.items()}
        self._redactor = Redactor(headers.values())
        assert s.url is not None  # the compiler requires it for HTTP transports
        hooks = {"response": [self._saw]}

        def client(
            headers: dict[str, str] | None = None,
            timeout: httpx2.Timeout | None = None,
            auth: httpx2.Auth | None = None,
        ) -> httpx2.AsyncClient:
            return httpx2.AsyncClient(
                headers=headers, timeout=timeout, auth=auth, event_hooks=hooks
            )

        if s.transport == "sse":
            async with sse_client(
                s.url, headers=headers, timeout=s.connect_timeout_s, httpx_client_factory=client
            ) as streams:
                yield streams
            return
        timeout = httpx2.Timeout(s.connect_timeout_s, read=max(s.call_timeout_s, 300.0))
        async with (
            client(headers=headers, timeout=timeout) as http,
            streamable_http_client(s.url, http_client=http) as streams,
        ):
            yield streams

    async def _saw(self, response: httpx2.Response) -> None:
        if response.status_code >= 400:
            self._http_error = f"HTTP {response.status_code}"
        if response.status_code == 404 and SESSION_HEADER in response.request.headers:
            self._eof.set()  # the server forgot our session (it restarted): connect again

    async def _on_message(self, message: Any) -> None:
        """Notifications from the server: a changed list is read again and passed on. What the
        transport could not read (a stdout line that is not JSON-RPC) is logged once per
        connection, not once per line."""
        if isinstance(message, Exception):
            if not self._garbled:
                self._garbled = True
                why = self.redact(" ".join(str(message).split()))[:200]
                log.warning("MCP server %s sent what is not JSON-RPC (%s): ignored", self.name, why)
            return
        kind = _CHANGED.get(type(message))
        if kind is None or self._session is None:
            return
        try:
            self.listing = await read_listing(self._session, self.name)
        except Exception as exc:  # noqa: BLE001 - the old listing stays; the next change retries
            log.warning("MCP server %s: re-reading its %s failed: %s", self.name, kind, exc)
            return
        self._tell(kind)


_CHANGED: dict[type, str] = {
    types.ToolListChangedNotification: "tools",
    types.ResourceListChangedNotification: "resources",
    types.PromptListChangedNotification: "prompts",
}


async def _forward(
    source: Any, sink: MemoryObjectSendStream[SessionMessage | Exception], eof: anyio.Event
) -> None:
    """Pass the transport's messages to the session. When the transport ends, ``eof`` is set
    *before* the session sees the end, so a call that the session then fails with "connection
    closed" finds the upstream :attr:`~Upstream.lost`."""
    try:
        async for item in source:
            await sink.send(item)
    except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream):
        pass
    finally:
        eof.set()
        await sink.aclose()


async def list_tools_once(server: McpServer, resolve: Resolve) -> list[types.Tool]:
    """Connect to ``server`` once, read its tools and close it (``localrouter mcp tools
    --live``). Raises :class:`~localrouter.errors.McpUnavailable` when it cannot be reached
    within its ``connect_timeout_s``."""
    up = Upstream(server, resolve)
    try:
        await up.session()
        return list(up.listing.tools)
    finally:
        await up.aclose()
