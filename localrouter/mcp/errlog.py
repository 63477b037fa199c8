"""What an upstream MCP server says about its failures, made fit for the log and ``/health``.

- :func:`describe`: one line for an exception (the first leaf of an exception group), redacted
  with the secret values sent to the server, then cut.
- :func:`stderr_to_log`: a stdio server's stderr, a line at a time to LocalRouter's log at
  debug, the last line kept for its ``last_error``; read in bounded pieces.
- The SDK logs a traceback for every stdout line of a stdio server that is not JSON-RPC; that
  is filtered here (:class:`_OncePerConnection`): the session's message handler logs the first
  of each connection instead (:meth:`localrouter.mcp.upstream.Upstream._on_message`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import Any

import httpx2

from localrouter.redaction import Redactor

MAX_STDERR_LINE = 2000


class _OncePerConnection(logging.Filter):
    """The SDK logs a traceback for every stdout line of a stdio server that is not JSON-RPC:
    a server printing garbage would flood the log. Those lines reach
    :meth:`localrouter.mcp.upstream.Upstream._on_message` too, which logs the first of each
    connection."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "Failed to parse JSONRPC message from server"


logging.getLogger("mcp.client.stdio").addFilter(_OncePerConnection())


def describe(exc: BaseException, redactor: Redactor | None = None) -> str:
    """One line for ``exc`` (the first leaf of an exception group), redacted, bounded."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, TimeoutError):
        text = "timed out starting the session"
    elif isinstance(exc, FileNotFoundError):
        text = f"cannot start the command: {exc.strerror or exc} ({exc.filename})"
    elif isinstance(exc, httpx2.ConnectError):
        text = f"cannot connect: {exc}"
    else:
        detail = str(exc) or type(exc).__name__
        text = f"{type(exc).__name__}: {detail}" if str(exc) else detail
    text = " ".join(text.split())
    if redactor is not None:
        text = redactor.redact(text)
    return text[:500]


@contextlib.contextmanager
def stderr_to_log(name: str, last: list[str]) -> Any:
    """A writable file for a child's stderr whose lines go to the log at debug; ``last`` keeps
    the last non-empty one (for the server's ``last_error``). Read in pieces of at most
    :data:`MAX_STDERR_LINE` bytes: an endless line costs no more memory than that."""
    r, w = os.pipe()
    writer = os.fdopen(w, "w")
    reader = os.fdopen(r, "rb")
    errlog = logging.getLogger(f"localrouter.mcp.{name}")

    def pump() -> None:
        with reader:
            while raw := reader.readline(MAX_STDERR_LINE):
                line = raw.decode("utf-8", "replace").rstrip()
                if line:
                    errlog.debug("%s", line)
                    last[:] = [line]

    threading.Thread(target=pump, name=f"mcp-stderr-{name}", daemon=True).start()
    try:
        yield writer
    finally:
        writer.close()  # the child holds its own copy: the pump ends when the child does
