"""MCP servers that misbehave, for the gateway's failure paths: each must end in a clear error (or
a bounded timeout) for the client, never a gateway that hangs or dies.

Over stdio (``python -m tests.mcp_servers.broken --mode MODE``, or this file by path):

- ``garbage``: answers every line it reads (and greets at start) with lines that are not JSON;
- ``hang``: reads stdin to its end and never writes a byte;
- ``exit``: writes one line on stderr and exits at once with status 1;
- ``slow_start``: becomes the fixture server (:mod:`tests.mcp_servers.fixture`, exec'd in place)
  told to read nothing until ``--delay`` seconds (default 2) after this start: the messages sent
  meanwhile wait in the pipe, so ``initialize`` is answered only after the delay.

Over HTTP (``--transport streamable_http --mode MODE --port 0``), a bare HTTP/1.1 server on
127.0.0.1 that writes ``READY <port>`` on stderr once listening and answers every request:

- ``garbage``: ``200`` with ``Content-Type: application/json`` and a body that is not JSON;
- ``http500``: ``500 Internal Server Error``;
- ``hang``: reads the request and never answers (the connection stays open).

It uses only the standard library and imports nothing from the repository, so it runs from any
working directory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path

FIXTURE = Path(__file__).resolve().parent / "fixture.py"
GARBAGE = "this is not JSON-RPC {"
MAX_HEAD = 64 * 1024  # request line and headers
MAX_BODY = 1024 * 1024


def stdio_garbage() -> None:
    out = sys.stdout
    out.write(GARBAGE + "\n")
    out.flush()
    for _line in sys.stdin:
        out.write(GARBAGE + "\n")
        out.write("<html>still not json</html>\n")
        out.flush()


def stdio_hang() -> None:
    for _line in sys.stdin:
        pass
    # stdin closed: a client shutting us down. Stay silent until killed, as a hung server does.
    while True:
        time.sleep(3600)


def stdio_exit() -> None:
    sys.stderr.write("broken MCP server: exiting at start\n")
    sys.stderr.flush()
    sys.exit(1)


def stdio_slow_start(delay: float) -> None:
    serve_after = str(time.time() + delay)  # the fixture's own start-up counts in the delay
    fixture = [str(FIXTURE), "--transport", "stdio", "--serve-after", serve_after]
    os.execv(sys.executable, [sys.executable, *fixture])


async def _answer(mode: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return
            length = 0
            for line in head.decode("latin-1").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length" and value.strip().isdigit():
                    length = int(value.strip())
            if length > MAX_BODY:
                return
            await reader.readexactly(length)
            if mode == "hang":
                await reader.read()  # until the client gives up and closes
                return
            if mode == "http500":
                status, ctype, body = (
                    "500 Internal Server Error",
                    "text/plain",
                    b"upstream failed\n",
                )
            else:
                status, ctype, body = "200 OK", "application/json", GARBAGE.encode()
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()


async def serve_http(mode: str, port: int) -> None:
    server = await asyncio.start_server(
        lambda r, w: _answer(mode, r, w), "127.0.0.1", port, limit=MAX_HEAD
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"READY {bound}", file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.mcp_servers.broken")
    parser.add_argument("--transport", choices=["stdio", "streamable_http"], default="stdio")
    parser.add_argument(
        "--mode", required=True, choices=["garbage", "hang", "exit", "slow_start", "http500"]
    )
    parser.add_argument("--delay", type=float, default=2.0, help="slow_start: seconds")
    parser.add_argument("--port", type=int, default=0, help="HTTP port (0: a free one)")
    args = parser.parse_args(argv)
    if args.transport == "streamable_http":
        if args.mode not in ("garbage", "http500", "hang"):
            parser.error("over HTTP the modes are garbage, http500 and hang")
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_http(args.mode, args.port))
        return
    if args.mode == "http500":
        parser.error("http500 is an HTTP mode (--transport streamable_http)")
    if args.mode == "garbage":
        stdio_garbage()
    elif args.mode == "hang":
        stdio_hang()
    elif args.mode == "exit":
        stdio_exit()
    else:
        stdio_slow_start(args.delay)


if __name__ == "__main__":
    main()
