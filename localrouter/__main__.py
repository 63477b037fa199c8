"""``python -m localrouter``: the same as the ``localrouter`` command."""

from __future__ import annotations

import sys

from localrouter.cli import main

if __name__ == "__main__":
    sys.exit(main())
