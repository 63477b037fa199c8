"""create_app: the Quart application, and the lifespan that owns its long-lived resources.

Quart defaults that break a gateway are overridden here: ``RESPONSE_TIMEOUT`` (60 s would cut every
long stream) is off, ``MAX_CONTENT_LENGTH`` follows the config's ``server.max_body_mb`` (413 in
OpenAI's envelope), and every error page is OpenAI's JSON envelope. Hypercorn's settings are in
``commands/serve.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from quart import Quart, Response, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from localrouter.compiler.table import RoutingTable
from localrouter.config.source import SourceDocument
from localrouter.diagnostics import Diagnostic
from localrouter.runtime.store import LimitStateError
from localrouter.server import admin_api, models_api, usage_api
from localrouter.server.discovery import start_discovery
from localrouter.server.edge import Edge
from localrouter.server.errors import error_response
from localrouter.server.front import ModelFront
from localrouter.server.incoming import request_id
from localrouter.server.reload import ConfigSource
from localrouter.server.reload import watch as watch_config
from localrouter.server.state import Runtime

BODY_TIMEOUT_S = 60
STATE_SNAPSHOT_S = 10.0
log = logging.getLogger("localrouter.server")


def create_app(
    table: RoutingTable,
    *,
    use_aiohttp: bool = True,
    source: tuple[SourceDocument, list[Diagnostic]] | None = None,
    config_path: Path | None = None,
    watch: bool = False,
) -> Quart:
    """The gateway app serving ``table``. With ``source`` (the document the table was compiled
    from), model discovery runs in the background and a changed catalog recompiles the table
    from that same document (never from a half-saved file) and swaps it in. With
    ``config_path`` too, the config can be reloaded (``rt.config.reload()``, SIGHUP in
    ``serve``); ``watch`` reloads it whenever its files change (see ``server/reload.py``)."""
    app = Quart("localrouter")
    app.config["RESPONSE_TIMEOUT"] = None
    app.config["BODY_TIMEOUT"] = BODY_TIMEOUT_S  # the model endpoints: incoming.BODY_TIMEOUT_S
    max_mb = float(table.settings["server"]["max_body_mb"])
    app.config["MAX_CONTENT_LENGTH"] = int(max_mb * 1024 * 1024)
    rt = Runtime.for_table(table, use_aiohttp=use_aiohttp)
    app.extensions["localrouter"] = rt
    app.register_blueprint(models_api.bp)
    app.register_blueprint(admin_api.bp)
    app.register_blueprint(usage_api.bp)
    flusher: list[asyncio.Task[None]] = []
    stopping = asyncio.Event()

    def install(new: RoutingTable) -> bool:
        """Every swap: the runtime's one path, then the body limit of the new table."""
        swapped = rt.swap(new)
        app.config["MAX_CONTENT_LENGTH"] = int(
            float(new.settings["server"]["max_body_mb"]) * 1024 * 1024
        )
        return swapped

    if source is not None:
        rt.config = ConfigSource(
            config_path, *source, lambda: rt.holder.current, install, rt.holder.failed
        )
    discovery = start_discovery(rt, rt.config) if rt.config is not None else None

    async def persist_state() -> None:
        """Limit counters, breakers and health to ``state_dir`` every 10 s: gathered on the loop
        (where they change), written in a worker thread."""
        while True:
            await asyncio.sleep(STATE_SNAPSHOT_S)
            rt.limit_store.prune(rt.live_limit_keys(), round(time.time() * 1000))
            try:
                await asyncio.to_thread(rt.write_state, rt.saved_state())
            except LimitStateError as exc:  # keep serving; the next snapshot tries again
                log.error("%s", exc)

    @app.before_serving
    async def start() -> None:
        rt.loop = asyncio.get_running_loop()  # swaps from worker threads reconcile on it
        rt.observer.start()
        flusher.append(asyncio.ensure_future(rt.observer.warm()))
        flusher.append(asyncio.ensure_future(rt.generations.run_flusher()))
        flusher.append(asyncio.ensure_future(persist_state()))
        if discovery is not None:
            flusher.append(asyncio.ensure_future(discovery.run()))
        if rt.health is not None:  # health checks and the breakers they feed
            rt.health.start(rt.holder.current.providers)
        if watch and rt.config is not None and rt.config.path is not None:
            stopping.clear()
            flusher.append(asyncio.ensure_future(watch_config(rt.config, stopping)))

    @app.after_serving
    async def stop() -> None:
        stopping.set()
        for task in flusher:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if rt.health is not None:
            await rt.health.aclose()
        rt.observer.close()  # every queued access-log line and generation is written
        try:
            rt.write_state(rt.saved_state())  # spent budgets, open circuits survive a restart
        except LimitStateError as exc:
            log.error("%s", exc)
        await rt.upstreams.aclose()

    @app.after_request
    async def add_request_id(response: Response) -> Response:
        """Every response carries an x-request-id (the caller's, when it sent a sane one)."""
        if "x-request-id" not in response.headers:
            response.headers["x-request-id"] = request_id(request.headers.get("x-request-id", ""))
        return response

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        max_mb = float(rt.holder.current.settings["server"]["max_body_mb"])
        message = {
            404: "no such endpoint",
            405: "method not allowed on this endpoint",
            413: f"request body over {max_mb:g} MB",
        }.get(status, exc.description or "error")
        answer = error_response(status, message)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:  # RFC 9110: 405 names them
            answer.headers["allow"] = ", ".join(sorted(exc.valid_methods))
        return answer

    # the edge (Host check, request framing, CORS) once, in front of every endpoint
    app.asgi_app = Edge(ModelFront(app.asgi_app, rt), rt.holder)  # type: ignore[method-assign]
    return app
