"""``localrouter serve``: compile the config and serve it with Hypercorn.

Hypercorn settings chosen for a gateway (its defaults are in parentheses):
* ``keep_alive_timeout`` 10 s (5): also the time a client has to send its request head — Hypercorn
  runs this idle timer from the connection's start until a complete head arrives, which is the
  slow-header defence. (``read_timeout`` is not used: it applies to every read, so it would cut
  long streams, during which the client sends nothing.)
* ``graceful_timeout`` 30 s (3): on SIGTERM/SIGINT open streams get up to 30 s to finish.
* access log off (LocalRouter writes its own), error log to stderr.
* uvloop when installed (it measured no gain under Hypercorn, but costs nothing).
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

KEEP_ALIVE_S = 10
GRACEFUL_S = 30


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
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

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
    host = args.host or table.settings["server"]["host"]
    port = args.port or table.settings["server"]["port"]
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.keep_alive_timeout = KEEP_ALIVE_S
    config.graceful_timeout = GRACEFUL_S
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")  # ours: one format, printed once
    from localrouter.statefiles import StateFileError

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
            f"on http://{host}:{port}",
            file=sys.stderr,
            flush=True,
        )
        await serve(app, config, shutdown_trigger=stop.wait)

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
