"""``localrouter init [PATH]``: write a commented starter config and print its client key once.

Beside it goes ``localrouter.schema.json``, which the config's ``yaml-language-server`` line points
at, so an editor completes and checks keys with no network.
"""

from __future__ import annotations

import os
import sys
from argparse import Namespace
from importlib.resources import files
from pathlib import Path

from localrouter.commands.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from localrouter.keygen import new_key


def starter_text() -> tuple[str, str]:
    """The starter config's text and the key it was written for."""
    key = new_key()
    text = (files("localrouter") / "templates" / "starter.yaml").read_text(encoding="utf-8")
    text = text.replace("__KEY_PREFIX__", key.prefix).replace("__KEY_HASH__", key.hash)
    return text, key.key


def run(args: Namespace) -> int:
    path = Path(args.config or args.path)
    if path.is_dir():
        path = path / "routers.yaml"
    if path.exists() and not args.force:
        print(f"error: {path} exists; pass --force to overwrite it", file=sys.stderr)
        return EXIT_USAGE
    text, key = starter_text()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    from localrouter.compiler.build import build

    result = build(path)
    if result.table is None:  # the template is tested; this guards against an edited install
        print(f"error: the starter config written to {path} does not validate", file=sys.stderr)
        return EXIT_FAILED
    schema = path.parent / "localrouter.schema.json"
    if not schema.exists():  # what the `$schema` line points editors at
        from localrouter.commands.schema import schema_text

        schema.write_text(schema_text(), encoding="utf-8")
    print(f"wrote {path} (and {schema.name} for editors)")
    print(f"client 'default' key (shown once, store it now): {key}", file=sys.stderr)
    if not sys.stdout.isatty():
        print(key)
    return EXIT_OK
