"""One request's entry in the gateway's books: its ids, and the record made when it ends.

Every model request, whatever its dialect, is recorded once, here: its generation (tokens,
cost, latency, attempts, what a translation dropped), its access-log line and its metrics
(:class:`~localrouter.server.observe.Observer`). A request refused before it has a client (401,
or a disabled client's 403) gets a line of its own (:func:`refused`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from localrouter.compiler.table import Client, RoutingTable
from localrouter.logs.record import access_line, facts_obj, unauthenticated_line
from localrouter.routing.facts import RequestFacts
from localrouter.routing.route import Decision, Walk
from localrouter.server import incoming
from localrouter.server.accounting import Usage, generation_record
from localrouter.server.state import now_facts

if TYPE_CHECKING:
    from localrouter.server.dispatch import Served
    from localrouter.server.state import Runtime


def auth_code(status: int) -> str:
    return "invalid_api_key" if status == 401 else "client_disabled"


def refused(
    rt: Runtime, table: RoutingTable, endpoint: str, started: float, status: int, given: str
) -> str:
    """Log a model request refused for its key (401) or its disabled client (403); the
    request id it is answered with."""
    request_id = incoming.request_id(given)
    rt.observer.record(
        unauthenticated_line(
            request_id=request_id,
            endpoint=endpoint,
            status=status,
            error_code=auth_code(status),
            latency_ms=(time.perf_counter() - started) * 1000,
            config_sha=table.sha256,
        )
    )
    return request_id


class Ledger:
    """Per-request ids, the routing decision once made, and :meth:`record`."""

    __slots__ = (
        "client",
        "decision",
        "dropped",
        "endpoint",
        "facts",
        "gen_id",
        "now",
        "request_id",
        "rt",
        "started",
        "table",
        "walk",
    )  # fmt: skip

    def __init__(
        self,
        rt: Runtime,
        table: RoutingTable,
        client: Client,
        endpoint: str,
        started: float,
        given_id: str,
    ) -> None:
        self.rt = rt
        self.table = table
        self.client = client
        self.endpoint = endpoint
        rand = f"{rt.ids.getrandbits(192):048x}"  # ids name, they guard nothing: no syscall
        self.request_id = incoming.request_id(given_id, rand[:24])
        self.gen_id = "gen-" + rand[24:]
        self.started = started
        self.now = now_facts()
        self.decision: Decision | None = None
        self.walk: Walk | None = None
        self.facts: RequestFacts | None = None
        self.dropped: tuple[str, ...] = ()  # what a translation could not carry

    def headers(self, served: Served | None = None) -> dict[str, str]:
        out = {"x-request-id": self.request_id, "x-localrouter-generation-id": self.gen_id}
        if served is not None:
            out["x-localrouter-provider"] = served.model.provider
            out["x-localrouter-model"] = served.model.name
        return out

    def record(
        self,
        served: Served | None,
        usage: Usage | None,
        status: int,
        error: str | None = None,
        code: str | None = None,
        attempts: list[dict[str, Any]] | None = None,
    ) -> None:
        """Record the request's end: its generation, its access-log line, its metrics."""
        d = self.walk.decision if self.walk is not None else self.decision  # all judged so far
        if attempts is None:
            attempts = [a.as_dict() for a in served.attempts] if served is not None else []
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
        dropped = served.dropped if served is not None and served.dropped else self.dropped
        if dropped:
            generation["translation"] = {"dropped": list(dropped)}
        facts = self.facts
        observer = self.rt.observer
        line = access_line(
            generation,
            endpoint=self.endpoint,
            error_code=code,
            facts=facts_obj(facts, self.now, observer.reads(self.table)) if facts else None,
        )
        observer.record(line, generation)
