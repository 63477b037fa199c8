"""Compiling a config as it would be after an edit, without touching it: the check every writer
of the YAML makes before it writes (``localrouter keys``, the admin API's clients and config
endpoints).

:func:`build_edited` copies the config (a file, or a directory's files) into a scratch
directory, puts the edited texts in place of their files, compiles the copy, and gives back the
result as if the real config had been compiled: diagnostics, their spans and the source texts
name the real files, never the scratch copy.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from localrouter.compiler.build import BuildResult, build
from localrouter.compiler.catalog import CatalogSnapshot
from localrouter.config.source import config_files
from localrouter.diagnostics import Diagnostic


def build_edited(
    root: Path, texts: Mapping[str, str], snapshot: CatalogSnapshot | None = None
) -> BuildResult:
    """``root`` compiled with ``texts`` (a file's name → its new text) in place of its files;
    ``snapshot``: the models discovery found (a running gateway's), so the edit compiles as the
    gateway would compile it."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / root.name
        if root.is_dir():
            copy.mkdir()
            for f in config_files(root):
                shutil.copyfile(f, copy / f.name)
            for name, text in texts.items():
                (copy / name).write_text(text, encoding="utf-8")
        else:
            copy.write_text(texts.get(root.name, root.read_text(encoding="utf-8")), "utf-8")
        result = build(copy, snapshot=snapshot)
    fake, real = str(copy), str(root)
    return replace(
        result,
        diagnostics=tuple(_moved(d, fake, real) for d in result.diagnostics),
        files={k.replace(fake, real): v for k, v in result.files.items()},
    )


def _moved(d: Diagnostic, scratch: str, real: str) -> Diagnostic:
    """``d`` as it reads for the real config (its file and message name no scratch path)."""
    span = d.span and replace(d.span, file=d.span.file.replace(scratch, real))
    return replace(d, message=d.message.replace(scratch, real), span=span)
