"""The mounted web app: the routes that are not hot, served by Quart (the one module that
imports it).

The model endpoints never reach Quart (:mod:`localrouter.server.asgi` serves them straight
from ASGI: through Quart each cost ~0.3 ms of CPU in framework machinery alone). What Quart
serves here — ``/v1/models``, ``/v1/models/{id}``, ``/v1/generation``, ``/v1/responses/{id}``
(GET, DELETE) and its ``/input_items``, ``/v1/usage``,
``/metrics``, ``/health``, and every path that is no endpoint (404 in OpenAI's envelope) — is
written framework-free (handlers that take a :class:`~localrouter.server.incoming.Call` and
return a :class:`~localrouter.server.reply.Reply`); this module adapts them. Quart's defaults
that would hurt are set here: no response timeout, the body limit of the table served.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from quart import Quart, Response, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from localrouter.server import (
    admin_api,
    admin_clients,
    admin_config,
    admin_mcp,
    admin_strategies,
    admin_views,
    dashboard,
    models_api,
    responses_api,
    usage_api,
)
from localrouter.server.errors import error_response
from localrouter.server.incoming import BODY_TIMEOUT_S, Call, request_id
from localrouter.server.reply import Reply
from localrouter.server.state import Runtime

Handler = Callable[[Runtime, Call], Awaitable[Reply]]

GET = ("GET",)
ROUTES: tuple[tuple[str, Handler, tuple[str, ...]], ...] = (
    ("/v1/models", models_api.list_models, GET),
    ("/v1/models/<path:model_id>", models_api.get_model, GET),
    ("/v1/generation", models_api.get_generation, GET),
    ("/v1/responses/<response_id>", responses_api.response, ("GET", "DELETE")),
    ("/v1/responses/<response_id>/input_items", responses_api.input_items, GET),
    ("/v1/usage", usage_api.usage, GET),
    ("/metrics", usage_api.metrics, GET),
    ("/health", admin_api.health, GET),
    ("/", dashboard.page, GET),
    ("/dashboard/<path:asset>", dashboard.asset, GET),
    ("/admin/api/config", admin_config.get_config, GET),
    ("/admin/api/config", admin_config.put_config, ("PUT",)),
    ("/admin/api/config/preview", admin_config.preview, ("POST",)),
    ("/admin/api/explain", admin_views.explain, ("POST",)),
    ("/admin/api/providers", admin_views.providers, GET),
    ("/admin/api/providers/<name>/check", admin_views.check_provider, ("POST",)),
    ("/admin/api/strategies", admin_strategies.strategies, GET),
    ("/admin/api/mcp", admin_mcp.mcp_view, GET),
    ("/admin/api/strategies/<name>/edit", admin_strategies.edit, ("POST",)),
    ("/admin/api/clients", admin_clients.listing, GET),
    ("/admin/api/clients", admin_clients.create, ("POST",)),
    ("/admin/api/clients/<name>", admin_clients.change_route, ("PATCH",)),
    ("/admin/api/clients/<name>/<action>", admin_clients.action, ("POST",)),
    ("/admin/api/clients/<name>", admin_clients.delete, ("DELETE",)),
)


def _response(reply: Reply) -> Response:
    return Response(reply.body, status=reply.status, headers=reply.headers)


def _route(rt: Runtime, handler: Handler) -> Callable[..., Awaitable[Response]]:
    async def view(**params: str) -> Response:
        body = b""
        if request.method not in ("GET", "HEAD"):  # within MAX_CONTENT_LENGTH (413 past it)
            body = await request.get_data(cache=False, as_text=False, parse_form_data=False)
        call = Call(
            {k.lower(): v for k, v in request.headers.items()},
            request.args.to_dict(),
            request.remote_addr,
            params,
            request.method,
            body,
        )
        return _response(await handler(rt, call))

    view.__name__ = handler.__module__.rsplit(".", 1)[-1] + "." + handler.__name__
    return view


def follow_body_limit(app: Quart, rt: Runtime) -> None:
    """The body limit of the table served now (called again after every swap)."""
    app.config["MAX_CONTENT_LENGTH"] = rt.holder.current.settings.server.max_body_bytes


def web_app(rt: Runtime) -> Quart:
    """The Quart app of ``rt``'s routes that are not hot (mounted by the gateway's app)."""
    app = Quart("localrouter")
    app.config["RESPONSE_TIMEOUT"] = None
    app.config["BODY_TIMEOUT"] = BODY_TIMEOUT_S
    follow_body_limit(app, rt)
    for path, handler, methods in ROUTES:
        app.add_url_rule(path, view_func=_route(rt, handler), methods=list(methods))

    @app.after_request
    async def add_request_id(response: Response) -> Response:
        """Every response carries an x-request-id (the caller's, when it sent a sane one)."""
        if "x-request-id" not in response.headers:
            response.headers["x-request-id"] = request_id(request.headers.get("x-request-id", ""))
        return response

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        max_mb = rt.holder.current.settings.server.max_body_mb
        message = {
            404: "no such endpoint",
            405: "method not allowed on this endpoint",
            413: f"request body over {max_mb:g} MB",
        }.get(status, exc.description or "error")
        answer = _response(error_response(status, message))
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:  # RFC 9110: 405 names them
            answer.headers["allow"] = ", ".join(sorted(exc.valid_methods))
        return answer

    return app
