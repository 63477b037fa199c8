"""The OpenAI-compatible surface: chat completions, completions, embeddings (SPEC §3).

Each request: read the table ONCE, authenticate, parse the body, build the facts, ask the router
for a decision, let ``dispatch`` walk the candidates, answer (JSON or SSE), then record usage,
cost and the generation. Errors use OpenAI's envelope.
"""

from __future__ import annotations

import math
import secrets
import time
from typing import Any

import orjson
from quart import Response, current_app, request

from localrouter.compiler.table import Client, RoutingTable
from localrouter.errors import RequestDataError
from localrouter.logs.record import access_line, facts_obj, unauthenticated_line
from localrouter.providers.base import Json
from localrouter.providers.shapes import float32_base64
from localrouter.routing.facts import RequestFacts, facts_from_openai
from localrouter.routing.route import Decision, RuntimeView, Walk, route
from localrouter.runtime.limits import Rejection
from localrouter.runtime.offline import caps_skip
from localrouter.runtime.retry import RetryPolicy
from localrouter.server import budget, validation
from localrouter.server import incoming as incoming_mod
from localrouter.server.accounting import (
    Usage,
    completion_text,
    generation_record,
    usage_from,
)
from localrouter.server.auth import presented_key
from localrouter.server.dispatch import Exhausted, Kind, Resilience, Served, serve
from localrouter.server.errors import error_response
from localrouter.server.incoming import Incoming
from localrouter.server.relay import relay
from localrouter.server.state import Runtime, now_facts


def runtime() -> Runtime:
    rt: Runtime = current_app.extensions["localrouter"]
    return rt


def runtime_view(rt: Runtime, table: RoutingTable, facts: RequestFacts) -> RuntimeView:
    """What the router may know now: latency and health, and provider caps this request would
    exceed (a capped candidate is skipped, never answered 429)."""
    capped = caps_skip(rt.limiter, table, facts.estimated_tokens, budget.output_estimate(facts))
    if rt.health is None:
        return RuntimeView(skip=capped)
    return rt.health.view(also=capped)


def _auth_code(status: int) -> str:
    return "invalid_api_key" if status == 401 else "client_disabled"


async def authenticated() -> tuple[RoutingTable, Client] | Response:
    """The table (read once) and the calling client, or the 401/403 answer (not logged: the
    access log is for model requests; ``/v1/models``, ``/v1/usage`` and friends use this)."""
    rt = runtime()
    table = rt.holder.current
    headers = {k.lower(): v for k, v in request.headers.items()}
    auth = await rt.auth.authenticate(table, presented_key(headers))
    if auth.client is None:
        return error_response(auth.status, auth.message, code=_auth_code(auth.status))
    return table, auth.client


def auth_failure(
    rt: Runtime,
    table: RoutingTable,
    kind: Kind,
    started: float,
    status: int,
    message: str,
    given: str,
) -> Response:
    """Refuse a model request that has no client (401) or a disabled one (403), and log it;
    ``given`` is the caller's ``x-request-id`` ("" when none)."""
    code = _auth_code(status)
    request_id = incoming_mod.request_id(given)
    rt.observer.record(
        unauthenticated_line(
            request_id=request_id,
            endpoint=kind,
            status=status,
            error_code=code,
            latency_ms=(time.perf_counter() - started) * 1000,
            config_sha=table.sha256,
        )
    )
    return error_response(status, message, code=code, headers={"x-request-id": request_id})


class ModelRequest:
    """Per-request context: ids, table, client, decision, timing."""

    def __init__(
        self,
        rt: Runtime,
        table: RoutingTable,
        client: Client,
        kind: Kind,
        started: float,
        headers: dict[str, str],
    ) -> None:
        self.rt = rt
        self.table = table
        self.client = client
        self.kind = kind
        rand = secrets.token_hex(24)  # one system call for both ids
        given = headers.get("x-request-id", "")
        self.request_id = incoming_mod.request_id(given, rand[:24])
        self.gen_id = "gen-" + rand[24:]
        self.started = started
        self.now = now_facts()
        self.decision: Decision | None = None
        self.walk: Walk | None = None
        self.admission: budget.Reservation | None = None
        self.facts: RequestFacts | None = None
        self.lower_headers = headers  # the request's headers, names lower-cased

    def headers(self, served: Served | None = None) -> dict[str, str]:
        out = {"x-request-id": self.request_id, "x-localrouter-generation-id": self.gen_id}
        if served is not None:
            out["x-localrouter-provider"] = served.model.provider
            out["x-localrouter-model"] = served.model.name
        return out

    def fail(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        param: str | None = None,
    ) -> Response:
        """Answer an error after authentication, recording it as this request's generation."""
        self.record(None, None, status, [], message, code)
        return error_response(
            status, message, code=code, param=param, headers={**self.headers(), **(headers or {})}
        )

    def record(
        self,
        served: Served | None,
        usage: Usage | None,
        status: int,
        attempts: list[dict[str, Any]],
        error: str | None = None,
        code: str | None = None,
    ) -> None:
        """Record the request's end: its generation, its access-log line, its metrics."""
        d = self.walk.decision if self.walk is not None else self.decision  # all judged so far
        generation = generation_record(
            gen_id=self.gen_id,
            request_id=self.request_id,
            client=self.client.name,
            strategy=d.strategy if d else None,
            route=d.route if d else None,
            model=served.model if served else None,
            config_sha=self.table.sha256,
            usage=usage,
            latency_ms=(time.perf_counter() - self.started) * 1000,
            ttfb_ms=served.ttfb_ms if served else None,
            stream=bool(self.facts and self.facts.stream),
            status_code=status,
            attempts=attempts,
            error=error,
            left_out=d.left_out if d else (),
        )
        facts = self.facts
        observer = self.rt.observer
        line = access_line(
            generation,
            endpoint=self.kind,
            error_code=code,
            facts=facts_obj(facts, self.now, observer.reads(self.table)) if facts else None,
        )
        observer.record(line, generation)


async def _begin(
    rt: Runtime, kind: Kind, incoming: Incoming
) -> tuple[ModelRequest, Json] | Response:
    started = incoming.started
    table = rt.holder.current  # read once: this request keeps this table
    headers = incoming.headers
    auth = await rt.auth.authenticate(table, presented_key(headers))
    if auth.client is None:
        given = headers.get("x-request-id", "")
        return auth_failure(rt, table, kind, started, auth.status, auth.message, given)
    ctx = ModelRequest(rt, table, auth.client, kind, started, headers)
    max_bytes = int(float(table.settings["server"]["max_body_mb"]) * 1024 * 1024)
    length = incoming.content_length
    if length is not None and length > max_bytes:
        return ctx.fail(413, f"request body over {max_bytes} bytes")
    try:
        raw = await incoming.read(max_bytes)
    except TimeoutError:
        seconds = incoming_mod.BODY_TIMEOUT_S  # read now: tests shorten it
        return ctx.fail(408, f"the request body did not arrive within {seconds:g} s")
    if len(raw) > max_bytes:
        return ctx.fail(413, f"request body over {max_bytes} bytes")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return ctx.fail(400, "the request body is not valid JSON")
    if not isinstance(body, dict):
        return ctx.fail(400, "the request body must be a JSON object")
    return ctx, body


def _base64_embeddings(result: Json) -> bool:
    """Each embedding of ``result`` as base64 float32 (values beyond float32: ±inf); False when
    a vector holds something that is not a number."""
    try:
        for item in result.get("data") or []:
            vector = item.get("embedding")
            if isinstance(vector, list):
                item["embedding"] = float32_base64(vector)
    except TypeError:
        return False
    return True


async def handle(rt: Runtime, kind: Kind, incoming: Incoming) -> Response:
    """One model request, start to answer (a stream's body runs after this returns)."""
    begun = await _begin(rt, kind, incoming)
    if isinstance(begun, Response):
        return begun
    ctx, body = begun
    problem = validation.check(kind, body)  # also drops top-level nulls: absent
    if problem is not None:
        return ctx.fail(400, problem[0], param=problem[1])
    try:
        facts = facts_from_openai(body, ctx.lower_headers, embeddings=kind == "embeddings")
    except RequestDataError as exc:  # tags, headers or metadata over a routing bound
        return ctx.fail(exc.status, exc.message, param=exc.param)
    ctx.facts = facts
    view = runtime_view(rt, ctx.table, facts)
    # judged lazily: until one candidate is eligible; the walk judges more only on fallback
    decision = route(ctx.table, ctx.client, facts, ctx.now, view, want=1)
    ctx.decision = decision
    if decision.status != 200:
        reasons = "; ".join(f"{m}: {r}" for m, r in decision.left_out)
        message = (decision.error or "no route") + (f" ({reasons})" if reasons else "")
        ctx.record(None, None, decision.status, [], message, decision.error_code)
        return error_response(
            decision.status, message, code=decision.error_code, headers=ctx.headers()
        )
    stream = kind != "embeddings" and body.get("stream") is True
    encoding = body.pop("encoding_format", None) if kind == "embeddings" else None
    strategy = ctx.table.strategies[ctx.client.strategy]
    assert rt.health is not None  # Runtime.for_table always builds one
    verdict = budget.reserve(rt.limiter, ctx.client, strategy, facts, decision.candidates[0])
    if isinstance(verdict, Rejection):
        return ctx.fail(
            429, verdict.message, code="rate_limit_exceeded", headers=dict(verdict.headers)
        )
    ctx.admission = verdict
    ctx.walk = decision.walk()
    try:
        served = await serve(
            ctx.table,
            rt.upstreams,
            ctx.walk,
            kind,
            body,
            stream=stream,
            resilience=Resilience(
                RetryPolicy.from_fallback(strategy.fallback, rng=rt.rng),
                rt.retry_budget,
                rt.health,
            ),
            limiter=rt.limiter,
            tokens=(facts.estimated_tokens, budget.output_estimate(facts)),
            reservation=verdict,
        )
    except Exhausted as exc:
        verdict.release()  # nothing was served: the reservation is returned
        attempts = [a.as_dict() for a in exc.attempts]
        extra = ctx.headers()
        if exc.retry_after is not None:
            extra["retry-after"] = str(max(1, math.ceil(exc.retry_after)))
        code = exc.code or {
            429: "rate_limited",
            502: "upstream_failed",
            503: "no_candidates",
            504: "upstream_timeout",
        }.get(exc.status)
        ctx.record(None, None, exc.status, attempts, exc.message, code)
        return error_response(exc.status, exc.message, code=code, headers=extra)
    except BaseException:  # the client went away (cancelled) before any answer, or a bug
        verdict.release()  # nothing was served: a worst-case hold must not outlive the request
        raise
    if not stream:
        result = served.result or {}
        usage = usage_from(
            result.get("usage"),
            prompt_estimate=facts.estimated_tokens,
            completion_text=completion_text(result),
        )
        if usage.estimated and kind != "embeddings" and not result.get("usage"):
            result["usage"] = {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
                "estimated": True,  # the provider reported none: a local estimate
            }
        # adapters return float vectors; encoded once, here (the upstream's junk is a 502)
        junk = encoding == "base64" and not _base64_embeddings(result)
        error = f"{served.model.id} sent an embedding value that is not a number" if junk else None
        code = "upstream_failed" if junk else None
        attempts = [a.as_dict() for a in served.attempts]
        ctx.record(served, usage, 502 if junk else 200, attempts, error, code)
        verdict.settle(served.model, usage)
        if served.provider_admission is not None:
            budget.settle(rt.limiter, served.provider_admission, served.model, usage)
        if error is not None:
            return error_response(502, error, code=code, headers=ctx.headers(served))
        return Response(
            orjson.dumps(result),
            status=200,
            content_type="application/json",
            headers={**ctx.headers(served), **verdict.headers},
        )
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    response = Response(
        relay(ctx, served, include_usage),
        status=200,
        content_type="text/event-stream",
        headers={**ctx.headers(served), **verdict.headers},
    )
    response.headers["cache-control"] = "no-cache"
    response.timeout = None  # streams may run as long as the model writes
    return response
