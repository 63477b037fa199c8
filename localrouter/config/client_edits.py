"""Edits of the clients in the YAML a person also edits: the one implementation behind
``localrouter keys`` and the admin API's ``/admin/api/clients`` (SPEC §3).

Both must do exactly the same thing, so neither holds its own copy: an edit changes only its own
lines (:class:`~localrouter.config.edit.ClientsText`), is compiled with the rest of the config in a
scratch copy before anything is replaced (an edit that would make the config invalid is refused
and nothing is written), and is written atomically with the previous version kept as ``NAME.bak``,
holding the config's lock from the read to the rename (:func:`localrouter.fsutil.rewrite`), so
concurrent edits, from a terminal and from the dashboard, never lose one. A new key is made before
the lock (bcrypt is slow) and returned once; only its prefix and bcrypt hash reach the file.

Everything here blocks (bcrypt, the compile, the lock, fsync): the admin API calls
:func:`edit_client` in a worker thread. What the caller shows is its business: the result says
what happened (:class:`Written`, :class:`Refused`, :class:`Rejected`); :class:`EditError` and
:class:`OSError` are the problems neither kind of caller can fix by changing its request.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from localrouter.compiler.build import build
from localrouter.compiler.catalog import CatalogSnapshot
from localrouter.compiler.scratch import build_edited
from localrouter.config.edit import ClientsText
from localrouter.config.source import config_files
from localrouter.diagnostics import Diagnostic, Severity, render_full
from localrouter.errors import EditError
from localrouter.fsutil import rewrite
from localrouter.keygen import BCRYPT_COST, NewKey, new_key

__all__ = [
    "Change",
    "ClientEdit",
    "Refused",
    "Rejected",
    "Written",
    "bcrypt_cost",
    "edit_client",
    "target_file",
]

Change = Literal["create", "rotate", "disable", "enable", "delete", "route"]


@dataclass(frozen=True)
class ClientEdit:
    """One change to client ``name``; ``strategy``/``model`` for ``create`` (neither: the
    config's only strategy) and ``route`` (the one it gets instead of the one it has)."""

    change: Change
    name: str
    strategy: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class Written:
    """The edit is in ``target``; ``key``: the new key of a create or rotate (shown once)."""

    target: Path
    key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Refused:
    """The edited config would not compile: nothing was written. ``errors`` name the real
    config's files (not the scratch copy's); ``rendered`` is them as ``validate`` prints them."""

    errors: tuple[Diagnostic, ...]
    rendered: str


@dataclass(frozen=True)
class Rejected:
    """The edit does not fit the file: no client of that name, or (create) one already."""

    reason: Literal["unknown", "exists"]
    message: str


def bcrypt_cost() -> int:
    """bcrypt cost 12; ``LOCALROUTER_BCRYPT_COST`` lowers it for the test suite only."""
    return int(os.environ.get("LOCALROUTER_BCRYPT_COST", BCRYPT_COST))


def target_file(root: Path, given: str | Path | None = None) -> Path:
    """The file to edit: the config file, ``given``, or the one file of a directory that holds
    ``clients:``."""
    if given:
        return Path(given)
    if not root.is_dir():
        return root
    holding = [f for f in config_files(root) if "clients" in (ClientsText(f.read_text()).root)]
    if len(holding) == 1:
        return holding[0]
    where = "no file" if not holding else f"{len(holding)} files"
    raise EditError(f"{where} in {root} hold `clients:`; name the one to edit with --file")


def check(
    root: Path, target: Path, text: str, snapshot: CatalogSnapshot | None = None
) -> Refused | None:
    """Compile the config as it would be with ``target`` holding ``text`` (in a scratch copy;
    with ``snapshot``, the models a running gateway discovered): None when it compiles, else
    why not."""
    result = build_edited(root, {target.name: text}, snapshot)
    if result.table is not None:
        return None
    errors = tuple(d for d in result.diagnostics if d.severity == Severity.ERROR)
    return Refused(errors, render_full(list(errors), result.files))


def apply(doc: ClientsText, edit: ClientEdit, made: NewKey | None, root: Path) -> Rejected | None:
    """Make ``edit`` on ``doc`` (its text only); a :class:`Rejected` when it does not fit."""
    name = edit.name
    if edit.change == "create":
        assert made is not None
        fields = {"key_prefix": made.prefix, "key_hash": made.hash}
        if edit.model:
            fields["model"] = edit.model
        else:
            fields["strategy"] = edit.strategy or only_strategy(root)
        if name in doc.clients():
            return Rejected("exists", f"client '{name}' already exists")
        doc.add_client(name, fields)
        return None
    if name not in doc.clients():
        return Rejected("unknown", f"no client '{name}' in this file")
    if edit.change == "rotate":
        assert made is not None
        doc.set_value(name, "key_prefix", made.prefix)
        doc.set_value(name, "key_hash", made.hash)
    elif edit.change == "disable":
        doc.set_value(name, "enabled", "false")
    elif edit.change == "enable":
        if "enabled" in doc.client(name):
            doc.set_value(name, "enabled", "true")
    elif edit.change == "delete":
        doc.remove_client(name)
    elif edit.change == "route":
        _route(doc, name, edit)
    return None


def _route(doc: ClientsText, name: str, edit: ClientEdit) -> None:
    """Give client ``name`` the strategy or model of ``edit`` in place of the one it has."""
    key, value = ("model", edit.model) if edit.model else ("strategy", edit.strategy)
    assert value is not None
    other = "strategy" if key == "model" else "model"
    client = doc.client(name)
    if key in client or other not in client:
        doc.set_value(name, key, value)
        if other in client:
            raise EditError(f"client '{name}' has both `strategy` and `model`: edit it by hand")
        return
    doc.replace_key(name, other, key, value)


def only_strategy(root: Path) -> str:
    """The config's one strategy (a client created without ``--strategy``/``--model`` gets it)."""
    result = build(root)
    names = [
        n for n, s in (result.table.strategies.items() if result.table else []) if not s.implicit
    ]
    if len(names) != 1:
        raise EditError("name the client's strategy with --strategy S (or a model with --model M)")
    return names[0]


def edit_client(
    root: Path,
    edit: ClientEdit,
    given: str | Path | None = None,
    snapshot: CatalogSnapshot | None = None,
) -> Written | Refused | Rejected:
    """Make ``edit`` in the config at ``root`` (a file or a directory; ``given``: the file of a
    directory to edit), compiled first, under the lock, atomically (see the module docstring).
    Raises :class:`EditError` when the file cannot be edited so, :class:`OSError` when it cannot
    be read or written; in both cases nothing was written."""
    made = (
        new_key(bcrypt_cost()) if edit.change in ("create", "rotate") else None
    )  # before the lock
    target = target_file(root, given)
    stopped: list[Refused | Rejected] = []

    def edited(text: str) -> str | None:
        doc = ClientsText(text)
        rejected = apply(doc, edit, made, root)
        if rejected is not None:
            stopped.append(rejected)
            return None  # nothing written
        new = doc.render()
        refused = check(root, target, new, snapshot)
        if refused is not None:
            stopped.append(refused)
            return None
        return new

    rewrite(target, edited)  # under the config's lock: concurrent edits never lose one
    if stopped:
        return stopped[0]
    return Written(target, made.key if made is not None else None)
