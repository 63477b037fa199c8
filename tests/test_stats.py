"""``localrouter stats`` on log files written by hand: windows, dimensions, unreadable lines."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path
from typing import Any

import pytest

from localrouter.cli import main
from localrouter.logs.writer import log_path


def line(
    ts: float, client: str, cost: float | None, ms: float, status: str = "ok"
) -> dict[str, Any]:
    return {"ts": ts, "client": client, "provider": "p", "model": "m", "status": status,
            "status_code": 200 if status == "ok" else 502, "input_tokens": 10,
            "output_tokens": 5, "cost_usd": cost, "latency_ms": ms}  # fmt: skip


def test_stats_window_dimensions_and_bad_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = time.time()
    today = log_path(tmp_path, now)
    old = log_path(tmp_path, now - 3 * 86400)
    rows = [line(now - 60, "a", 0.25, 10.0), line(now - 120, "b", None, 30.0, "error")]
    today.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"ts": 1}\n' + "not json\n")
    with gzip.open(old.with_name(old.name + ".gz"), "wt") as f:  # outside 24h, inside 7d
        f.write(json.dumps(line(now - 3 * 86400 + 5, "a", 0.5, 20.0)) + "\n")
    assert main(["stats", "--logs", str(tmp_path), "--by", "client", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["skipped_lines"] == 2
    assert doc["total"]["requests"] == 2 and doc["total"]["errors"] == 1
    assert doc["groups"]["a"]["cost_usd"] == 0.25 and doc["groups"]["b"]["cost_usd"] == 0
    assert main(["stats", "--logs", str(tmp_path), "--since", "7d", "--format", "json"]) == 0
    week = json.loads(capsys.readouterr().out)
    assert week["total"]["requests"] == 3 and week["total"]["cost_usd"] == 0.75
    assert main(["stats", "--logs", str(tmp_path), "--since", "7d"]) == 0
    text = capsys.readouterr().out
    assert "total" in text and "2 lines could not be read" in text
    assert main(["stats", "--logs", str(tmp_path / "none")]) == 2
    assert main(["stats", "--logs", str(tmp_path), "--since", "yesterday"]) == 2
