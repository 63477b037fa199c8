"""Limit units: window lengths and the one metric a limit entry names."""

from __future__ import annotations

from localrouter.config.spec import LIMIT_METRICS, LimitSpec

_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_WINDOW_S = 366 * 86400


def window_seconds(per: str) -> int:
    return int(per[:-1]) * _UNIT_S[per[-1]]


def limit_metric(limit: LimitSpec) -> tuple[str, float] | None:
    set_ = [(m, getattr(limit, m)) for m in LIMIT_METRICS if getattr(limit, m) is not None]
    return set_[0] if len(set_) == 1 else None
