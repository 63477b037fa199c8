"""Version 1 (the seed project's legacy layout) → version 2.

The seed's ``settings.yaml``/``routers.yaml`` held ``server``, ``logging`` and the lists
``providers``, ``routers`` (``model_selection: {type: automatic|manual}``, ordering
``strategies``, ``rate_limiters``) and ``api_keys``; ``docs/migration.md`` has the whole table.
:func:`migrate_v1` is pure and never raises: what it cannot map is carried over under its v1 name
(the schema check then reports it at the v1 place, through ``origins``) or, for fields only the
seed used, dropped; either way with a note. Plaintext client keys are bcrypt-hashed with a salt
derived from an HMAC of the key, so the same input always gives the same output.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML

from localrouter.config.migrate_rules import (
    V1_ONLY_KEYS,
    MigrationResult,
    _Migration,
    _number,
)

__all__ = ["MigrationResult", "looks_like_v1", "migrate_v1", "render_v2"]


def looks_like_v1(data: Mapping[str, Any]) -> bool:
    """True for ``version: 1``, or for no ``version`` with a section only version 1 has."""
    if not isinstance(data, Mapping):
        return False
    if "version" in data:
        v = data["version"]
        return v == "1" or (_number(v) and v == 1)
    lists = ("providers", "strategies", "clients")
    return any(k in data for k in V1_ONLY_KEYS) or any(isinstance(data.get(k), list) for k in lists)


def migrate_v1(data: Mapping[str, Any]) -> MigrationResult:
    """Translate a version-1 document into a plain version-2 one. Pure; never raises."""
    if not isinstance(data, Mapping):
        return MigrationResult({"version": 2}, ("the config is not a mapping of sections",), {})
    return _Migration(data).run()


def render_v2(result: MigrationResult, *, source: str) -> str:
    """The migrated document as commented YAML: a header, the notes, a blank line per section."""
    yaml = YAML()
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    head = [f"# Migrated from version 1 by `localrouter migrate` ({' '.join(source.split())})"]
    head += ["#", "# Notes:"] if result.notes else []
    head += [f"#   - {' '.join(n.split())}" for n in result.notes]
    parts = ["\n".join(head) + "\n"]
    for key, value in result.data.items():
        buf = io.StringIO()
        yaml.dump({key: value}, buf)
        parts.append(buf.getvalue())
    return "\n".join(parts)
