"""Atomic, durable file writes for files a person also edits (the config) or that hold secrets.

:func:`atomic_write`: a temporary file in the same directory, created 0600 with ``os.open`` (so
a umask of 000 still gives 0600), written and fsynced; the previous version copied to
``NAME.bak`` (0600); ``os.replace``; then the directory fsynced so the rename itself is durable.
A crash at any point leaves either the old file or the new one, never a mix.

``LOCALROUTER_TEST_CRASH_BEFORE_RENAME=1`` (a test hook, nothing else reads it) ends the process
with ``os._exit(70)`` after the temporary file is written and before the rename.

:func:`locked` holds ``NAME.lock`` beside a file exclusively (``fcntl.flock``; ``msvcrt.locking``
on Windows), so two writers never interleave a read-modify-write. :func:`rewrite` is that
read-modify-write - lock, read, change, :func:`atomic_write`, unlock - and every writer of the
config goes through it (``localrouter keys``, ``migrate``). The lock file (empty, 0600) is removed
on release while still held; a waiter that then holds a removed file sees it and takes the new one,
so no lock file is left behind (on Windows, where an open file cannot be removed, it stays).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["atomic_write", "locked", "rewrite"]

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


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold ``path``'s lock file (``NAME.lock`` beside it) exclusively, waiting for it."""
    fd = _acquire(lock_path(path))
    try:
        yield
    finally:
        _release(lock_path(path), fd)


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _acquire(lock: Path) -> int:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, MODE)
        while True:  # LK_LOCK gives up after 10 s; wait as long as the other writer needs
            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                return fd
            except OSError:
                time.sleep(0.05)

    def _release(lock: Path, fd: int) -> None:  # an open file cannot be removed: it stays
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        finally:
            os.close(fd)

else:
    import fcntl

    def _acquire(lock: Path) -> int:
        while True:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, MODE)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                held, now = os.fstat(fd), os.stat(lock)
            except FileNotFoundError:  # the holder removed it as we got it: take the new one
                os.close(fd)
                continue
            except BaseException:
                os.close(fd)
                raise
            if (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino):
                return fd
            os.close(fd)  # a file the previous holder already removed: try again

    def _release(lock: Path, fd: int) -> None:
        try:  # removed while still held: a waiter on this file then sees it gone and retries
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
        finally:
            os.close(fd)  # releases the flock


def rewrite(path: Path, change: Callable[[str], str | None], *, backup: bool = True) -> str | None:
    """Read-modify-write ``path`` under its lock: ``change(text)`` gives the new text (None:
    write nothing), written with :func:`atomic_write`. Returns the new text. Exceptions from
    ``change`` propagate, with nothing written."""
    path.stat()  # a missing file: FileNotFoundError naming it, not its lock file
    with locked(path):
        new = change(path.read_text(encoding="utf-8"))
        if new is not None:
            atomic_write(path, new.encode("utf-8"), backup=backup)
        return new
