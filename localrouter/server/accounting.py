"""Usage and cost of one request, and its generation record.

Usage is the provider's own report; only when it gives none is it estimated locally (about four
characters a token) and marked ``estimated``. Cost comes from the catalog's prices (USD per
million tokens); a model without prices has cost ``null``, a local one without prices costs 0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from localrouter.compiler.table import ModelInfo


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def usage_from(
    report: Any, *, prompt_estimate: int, completion_text: str = "", completion_chars: int = 0
) -> Usage:
    """The provider's ``report``, else an estimate from the answer's text (or, for a stream,
    from ``completion_chars``, the count of characters it streamed)."""
    if isinstance(report, dict) and isinstance(report.get("prompt_tokens"), int):
        completion = report.get("completion_tokens")
        return Usage(
            report["prompt_tokens"],
            completion if isinstance(completion, int) else 0,
            bool(report.get("estimated")),
        )
    chars = len(completion_text) + completion_chars
    return Usage(prompt_estimate, (chars + 3) // 4, estimated=True)


def cost(model: ModelInfo, usage: Usage) -> dict[str, float | None]:
    if model.input_per_mtok is None and model.output_per_mtok is None:
        if model.kind == "local":
            return {"prompt": 0.0, "completion": 0.0, "total": 0.0}
        return {"prompt": None, "completion": None, "total": None}
    p = usage.prompt_tokens * (model.input_per_mtok or 0.0) / 1e6
    c = usage.completion_tokens * (model.output_per_mtok or 0.0) / 1e6
    return {"prompt": round(p, 10), "completion": round(c, 10), "total": round(p + c, 10)}


def completion_text(obj: dict[str, Any]) -> str:
    """The text an answer (or a chunk) carries, for estimates."""
    out = []
    for choice in obj.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        for part in (choice.get("message"), choice.get("delta")):
            if isinstance(part, dict):
                if isinstance(part.get("content"), str):
                    out.append(part["content"])
                for call in part.get("tool_calls") or []:
                    fn = call.get("function") if isinstance(call, dict) else None
                    if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                        out.append(fn["arguments"])
        if isinstance(choice.get("text"), str):
            out.append(choice["text"])
    return "".join(out)


def generation_record(
    *,
    gen_id: str,
    request_id: str,
    client: str,
    strategy: str | None,
    route: str | None,
    model: ModelInfo | None,
    config_sha: str,
    usage: Usage | None,
    latency_ms: float,
    ttfb_ms: float | None,
    stream: bool,
    status_code: int,
    attempts: list[dict[str, Any]],
    error: str | None = None,
    left_out: tuple[tuple[str, str], ...] = (),
) -> dict[str, Any]:
    return {
        "id": gen_id,
        "object": "generation",
        "request_id": request_id,
        "created": round(time.time(), 3),
        "client": client,
        "strategy": strategy,
        "route": route,
        "provider": model.provider if model else None,
        "model": model.name if model else None,
        "config_sha": config_sha,
        "stream": stream,
        "status_code": status_code,
        "tokens": {
            "prompt": usage.prompt_tokens if usage else 0,
            "completion": usage.completion_tokens if usage else 0,
            "total": usage.total_tokens if usage else 0,
            "estimated": usage.estimated if usage else False,
        },
        "cost_usd": cost(model, usage) if model and usage else None,
        "latency_ms": round(latency_ms, 2),
        "ttfb_ms": round(ttfb_ms, 2) if ttfb_ms is not None else None,
        "attempts": attempts,
        "left_out": [{"model": m, "reason": r} for m, r in left_out],
        "error": error,
    }
