"""``localrouter explain``: the routing decision for one request, dry.

Every candidate is judged (not just until enough passed), so each left-out one has its reason.
Without runtime state, nothing is unhealthy, rate-limited or open: `serve` adds those reasons.
"""

from __future__ import annotations

import json
import sys
import time
from argparse import Namespace
from datetime import datetime
from pathlib import Path
from typing import Any

from localrouter.commands.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail_build, load
from localrouter.compiler.table import ModelInfo
from localrouter.routing.facts import NowFacts, RequestFacts, facts_from_openai
from localrouter.routing.route import Decision, route


def _facts(args: Namespace) -> RequestFacts | str:
    body: dict[str, Any] = {}
    if args.request:
        try:
            loaded = json.loads(Path(args.request).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return f"cannot read request {args.request}: {exc}"
        if not isinstance(loaded, dict):
            return f"{args.request}: a request body is a JSON object"
        body = loaded
    elif args.prompt is not None:
        body = {"messages": [{"role": "user", "content": args.prompt}]}
    if args.model:
        body["model"] = args.model
    return facts_from_openai(body)


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


def render(decision: Decision, facts: RequestFacts) -> str:
    lines = [
        f"client:     {decision.client}",
        f"strategy:   {decision.strategy or '-'}",
        f"route:      {decision.route or '-'}",
        f"facts:      model={facts.model or 'auto'} estimated_tokens={facts.estimated_tokens} "
        f"messages={facts.messages_count} complexity={facts.complexity:g} "
        f"tools={str(facts.has_tools).lower()}",
    ]
    if decision.status != 200:
        lines.append(f"result:     {decision.status} {decision.error}")
    lines.append("candidates:" if decision.candidates else "candidates: none")
    for i, m in enumerate(decision.candidates, 1):
        extra = [m.kind, _price(m)]
        if m.params_b is not None:
            extra.append(f"{m.params_b:g}B")
        if m.context_window:
            extra.append(f"ctx {m.context_window}")
        lines.append(f"  {i}. {m.id}  ({', '.join(extra)})")
    if decision.left_out:
        lines.append("left out:")
        for model, reason in decision.left_out:
            lines.append(f"  - {model}: {reason}")
    return "\n".join(lines) + "\n"


def as_json(decision: Decision) -> dict[str, Any]:
    return {
        "status": decision.status,
        "client": decision.client,
        "strategy": decision.strategy,
        "route": decision.route,
        "candidates": [m.id for m in decision.candidates],
        "left_out": [{"model": m, "reason": r} for m, r in decision.left_out],
        "error": decision.error,
    }


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
    now = now_facts(args.now)
    if isinstance(now, str):
        print(f"error: {now}", file=sys.stderr)
        return EXIT_USAGE
    decision = route(result.table, client, facts, now, judge_all=True)
    if args.format == "json":
        sys.stdout.write(json.dumps(as_json(decision), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render(decision, facts))
    return EXIT_OK if decision.status == 200 else EXIT_FAILED
