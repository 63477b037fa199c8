"""Where the config is: SPEC §1's lookup order and the per-OS user config directory."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path


def find_default_config(explicit: str | None, environ: Mapping[str, str]) -> Path:
    """SPEC §1 lookup order: --config, $LOCALROUTER_CONFIG, ./routers.yaml, the user config dir."""
    if explicit:
        return Path(explicit)
    env = environ.get("LOCALROUTER_CONFIG")
    if env:
        return Path(env)
    local = Path("routers.yaml")
    if local.exists():
        return local
    return user_config_dir(environ) / "routers.yaml"


def user_config_dir(environ: Mapping[str, str]) -> Path:
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "LocalRouter"
    if sys.platform == "win32":
        return Path(environ.get("APPDATA", str(Path.home()))) / "LocalRouter"
    return Path.home() / ".localrouter"
