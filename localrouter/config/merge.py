"""Merging a config directory: several files' documents into one, section by section (SPEC §1).

Named sections (``providers``, ``strategies``, ``clients``, ``mcp_servers``, ``skills``) merge by
name and a name defined in two files is an error naming both places; ``tests`` concatenate (the
spans of the later files' tests shift with them); ``version`` may repeat but must agree; any
other section may be set in one file only.
"""

from __future__ import annotations

from typing import Any

from localrouter.config.source import PathKey, SpanIndex
from localrouter.diagnostics import Diagnostic, error

NAMED_SECTIONS = frozenset({"providers", "strategies", "clients", "mcp_servers", "skills"})
LIST_SECTIONS = frozenset({"tests"})


def _copy_spans(src: SpanIndex, dst: SpanIndex, prefix: PathKey, shift: int = 0) -> None:
    n = len(prefix)
    for p, loc in src.entries.items():
        if p[:n] == prefix:
            target = p
            idx = p[n] if len(p) > n else None
            if shift and isinstance(idx, int):
                target = (*p[:n], idx + shift, *p[n + 1 :])
            dst.entries[target] = loc
            if p in src._block_indent:
                dst._block_indent[target] = src._block_indent[p]


def merge(
    parsed: list[tuple[str, dict[str, Any], SpanIndex]], diagnostics: list[Diagnostic]
) -> tuple[dict[str, Any], SpanIndex]:
    """Merge per-file documents section by section; report a name defined twice at both places."""
    merged: dict[str, Any] = {}
    spans = SpanIndex()
    for _name, data, local in parsed:
        for section, value in data.items():
            first_key = spans.key_span((section,)) if section in merged else None
            if section in NAMED_SECTIONS and isinstance(value, dict):
                target = merged.setdefault(section, {})
                if not isinstance(target, dict):
                    continue
                if (section,) not in spans.entries:
                    _copy_spans(local, spans, (section,))
                    for p in [p for p in spans.entries if len(p) > 1 and p[0] == section]:
                        del spans.entries[p]
                for item, item_value in value.items():
                    here = local.key_span((section, item))
                    if item in target:
                        first = spans.key_span((section, item))
                        kind = section[:-1].replace("_", " ")
                        diagnostics.append(
                            error(
                                "LR303",
                                f"{kind} '{item}' is defined in two files",
                                here,
                                f"first defined at {first}; rename or remove one of them",
                            )
                        )
                        continue
                    target[item] = item_value
                    _copy_spans(local, spans, (section, item))
            elif section in LIST_SECTIONS and isinstance(value, list):
                existing = merged.setdefault(section, [])
                if isinstance(existing, list):
                    if (section,) not in spans.entries:
                        spans.entries[(section,)] = local.entries[(section,)]
                    n = len(existing)
                    items = {p: loc for p, loc in local.entries.items() if len(p) > 1}
                    _copy_spans(SpanIndex(items, local._block_indent), spans, (section,), n)
                    existing.extend(value)
            elif section == "version" and section in merged:
                if merged[section] != value:
                    diagnostics.append(
                        error(
                            "LR303",
                            f"files disagree on version ({merged[section]!r} and {value!r})",
                            local.span((section,)),
                            f"the other file sets it at {spans.span((section,))}",
                        )
                    )
            elif section in merged:
                diagnostics.append(
                    error(
                        "LR303",
                        f"section '{section}' is set in two files",
                        local.key_span((section,)),
                        f"first set at {first_key}; keep it in one file",
                    )
                )
            else:
                merged[section] = value
                _copy_spans(local, spans, (section,))
    return merged, spans
