"""``localrouter schema``: print the config's JSON Schema (draft 2020-12)."""

from __future__ import annotations

import json
import sys
from argparse import Namespace

from localrouter.config.spec import json_schema


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def run(args: Namespace) -> int:
    del args
    sys.stdout.write(schema_text())
    return 0
