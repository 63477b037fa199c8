"""Atomic, durable file writes for files a person also edits (the config) or that hold secrets.

:func:`atomic_write`: a temporary file in the same directory, created 0600 with ``os.open`` (so
a umask of 000 still gives 0600), written and fsynced; the previous version copied to
``NAME.bak`` (0600); ``os.replace``; then the directory fsynced so the rename itself is durable.
A crash at any point leaves either the old file or the new one, never a mix.

``LOCALROUTER_TEST_CRASH_BEFORE_RENAME=1`` (a test hook, nothing else reads it) ends the process
with ``os._exit(70)`` after the temporary file is written and before the rename.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["atomic_write"]

MODE = 0o600


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, MODE)
    try:
        os.fchmod(fd, MODE)  # whatever the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, backup: bool = True) -> None:
    """Replace ``path`` by ``data`` atomically and durably (see the module docstring)."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        _write_new(tmp, data)
        if backup and path.exists():
            bak = path.with_name(path.name + ".bak")
            bak_tmp = directory / f".{bak.name}.{secrets.token_hex(6)}.tmp"
            _write_new(bak_tmp, path.read_bytes())
            os.replace(bak_tmp, bak)
        if os.environ.get("LOCALROUTER_TEST_CRASH_BEFORE_RENAME") == "1":
            os._exit(70)  # the test hook: a crash between write and rename
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(directory)
