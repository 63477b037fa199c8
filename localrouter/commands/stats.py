"""``localrouter stats [--since 24h] [--by client|provider|model]``: usage from the access logs.

Reads ``state_dir/logs`` (or ``--logs DIR``) and prints requests, errors, tokens, cost and
latency percentiles per name, largest cost first, with a total. The numbers are computed by the
same code as the gateway's metrics (``runtime/usage_agg.py``), so they agree with ``/v1/usage``.
"""

from __future__ import annotations

import json
import re
import sys
import time
from argparse import Namespace
from pathlib import Path

from localrouter.commands.common import EXIT_OK, EXIT_USAGE, fail_build, load
from localrouter.logs.reader import Skipped, read_range
from localrouter.logs.usage import summarise
from localrouter.runtime.usage_agg import Agg

_SPAN = re.compile(r"(\d+)([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
COLUMNS = ("requests", "errors", "input", "output", "cost $", "p50 ms", "p95 ms", "p99 ms")


def parse_span(text: str) -> float | None:
    """``30m``, ``24h``, ``7d`` → seconds (None when it is not such a span)."""
    m = _SPAN.fullmatch(text.strip())
    return int(m.group(1)) * _UNIT[m.group(2)] if m and int(m.group(1)) > 0 else None


def _directory(args: Namespace) -> Path | int:
    if args.logs:
        return Path(args.logs)
    result = load(args)
    if result.table is None:
        return fail_build(result)
    state_dir = result.table.settings.state_dir
    if not state_dir:
        print("error: the config has no state_dir, so there is no access log", file=sys.stderr)
        return EXIT_USAGE
    return Path(state_dir) / "logs"


def _row(name: str, a: Agg) -> list[str]:
    d = a.as_dict()

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:,.1f}"

    return [
        name,
        f"{a.requests:,}",
        f"{a.errors:,}",
        f"{a.input_tokens:,}",
        f"{a.output_tokens:,}",
        f"{a.cost_usd:,.4f}",
        ms(d["p50_ms"]),
        ms(d["p95_ms"]),
        ms(d["p99_ms"]),
    ]


def render(groups: dict[str, Agg], total: Agg, by: str | None) -> str:
    order = sorted(groups, key=lambda n: (-groups[n].cost, -groups[n].requests, n))
    rows = [[by or "", *COLUMNS]] + [_row(n, groups[n]) for n in order]
    rows.append(_row("total", total))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]

    def fmt(r: list[str]) -> str:
        cells = [r[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
        ]
        return "  ".join(cells).rstrip()

    lines = [fmt(rows[0]), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in rows[1:-1]]
    if len(rows) > 2:
        lines.append("  ".join("-" * w for w in widths))
    lines.append(fmt(rows[-1]))
    return "\n".join(lines)


def run(args: Namespace) -> int:
    span = parse_span(args.since)
    if span is None:
        message = f"error: --since {args.since!r}: expected a span like 30m, 24h or 7d"
        print(message, file=sys.stderr)
        return EXIT_USAGE
    where = _directory(args)
    if isinstance(where, int):
        return where
    if not where.is_dir():
        print(f"error: no access log at {where} (nothing served yet?)", file=sys.stderr)
        return EXIT_USAGE
    now = time.time()
    skipped = Skipped()
    groups = summarise(read_range(where, now - span, now, skipped), args.by)
    total = Agg()
    for a in groups.values():
        total.merge(a)
    if args.format == "json":
        doc = {
            "since_s": span,
            "by": args.by,
            "logs": str(where),
            "skipped_lines": skipped.count,
            "total": total.as_dict(),
            "groups": {name: a.as_dict() for name, a in sorted(groups.items())},
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return EXIT_OK
    print(f"{args.since} of access logs in {where}")
    print(render(groups if args.by else {}, total, args.by))
    if skipped.count:
        print(f"{skipped.count:,} lines could not be read (not JSON, or no usage fields): skipped")
    return EXIT_OK
