"""Edits of one strategy's ``models``, ``order`` and ``limits``: the dashboard's Strategies page.

The edit is made on the text of the one file that holds ``strategies.NAME`` (a directory config
is edited file by file), with :func:`localrouter.config.yaml_edit.set_key`, so only the lines of
the values replaced change. Nothing is written here: the caller compiles the edited texts, shows
the diff, and writes them through the config endpoint (compile first, sha check, lock, atomic
write, reload) like any other edit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from localrouter.config.source import config_files
from localrouter.config.yaml_edit import set_key
from localrouter.errors import EditError

__all__ = ["LimitEdit", "StrategyEdit", "edit_strategy", "file_of_strategy"]


@dataclass(frozen=True)
class LimitEdit:
    metric: str
    amount: float
    per: str

    def as_yaml(self) -> dict[str, Any]:
        amount: float = int(self.amount) if float(self.amount).is_integer() else self.amount
        return {self.metric: amount, "per": self.per}


@dataclass(frozen=True)
class StrategyEdit:
    """What to set; a field left None is not touched. ``limits=()`` removes the limits."""

    name: str
    models: tuple[str, ...] | None = None
    order: tuple[str, ...] | None = None
    limits: tuple[LimitEdit, ...] | None = None


def _files(root: Path) -> dict[str, Path]:
    if root.is_dir():
        return {f.name: f for f in config_files(root)}
    return {root.name: root}


def file_of_strategy(root: Path, name: str) -> tuple[str, Path]:
    """The file (its name relative to the config's folder, its path) holding ``strategies.NAME``;
    :class:`EditError` when no file or several do."""
    files = _files(root)
    if len(files) == 1:  # a file config: the compiled table named it, so it is here
        return next(iter(files.items()))
    found = []
    for rel, path in files.items():
        try:
            data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
        except YAMLError:
            continue
        strategies = data.get("strategies") if isinstance(data, dict) else None
        if isinstance(strategies, dict) and name in strategies:
            found.append((rel, path))
    if len(found) != 1:
        where = "no file" if not found else f"{len(found)} files"
        raise EditError(f"strategy '{name}' is in {where} of the config: edit it by hand")
    return found[0]


def edit_strategy(root: Path, edit: StrategyEdit) -> dict[str, str]:
    """The edited text of the file holding the strategy (relative name → text). Raises
    :class:`EditError` when the file's shape does not allow the edit."""
    rel, path = file_of_strategy(root, edit.name)
    text = path.read_text(encoding="utf-8")
    where = ("strategies", edit.name)
    changes: Mapping[str, Any] = {
        "models": None if edit.models is None else list(edit.models),
        "order": None if edit.order is None else list(edit.order),
        "limits": None if edit.limits is None else [lim.as_yaml() for lim in edit.limits],
    }
    for key, value in changes.items():
        if value is None:
            continue
        # an empty order or limits list is the key removed (the default); models may not be empty
        text = set_key(text, where, key, value if value or key == "models" else None)
    return {rel: text}
