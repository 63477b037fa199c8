"""``localrouter migrate PATH``: rewrite a version-1 config as version 2.

In place by default: a file becomes version 2 and the original is kept as ``PATH.v1.bak``; a
directory gets one ``routers.yaml`` and its version-1 files are renamed ``*.v1.bak``. The result is
compiled before anything is written; ``-o FILE`` (or ``-o -`` for stdout) writes elsewhere. An
in-place migration holds the config's lock file from the read to the last rename
(:func:`localrouter.fsutil.locked`, as ``localrouter keys`` does); every write is atomic.
"""

from __future__ import annotations

import sys
import tempfile
from argparse import Namespace
from pathlib import Path

from localrouter.commands.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, print_diagnostics
from localrouter.compiler.build import build
from localrouter.config.migrate import looks_like_v1, migrate_v1, render_v2
from localrouter.config.source import config_files, load
from localrouter.fsutil import atomic_write, locked


def _write_atomic(path: Path, text: str) -> None:
    atomic_write(path, text.encode("utf-8"), backup=False)  # the original is kept as *.v1.bak


def run(args: Namespace) -> int:
    if not (args.path or args.config):
        print("error: name the version-1 config: localrouter migrate PATH", file=sys.stderr)
        return EXIT_USAGE
    root = Path(args.path or args.config)
    if args.output or not root.exists():  # the original is only read (or missing)
        return _migrate(args, root)
    with locked(root / "routers.yaml" if root.is_dir() else root):  # as every config writer
        return _migrate(args, root)


def _migrate(args: Namespace, root: Path) -> int:
    doc, diags = load(root)
    if doc is None:
        for d in diags:
            print(f"{d.span or root}: {d.severity.value}[{d.code}]: {d.message}", file=sys.stderr)
        return EXIT_USAGE if not root.exists() else EXIT_FAILED
    if not looks_like_v1(doc.data):
        print(
            f"{root} is already version {doc.data.get('version')}; nothing to migrate",
            file=sys.stderr,
        )
        return EXIT_OK
    result = migrate_v1(doc.data)
    text = render_v2(result, source=str(root))
    with tempfile.TemporaryDirectory() as tmp:  # prove it compiles before writing anything
        probe = Path(tmp) / "routers.yaml"
        probe.write_text(text, encoding="utf-8")
        built = build(probe)
        if built.table is None:
            print("the migrated config does not compile; nothing was written:", file=sys.stderr)
            print_diagnostics(built, "text", sys.stderr)
            return EXIT_FAILED
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.output == "-":
        sys.stdout.write(text)
        return EXIT_OK
    if args.output:
        _write_atomic(Path(args.output), text)
        print(f"wrote {args.output}", file=sys.stderr)
        return EXIT_OK
    if root.is_dir():
        olds = config_files(root)
        target = root / "routers.yaml"
        for f in olds:
            f.rename(f.with_name(f.name + ".v1.bak"))
        _write_atomic(target, text)
        print(f"wrote {target}; the version-1 files are kept as *.v1.bak", file=sys.stderr)
    else:
        backup = root.with_name(root.name + ".v1.bak")
        backup.write_bytes(root.read_bytes())
        _write_atomic(root, text)
        print(f"rewrote {root}; the original is kept as {backup}", file=sys.stderr)
    return EXIT_OK
