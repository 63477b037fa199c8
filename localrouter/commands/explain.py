"""``localrouter explain``: the routing decision for one request, dry.

Every candidate is judged (not just until enough passed), so each left-out one has its reason.
Runtime state is the one the server saved in ``state_dir`` (``limits.sqlite3``), read-only and
never created (:mod:`localrouter.runtime.offline`): circuits open, providers unhealthy or capped,
a client or strategy limit that would answer 429, and the observed latency the latency ORDER
keys sort by. Without that file, or with ``--no-state``, nothing is unhealthy, rate-limited or
open; a file that cannot be used is named in a warning and ignored. A config with MCP servers or
skills adds what the client sees behind ``/mcp`` (as ``localrouter mcp tools`` shows it).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from argparse import Namespace
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from localrouter.commands.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail_build, load
from localrouter.compiler.table import ModelInfo, RoutingTable
from localrouter.errors import LimitStateError, RequestDataError
from localrouter.routing.facts import NowFacts, RequestFacts, facts_from_openai
from localrouter.routing.route import NO_RUNTIME, Decision, RuntimeView, route
from localrouter.runtime.limits import Rejection
from localrouter.runtime.offline import SavedRuntime, load_saved, state_path
from localrouter.server import budget, validation


@dataclass(frozen=True)
class StateUsed:
    """Which runtime state the decision was judged with, and how to say so."""

    file: Path | None
    loaded: SavedRuntime | None
    note: str  # shown on the `state:` line

    def as_json(self) -> dict[str, Any]:
        saved = self.loaded
        return {
            "file": str(self.file) if self.file is not None else None,
            "loaded": saved is not None,
            "saved_at": saved.saved_at if saved is not None else None,
            "note": self.note,
        }


def _ago(seconds: float) -> str:
    s = max(0, round(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s / size:.1f} {unit} ago".replace(".0 ", " ")
    return f"{s} s ago"


def _shown(path: Path) -> str:
    """``path`` as a person would type it: relative to the working directory when under it,
    else from ``~`` when under the home directory."""
    for base, prefix in ((Path.cwd(), ""), (Path.home(), "~/")):
        try:
            return prefix + str(path.relative_to(base))
        except ValueError:
            continue
    return str(path)


def load_state(table: RoutingTable, ignore: bool) -> StateUsed:
    """The saved runtime state of ``table``'s config, or why there is none. A file that cannot
    be used gets a warning on stderr, naming it; the decision is then judged without it."""
    path = state_path(table)
    if ignore:
        return StateUsed(path, None, "ignored (--no-state)")
    if path is None:
        return StateUsed(None, None, "none (no state_dir)")
    try:
        loaded = load_saved(table, path)
    except LimitStateError as exc:
        print(
            f"warning: runtime state file {path} cannot be used ({exc.reason}); "
            "judging without runtime state",
            file=sys.stderr,
        )
        return StateUsed(path, None, f"none ({_shown(path)} cannot be used)")
    if loaded is None:
        return StateUsed(path, None, f"none (no runtime state at {_shown(path)})")
    when = ""
    if loaded.saved_at is not None:
        when = f" (saved {_ago(time.time() - loaded.saved_at)})"
    return StateUsed(path, loaded, f"{_shown(path)}{when}")


@dataclass(frozen=True)
class Refused:
    """The server would refuse the request before routing it (400, or 431): why."""

    status: int
    message: str


def _facts(args: Namespace) -> RequestFacts | Refused | str:
    """The request's facts as the server builds them (the same JSON parser, the same body
    validation, the same bounds), a refusal the server would answer, or a usage error."""
    body: dict[str, Any] = {}
    if args.request:
        try:  # orjson, as the server: a long integer literal is a float to it, an int to json
            loaded = orjson.loads(Path(args.request).read_bytes())
        except (OSError, ValueError) as exc:
            return f"cannot read request {args.request}: {exc}"
        if not isinstance(loaded, dict):
            return f"{args.request}: a request body is a JSON object"
        body = loaded
    elif args.prompt is not None:
        body = {"messages": [{"role": "user", "content": args.prompt}]}
    if args.model:
        body["model"] = args.model
    kind = "embeddings" if "input" in body else "completion" if "prompt" in body else "chat"
    if args.request and (problem := validation.check(kind, body)) is not None:
        return Refused(400, problem[0])
    try:
        return facts_from_openai(body, embeddings=kind == "embeddings")
    except RequestDataError as exc:  # tags, metadata over a routing bound
        return Refused(exc.status, exc.message)


def now_facts(at: str | None = None) -> NowFacts | str:
    """CEL's `now`: the local clock, or the time given with --now."""
    if at is None:
        t = time.time()
        lt = time.localtime(t)
        return NowFacts(hour=lt.tm_hour, weekday=lt.tm_wday, unix=int(t))
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        return f"--now {at!r} is not an ISO 8601 time such as 2026-11-23T23:30"
    return NowFacts(hour=when.hour, weekday=when.weekday(), unix=int(when.timestamp()))


def _price(m: ModelInfo) -> str:
    p = m.price_per_mtok
    return "price ?" if p is None else f"${p:g}/Mtok"


def render(
    decision: Decision,
    facts: RequestFacts,
    state: StateUsed | None = None,
    view: RuntimeView = NO_RUNTIME,
    limited: Rejection | None = None,
) -> str:
    lines = [
        f"client:     {decision.client}",
        f"strategy:   {decision.strategy or '-'}",
        f"route:      {decision.route or '-'}",
        f"facts:      model={facts.model or 'auto'} estimated_tokens={facts.estimated_tokens} "
        f"messages={facts.messages_count} complexity={facts.complexity:g} "
        f"tools={str(facts.has_tools).lower()}",
    ]
    alias = decision.alias
    if alias is not None:
        lines.append(
            f"alias:      model '{facts.model}' read as '{alias.target}' "
            f"(alias '{alias.pattern}' of strategy '{decision.strategy}')"
        )
    if state is not None:
        lines.append(f"state:      {state.note}")
    if decision.status != 200:
        lines.append(f"result:     {decision.status} {decision.error}")
    elif limited is not None:
        lines.append(f"result:     429 {limited.message}")
    lines.append("candidates:" if decision.candidates else "candidates: none")
    for i, m in enumerate(decision.candidates, 1):
        extra = [m.kind, _price(m)]
        if m.params_b is not None:
            extra.append(f"{m.params_b:g}B")
        if m.context_window:
            extra.append(f"ctx {m.context_window}")
        p50 = view.latency_ms.get(m.id)
        if p50 is not None:
            extra.append(f"p50 {p50:.4g} ms")
        lines.append(f"  {i}. {m.id}  ({', '.join(extra)})")
    if decision.left_out:
        lines.append("left out:")
        for model, reason in decision.left_out:
            lines.append(f"  - {model}: {reason}")
    return "\n".join(lines) + "\n"


def as_json(
    decision: Decision,
    state: StateUsed | None = None,
    view: RuntimeView = NO_RUNTIME,
    limited: Rejection | None = None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "status": 429 if limited is not None else decision.status,
        "client": decision.client,
        "strategy": decision.strategy,
        "route": decision.route,
        "alias": (
            {"pattern": decision.alias.pattern, "target": decision.alias.target}
            if decision.alias is not None
            else None
        ),
        "candidates": [m.id for m in decision.candidates],
        "left_out": [{"model": m, "reason": r} for m, r in decision.left_out],
        "error": limited.message if limited is not None else decision.error,
    }
    if limited is not None:
        doc["retry_after_s"] = None if limited.never else round(limited.retry_after_s, 3)
    if state is not None:
        doc["latency_ms"] = {
            m.id: round(view.latency_ms[m.id], 3)
            for m in decision.candidates
            if m.id in view.latency_ms
        }
        doc["state"] = state.as_json()
    return doc


def run(args: Namespace) -> int:
    result = load(args)
    if result.table is None:
        return fail_build(result, args.format)
    client = result.table.clients.get(args.client)
    if client is None:
        known = ", ".join(sorted(result.table.clients)) or "none"
        print(f"error: unknown client '{args.client}' (clients: {known})", file=sys.stderr)
        return EXIT_USAGE
    facts = _facts(args)
    if isinstance(facts, str):
        print(f"error: {facts}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(facts, Refused):
        refused = Decision(facts.status, client.name, error=facts.message)
        if args.format == "json":
            sys.stdout.write(json.dumps(as_json(refused), indent=2, ensure_ascii=False) + "\n")
        else:  # no facts, no candidates: the request never reaches routing
            sys.stdout.write(
                f"client:     {client.name}\nresult:     {facts.status} {facts.message}\n"
            )
        return EXIT_FAILED
    now = now_facts(args.now)
    if isinstance(now, str):
        print(f"error: {now}", file=sys.stderr)
        return EXIT_USAGE
    table = result.table
    state = load_state(table, bool(getattr(args, "no_state", False)))
    saved = state.loaded
    out = budget.output_estimate(facts)
    view = saved.view(table, facts.estimated_tokens, out) if saved is not None else NO_RUNTIME
    decision = route(table, client, facts, now, view, judge_all=True)
    limited: Rejection | None = None
    first = decision.first
    if saved is not None and decision.status == 200 and first is not None:
        strategy = table.strategies[client.strategy]  # the server's own check, on a copy
        # async like the server's (the store's calls are); the offline store never suspends
        verdict = asyncio.run(budget.reserve(saved.limiter, client, strategy, facts, first))
        limited = verdict if isinstance(verdict, Rejection) else None
    from localrouter.commands.mcp_cmd import explain_json, explain_lines

    if args.format == "json":
        doc = as_json(decision, state, view, limited)
        mcp = explain_json(table, client)  # only for a config with MCP servers or skills
        if mcp is not None:
            doc["mcp"] = mcp
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render(decision, facts, state, view, limited))
        lines = explain_lines(table, client)
        if lines is not None:
            sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_OK if decision.status == 200 and limited is None else EXIT_FAILED
