"""``localrouter init [PATH]``: write a commented starter config and print its client key once.

Without a PATH (or ``--config``) it goes where the config lookup (SPEC §1) finds it from any
directory: ``$LOCALROUTER_CONFIG`` when set, else the user config directory
(:func:`~localrouter.config.locate.user_config_dir`, created 0700). An existing file is never
overwritten without ``--force``. stdout gets the key and nothing else, so
``KEY=$(localrouter init)`` works; every message goes to stderr.

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
from localrouter.config.locate import user_config_dir
from localrouter.keygen import new_key
from localrouter.statefiles import private_dir


def starter_text() -> tuple[str, str]:
    """The starter config's text and the key it was written for."""
    key = new_key()
    text = (files("localrouter") / "templates" / "starter.yaml").read_text(encoding="utf-8")
    text = text.replace("__KEY_PREFIX__", key.prefix).replace("__KEY_HASH__", key.hash)
    return text, key.key


def _default_path() -> Path:
    """Where the config lookup finds a config from any directory (not ``./routers.yaml``)."""
    env = os.environ.get("LOCALROUTER_CONFIG")
    return Path(env) if env else user_config_dir(os.environ) / "routers.yaml"


def run(args: Namespace) -> int:
    given = args.config or args.path
    path = Path(given) if given else _default_path()
    if path.is_dir():
        path = path / "routers.yaml"
    if path.exists() and not args.force:
        how = "pass --force to overwrite it" + ("" if given else ", or name another PATH")
        print(f"error: {path} exists; {how}", file=sys.stderr)
        return EXIT_USAGE
    text, key = starter_text()
    private_dir(path.parent)  # the user config directory (or a new one) is 0700
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
    print(f"wrote {path} (and {schema.name} for editors)", file=sys.stderr)
    if not given and Path("routers.yaml").exists() and not os.environ.get("LOCALROUTER_CONFIG"):
        print("note: ./routers.yaml is found first from this directory", file=sys.stderr)
    print("client 'default' key (shown once, store it now):", file=sys.stderr, flush=True)
    print(key)  # the only line on stdout: KEY=$(localrouter init)
    return EXIT_OK
