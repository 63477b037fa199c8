"""Files in ``state_dir``: private (directories 0700, files 0600, whatever the umask).

A state file that cannot be used raises a :class:`~localrouter.errors.StateFileError`, which
``serve`` turns into its one-line refusal to start: the message names the file and how to
recover. ``limits.sqlite3`` (:class:`~localrouter.errors.LimitStateError`) and
``generations.sqlite3`` (:class:`~localrouter.errors.GenerationStateError`) raise subclasses.

SQLite creates a database's ``-wal`` and ``-shm`` files with the database file's own mode, so
:func:`private_sqlite` creates the database 0600 before SQLite opens it, and makes files left by an
older version 0600 again.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> None:
    """Make sure ``path`` is a directory; each one created (parents included) is 0700. An
    existing directory keeps its mode: it may be the config's own folder, the default."""
    missing: list[Path] = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=DIR_MODE)
        except FileExistsError:  # made by another process meanwhile
            continue
        os.chmod(d, DIR_MODE)  # mkdir's mode is masked by the umask
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is not a directory")


def private_sqlite(path: Path) -> None:
    """Before SQLite opens ``path``: its directory (:func:`private_dir`) and the file itself
    created 0600, so the ``-wal``/``-shm`` SQLite makes beside it are 0600 too; existing ones
    (of an older version) are made 0600."""
    private_dir(path.parent)
    if not (path.exists() or path.is_symlink()):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    make_private(path)


def make_private(path: Path) -> None:
    """``path`` and its SQLite ``-wal``/``-shm`` files 0600, those that exist."""
    for extra in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(f"{path}{extra}", FILE_MODE)
