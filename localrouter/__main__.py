"""``python -m localrouter``: the same as the ``localrouter`` command."""

from __future__ import annotations

from localrouter.cli import entry

if __name__ == "__main__":
    entry()
