"""The one pipeline: load → (migrate v1) → schema → specs → semantic → compile.

``validate`` runs it and stops; ``serve`` runs the same code and swaps the table in. Every step
collects diagnostics; a later step still runs when it can, so one run reports everything.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from localrouter.compiler.catalog import CatalogSnapshot, build_catalog
from localrouter.compiler.compile import compile_config
from localrouter.compiler.table import RoutingTable
from localrouter.config import schema_check, semantic
from localrouter.config.secret_mask import config_names, find_secrets
from localrouter.config.source import SourceDocument, SpanIndex, load_files
from localrouter.config.spec import ConfigSpec
from localrouter.diagnostics import (
    Diagnostic,
    Span,
    error,
    has_errors,
    sorted_diagnostics,
    warning,
)


@dataclass(frozen=True)
class BuildResult:
    table: RoutingTable | None
    diagnostics: tuple[Diagnostic, ...]
    files: Mapping[str, str] = field(default_factory=dict)
    config: ConfigSpec | None = None
    legacy: bool = False
    # secrets starred in ``files`` and ``diagnostics`` already (by :func:`build_document`, which
    # knows the document); any other result is starred from its texts alone when it is made
    masked: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.masked:
            found = find_secrets(self.files)
            object.__setattr__(self, "files", found.files(self.files))
            shown = tuple(found.diagnostic(d) for d in self.diagnostics)
            object.__setattr__(self, "diagnostics", shown)
            object.__setattr__(self, "masked", True)

    @property
    def ok(self) -> bool:
        return self.table is not None and not has_errors(self.diagnostics)


class _OriginSpans(SpanIndex):
    """Spans for a migrated document: each v2 path is looked up at the v1 path it came from."""

    def __init__(
        self, source: SpanIndex, origins: Mapping[tuple[str | int, ...], tuple[str | int, ...]]
    ) -> None:
        super().__init__(source.entries, source._block_indent)
        self.origins = origins

    def span(self, path: tuple[str | int, ...], *, key: bool = False) -> Span | None:
        p = tuple(path)
        while p:
            if p in self.origins:
                return super().span(self.origins[p], key=key)
            p = p[:-1]
        return super().span((), key=key)


def build(
    path: str | os.PathLike[str],
    *,
    snapshot: CatalogSnapshot | None = None,
    strict: bool = False,
) -> BuildResult:
    doc, diagnostics, texts = load_files(path)
    if doc is None:
        return BuildResult(None, tuple(sorted_diagnostics(diagnostics)), texts)
    return build_document(doc, diagnostics, snapshot=snapshot, strict=strict)


def _shown(
    doc: SourceDocument,
    table: RoutingTable | None,
    diagnostics: tuple[Diagnostic, ...],
    config: ConfigSpec | None,
    legacy: bool,
) -> BuildResult:
    """The result as it may be shown: the secrets of ``doc`` (a literal key, a secret header, a
    URL's password; :mod:`localrouter.config.secret_mask`) starred in its texts and messages."""
    found = find_secrets(doc.files, doc.data, doc.spans, config_names(doc.data))
    shown = tuple(found.diagnostic(d) for d in diagnostics)
    return BuildResult(table, shown, found.files(doc.files), config, legacy, masked=True)


def build_document(
    doc: SourceDocument,
    diagnostics: list[Diagnostic] | None = None,
    *,
    snapshot: CatalogSnapshot | None = None,
    strict: bool = False,
) -> BuildResult:
    diags = list(diagnostics or [])
    data, spans, legacy = doc.data, doc.spans, False
    from localrouter.config.migrate import looks_like_v1, migrate_v1

    if looks_like_v1(data):
        migrated = migrate_v1(data)
        data, legacy = migrated.data, True
        spans = _OriginSpans(doc.spans, migrated.origins)
        legacy_warning = warning(
            "LR207",
            "legacy version-1 config: loaded through migration",
            doc.spans.span(("version",)) or doc.spans.span(()),
            f"run `localrouter migrate {doc.root}` to rewrite it as version 2",
        )
        diags.append(replace(legacy_warning, notes=tuple(migrated.notes)))
    problems = schema_check.check(data, spans)
    diags += problems
    config: ConfigSpec | None = None
    table: RoutingTable | None = None
    broken: set[tuple[str, str]] = set()
    damaged: set[tuple[str, str]] = set()
    usable: dict[str, Any] | None = data
    if has_errors(problems):  # keep checking what is valid, so one run reports everything
        usable, broken, damaged = schema_check.prune_invalid(data)
    # a file that did not parse may define what the others refer to: don't call names unknown
    partial = has_errors(diags[: len(diagnostics or [])])
    if usable is not None:
        data = usable
        try:
            config = ConfigSpec.model_validate(data)
        except ValidationError as exc:  # the schema passed, so this is a gap between the two
            diags += [
                error(
                    "LR209",
                    f"{'.'.join(map(str, e['loc']))}: {e['msg']}",
                    spans.span(tuple(e["loc"])),
                )
                for e in exc.errors()
            ]
            return _shown(doc, None, tuple(sorted_diagnostics(diags)), None, legacy)
        catalog = build_catalog(config, snapshot)
        diags += semantic.check(config, spans, catalog, broken, damaged, partial=partial)
        result = compile_config(
            config, catalog, spans=spans, base_dir=doc.base_dir, source_files=tuple(doc.files)
        )
        diags += result.diagnostics
        table = result.table
    if strict:
        diags = [d.escalated() for d in diags]
    final = tuple(sorted_diagnostics(diags))
    if has_errors(final):
        table = None
    return _shown(doc, table, final, config, legacy)
