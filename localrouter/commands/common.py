"""Helpers every command shares: find the config, build it, print diagnostics."""

from __future__ import annotations

import json
import os
import sys
from argparse import Namespace
from pathlib import Path
from typing import TextIO

from localrouter import colour
from localrouter.compiler.build import BuildResult, build
from localrouter.config.locate import find_default_config
from localrouter.diagnostics import RENDERERS, to_json_obj

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def config_path(args: Namespace, positional: str | None = None) -> Path:
    return find_default_config(positional or getattr(args, "config", None), os.environ)


def load(args: Namespace, positional: str | None = None, *, strict: bool = False) -> BuildResult:
    return build(config_path(args, positional), strict=strict)


def not_found(result: BuildResult) -> bool:
    return result.table is None and any(
        d.code == "LR501" and d.span is None for d in result.diagnostics
    )


def print_diagnostics(result: BuildResult, fmt: str = "text", out: TextIO | None = None) -> None:
    out = out or sys.stdout
    if result.diagnostics:
        text = RENDERERS[fmt](list(result.diagnostics), result.files)
        out.write(colour.for_stream(text, out) if fmt in ("text", "concise") else text)


def fail_build(result: BuildResult, fmt: str = "text") -> int:
    """Print why a config did not build (as JSON for --format json); the exit code to return."""
    if fmt == "json":
        doc = {"ok": False, "diagnostics": [to_json_obj(d) for d in result.diagnostics]}
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        print_diagnostics(result, fmt if fmt in RENDERERS else "text")
    return EXIT_USAGE if not_found(result) else EXIT_FAILED
