"""cel-python's Lark parser, built once per process and cached on disk between processes.

Building the CEL grammar's LALR tables costs ~120–250 ms, which is most of a `localrouter validate`
run. Lark can cache the built parser: we keep that cache in the user's cache directory
(``$XDG_CACHE_HOME/localrouter`` or ``~/.cache/localrouter``, mode 0700), keyed by the grammar, the
options and the versions of lark and cel-python (Lark checks the hash and rebuilds on mismatch).
The cache is a pickle, so only a directory the user alone can write is used; when there is none,
or anything about the cache fails, the parser is simply built in memory.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import lark
from celpy.celparser import CELParser


def cache_dir() -> Path | None:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(base) / "localrouter"
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = path.stat()
    except OSError:
        return None
    private = not (info.st_mode & (stat.S_IWGRP | stat.S_IWOTH))
    return path if private and info.st_uid == os.getuid() else None


def ensure_parser() -> lark.Lark:
    """cel-python's shared parser (``CELParser.CEL_PARSER``), installing a cached one if absent."""
    if CELParser.CEL_PARSER is None:
        import celpy

        grammar = (Path(celpy.__file__).parent / "cel.lark").read_text(encoding="utf-8")
        options = dict(
            parser="lalr",
            start="expr",
            debug=True,
            g_regex_flags=re.M,
            lexer_callbacks={"IDENT": CELParser.ambiguous_literals},
            propagate_positions=True,
            maybe_placeholders=False,
            priority="invert",
            tree_class=lark.Tree,
        )
        where = cache_dir()
        parser: lark.Lark | None = None
        if where is not None:
            version = f"{lark.__version__}-{getattr(celpy, '__version__', '0')}"
            try:
                parser = lark.Lark(grammar, cache=str(where / f"cel-{version}.lark"), **options)
            except (OSError, EOFError, ValueError, lark.exceptions.LarkError):
                parser = None
        CELParser.CEL_PARSER = parser or lark.Lark(grammar, **options)
    CELParser()  # let cel-python see its parser as built
    assert CELParser.CEL_PARSER is not None
    return CELParser.CEL_PARSER
