"""``localrouter serve``: compile the config and serve it with the chosen HTTP server.

The server is ``server.http_server`` (``--http-server`` overrides it): Hypercorn, uvicorn or
Granian, each set up in ``server/http_servers.py`` for the same guarantees — a request head must
arrive within 10 s (the slow-header defence, also the idle keep-alive timeout), on SIGTERM/SIGINT
open streams get up to 30 s to finish, no server access log (LocalRouter writes its own), errors
through LocalRouter's logging. The signals are installed here (SIGHUP reloads the config), not by
the server; uvloop runs the loop when installed.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from argparse import Namespace
from pathlib import Path

from localrouter.commands.common import (
    EXIT_FAILED,
    EXIT_OK,
    config_path,
    fail_build,
    print_diagnostics,
)
from localrouter.compiler.build import BuildResult


def run(args: Namespace) -> int:
    from localrouter.compiler.build import build_document
    from localrouter.config.source import load_files

    doc, diags, texts = load_files(config_path(args))
    if doc is None:
        return fail_build(BuildResult(None, tuple(diags), texts))
    result = build_document(doc, list(diags))
    if result.table is None:
        return fail_build(result)
    if result.diagnostics:  # warnings: shown once at start, like validate
        print_diagnostics(result, "concise", sys.stderr)
    from localrouter.server.app import create_app

    table = result.table
    import logging

    # LocalRouter's own lines (reloads, failed attempts, catalog changes) to stderr, at
    # `logging.level` (set by the app, and again on every reload); requests are in the access log
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S%z",
        stream=sys.stderr,
    )
    logging.getLogger("watchfiles").setLevel(logging.WARNING)  # "1 change detected": ours says more
    for chatty in ("httpx", "httpcore"):  # a line per upstream call, naming its URL: never
        logging.getLogger(chatty).setLevel(logging.WARNING)
    from localrouter.server.http_servers import bind_address, serve

    host = args.host or table.settings.server.host
    port = args.port or table.settings.server.port
    http_server = args.http_server or table.settings.server.http_server
    from localrouter.errors import StateFileError

    try:
        app = create_app(
            table,
            source=(doc, list(diags)),
            config_path=Path(config_path(args)),
            watch=not args.no_watch,
        )
    except StateFileError as exc:  # fail closed: never serve with budgets silently reset
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        source = app.runtime.config
        assert source is not None  # create_app was given the source
        reloads: set[asyncio.Task[object]] = set()

        def reload() -> None:  # SIGHUP: reload now, watched or not
            task = asyncio.ensure_future(source.reload("SIGHUP"))
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        if hasattr(signal, "SIGHUP"):
            loop.add_signal_handler(signal.SIGHUP, reload)
        served = app.runtime.holder.current  # with the cached catalog
        print(
            f"LocalRouter serving {', '.join(table.source_files)} (sha {served.sha256[:12]}) "
            f"on http://{bind_address(host, port)} ({http_server})",
            file=sys.stderr,
            flush=True,
        )
        await serve(app, http_server, host, port, stop)

    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    try:
        runner(main())
    except OSError as exc:  # the address is taken, or not ours to bind
        print(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
