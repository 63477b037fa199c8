"""The admin API's strategies (the dashboard's Strategies page).

- ``GET /admin/api/strategies`` → each strategy as written (models, exclude, order, routes with
  their ``when``, filter, fallback, limits, privacy), where it is (file, line), the clients that
  use it, and the candidates its default route has in the table served (with the ones left out
  at compile time and why). From memory: the table and the document it was compiled from.
- ``POST /admin/api/strategies/{name}/edit`` with ``{models?, order?, limits?}`` → the edited
  file(s) and their preview (``{base_sha, files, ok, sha, diagnostics, diff}``): nothing is
  written. Applying it is ``PUT /admin/api/config`` with those ``files`` and ``base_sha``: the
  one write path (compile first, sha check, lock, atomic write, reload).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from localrouter.compiler.table import LimitPolicy, Route, RoutingTable, Strategy
from localrouter.config.spec import LIMIT_METRICS, ORDER_KEYS
from localrouter.config.strategy_edits import LimitEdit, StrategyEdit, edit_strategy
from localrouter.errors import EditError
from localrouter.server.admin_auth import admin_body, admin_client
from localrouter.server.admin_config import (
    config_root,
    disk_sha,
    files_sha,
    preview_of,
    read_files,
)
from localrouter.server.errors import error_response
from localrouter.server.incoming import Call
from localrouter.server.reply import Reply
from localrouter.server.state import Runtime

_VALUE = re.compile(r"[^\x00-\x1f\x7f]{1,256}")  # one printable line
_PER = re.compile(r"[1-9][0-9]{0,6}[smhd]")
MAX_ITEMS = 256


def limit_json(lim: LimitPolicy) -> dict[str, Any]:
    return {"metric": lim.metric, "amount": lim.amount, "per": lim.per}


def _route(r: Route) -> dict[str, Any]:
    return {
        "name": r.name,
        "when": r.when.source if r.when is not None else None,
        "models": list(r.entries),
        "order": list(r.order),
    }


def _strategy(rt: Runtime, table: RoutingTable, s: Strategy) -> dict[str, Any]:
    written: dict[str, Any] = {}
    where: dict[str, Any] = {"file": None, "line": None}
    if rt.config is not None:
        raw = rt.config.doc.data.get("strategies")
        if isinstance(raw, dict) and isinstance(raw.get(s.name), dict):
            written = raw[s.name]
        span = rt.config.doc.spans.key_span(("strategies", s.name))
        if span is not None:  # named as the config endpoints name files
            base = rt.config.path if rt.config.path is not None else Path(span.file).parent
            base = base if base.is_dir() else base.parent
            path = Path(span.file)
            shown = str(path.relative_to(base)) if path.is_relative_to(base) else path.name
            where = {"file": shown, "line": span.line}
    return {
        "name": s.name,
        "models": list(s.default.entries),
        "exclude": list(written.get("exclude") or []),
        "order": list(s.default.order),
        "routes": [_route(r) for r in s.routes if r is not s.default],
        "filter": s.filter.source if s.filter is not None else None,
        "fallback": {
            "attempts": s.fallback.attempts,
            "backoff_ms": [s.fallback.backoff_min_ms, s.fallback.backoff_max_ms],
        },
        "limits": [limit_json(lim) for lim in s.limits],
        "privacy": s.privacy,
        "clients": sorted(c.name for c in table.clients.values() if c.strategy == s.name),
        "candidates": [m.id for m in s.default.candidates],
        "left_out": [list(pair) for pair in s.default.left_out],
        **where,
    }


async def strategies(rt: Runtime, call: Call) -> Reply:
    """``GET /admin/api/strategies``."""
    got = await admin_client(rt, call)
    if isinstance(got, Reply):
        return got
    table = got[0]
    shown = [s for s in table.strategies.values() if not s.implicit]
    return Reply.json(
        {
            "config_sha": table.sha256,
            "order_keys": list(ORDER_KEYS),
            "limit_metrics": list(LIMIT_METRICS),
            "strategies": [_strategy(rt, table, s) for s in sorted(shown, key=lambda s: s.name)],
        }
    )


def _strings(body: dict[str, Any], key: str, *, empty: bool) -> tuple[str, ...] | Reply | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_ITEMS or (not value and not empty):
        least = 0 if empty else 1
        return _bad(key, f"`{key}` must be a list of {least} to {MAX_ITEMS} strings")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not _VALUE.fullmatch(item):
            msg = f"`{key}` items must be strings of 1 to 256 printable characters"
            return _bad(f"{key}.{i}", msg)
    return tuple(value)


def _limits(body: dict[str, Any]) -> tuple[LimitEdit, ...] | Reply | None:
    value = body.get("limits")
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > 32:
        return _bad("limits", "`limits` must be a list of at most 32 {metric, amount, per}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or set(item) != {"metric", "amount", "per"}:
            return _bad(f"limits.{i}", "each limit is {metric, amount, per}")
        metric, amount, per = item["metric"], item["amount"], item["per"]
        if metric not in LIMIT_METRICS:
            msg = f"`metric` must be one of {', '.join(LIMIT_METRICS)}"
            return _bad(f"limits.{i}.metric", msg)
        number = isinstance(amount, int | float) and not isinstance(amount, bool)
        if not number or not 0 <= amount < 1e15:
            return _bad(f"limits.{i}.amount", "`amount` must be a number ≥ 0")
        if not isinstance(per, str) or not _PER.fullmatch(per):
            return _bad(f"limits.{i}.per", "`per` is a window like 30s, 1m, 1h or 1d")
        out.append(LimitEdit(metric, float(amount), per))
    return tuple(out)


def _bad(param: str, message: str) -> Reply:
    return error_response(400, message, code="invalid_field", param=param)


async def edit(rt: Runtime, call: Call) -> Reply:
    """``POST /admin/api/strategies/{name}/edit``: the edited files and their preview."""
    got = await admin_body(rt, call)
    if isinstance(got, Reply):
        return got
    table, _admin, body = got
    name = call.params.get("name", "")
    strategy = table.strategies.get(name)
    if strategy is None or strategy.implicit:
        return error_response(404, f"no strategy '{name}'", code="unknown_strategy")
    for key in body:
        if key not in ("models", "order", "limits"):
            return _bad(key, f"unknown field `{key}` (give `models`, `order` or `limits`)")
    models = _strings(body, "models", empty=False)
    order = _strings(body, "order", empty=True)
    limits = _limits(body)
    for asked in (models, order, limits):
        if isinstance(asked, Reply):
            return asked
    assert not isinstance(models, Reply) and not isinstance(order, Reply)
    assert not isinstance(limits, Reply)
    root = config_root(rt)
    if isinstance(root, Reply):
        return root
    change = StrategyEdit(name, models, order, limits)
    try:
        texts = await asyncio.to_thread(edit_strategy, root, change)
    except EditError as exc:
        return error_response(409, str(exc), code="edit_not_possible")
    before = await asyncio.to_thread(read_files, root)
    base = await disk_sha(rt, root)
    shown = await preview_of(rt, root, texts)
    files = [{"path": path, "text": text} for path, text in texts.items()]
    return Reply.json(
        {"base_sha": base, "base_files_sha": files_sha(before), "files": files, **shown}
    )
