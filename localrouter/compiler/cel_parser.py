"""cel-python's Lark parser, built once per process and cached on disk between processes.

Building the CEL grammar's LALR tables costs ~120–250 ms, which is most of a `localrouter validate`
run. Lark can cache the built parser: we keep that cache in the user's cache directory
(``$XDG_CACHE_HOME/localrouter`` or ``~/.cache/localrouter``, mode 0700), keyed by the grammar, the
options and the versions of lark and cel-python (Lark checks the hash and rebuilds on mismatch).
The cache is a pickle, so only a directory the user alone can write is used; when there is none,
or anything about the cache fails, the parser is simply built in memory.

:func:`parse` parses one expression and turns lark's exceptions into one-line LR401 problems.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from types import MappingProxyType

import lark
from celpy.celparser import CELParser
from lark import Token
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from localrouter.compiler.cel_check import CelProblem
from localrouter.compiler.cel_types import Node, fix_positions


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


# fmt: off
_FRIENDLY = MappingProxyType({
    "IDENT": "a name", "INT_LIT": "a number", "UINT_LIT": "a number", "FLOAT_LIT": "a number",
    "STRING_LIT": "a string", "MLSTRING_LIT": "a string", "BYTES_LIT": "bytes",
    "BOOL_LIT": "true/false", "$END": "the end"})
# fmt: on


def _syntax(source: str, ex: UnexpectedInput) -> CelProblem:
    """LR401 with a one-line message from lark's exception."""
    expected: set[str] = set(getattr(ex, "expected", None) or getattr(ex, "allowed", None) or ())
    if "IDENT" in expected:
        want = "expected a value here: a name, a number, a string, '(', '[' or '!'"
    elif "__ANON_0" in expected:
        want = "expected an operator (such as &&, ||, ==, <, +, in) or a closing bracket"
    else:
        parser = CELParser.CEL_PARSER
        terms = {t.name: t.pattern.value for t in parser.terminals} if parser else {}
        want = "expected " + ", ".join(
            sorted(_FRIENDLY.get(e, repr(terms.get(e, e))) for e in expected)
        )
    lines, token = source.split("\n"), getattr(ex, "token", None)
    if ex.line is None or ex.line < 1 or (isinstance(token, Token) and token.type == "$END"):
        at_end = (len(lines), len(lines[-1]) + 1, 1)
        return CelProblem("LR401", "unexpected end of expression", *at_end, want)
    if isinstance(ex, UnexpectedCharacters):
        char = source[ex.pos_in_stream or 0] if source else "?"
        help = "is a string missing its closing quote?" if char in "'\"" else want
        return CelProblem("LR401", f"unexpected character {char!r}", ex.line, ex.column, 1, help)
    text = str(token) if isinstance(ex, UnexpectedToken) and token is not None else ""
    at = (ex.line, ex.column, max(1, len(text.split("\n", 1)[0])))
    return CelProblem("LR401", f"unexpected {text!r}", *at, want)


def parse(source: str) -> Node | CelProblem:
    """The parse tree of ``source`` (positions fixed to the source text), or its LR401."""
    parser = ensure_parser()  # cel-python's shared parser, cached on disk between runs
    try:
        tree: Node = parser.parse(source)
    except UnexpectedInput as ex:
        return _syntax(source, ex)
    except LarkError as ex:
        first = str(ex).strip().split("\n", 1)[0]
        return CelProblem("LR401", f"syntax error: {first}", 1, 1, 1)
    fix_positions(tree, source)
    return tree
