"""Paths a config names, checked before anything uses them (a diagnostic, never a traceback)."""

from __future__ import annotations

import os


def state_dir_problem(value: str) -> str | None:
    """Why ``state_dir`` cannot be used, or None: ``~`` and ``~user`` must expand (an unknown
    user, or no home directory, would make the compiler's ``expanduser`` raise), and a path
    cannot hold a NUL character (every file call would raise)."""
    if "\0" in value:
        return "it contains a NUL character"
    if value.startswith("~"):
        head = value.split("/", 1)[0]
        if os.path.expanduser(head) == head:  # expanduser leaves what it cannot expand
            who = f"user '{head[1:]}'" if len(head) > 1 else "the current user"
            return f"'{head}' cannot be expanded: no home directory for {who}"
    return None
