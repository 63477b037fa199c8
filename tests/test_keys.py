"""``localrouter keys …``: edits that change only their own lines, refused edits that write
nothing, 0600 files whatever the umask, a crash before the rename, and a new key that works on a
running gateway within a second."""

from __future__ import annotations

import difflib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import httpx
import pytest

from tests.conftest import run_cli
from tests.gateway import running_gateway

pytestmark = pytest.mark.usefixtures("fast_bcrypt")

COMMENTED = """\
# yaml-language-server: $schema=./localrouter.schema.json
# The team's gateway. Every comment here must survive.
version: 2   # the format

providers:
  mock:            # answers locally
    type: 'mock'
    models: {small: {}, large: {}}   # two models

strategies:
  cheap:
    models: ["mock/small"]   # double-quoted on purpose
  # a comment between strategies
  best: {models: [mock/large]}

clients:
  # the editor plugin
  cursor:
    key_prefix: "lr-sZ2uI4TN"          # quoted prefix
    key_hash: '$2b$12$PmcTqb0wG9pwHVCaxTgxruh7koJgeUH5Y8ySfyUhspI77J2CV/cD6'
    strategy: cheap   # cheap by default

    tags: [editor]
  # the nightly job, flow style on one line
  nightly: {key_prefix: lr-7Hq0ZzPm, key_hash: HASH, strategy: best}

# the end of the file
health: {interval_s: 30}   # trailing comment
""".replace("HASH", "$2b$12$PmcTqb0wG9pwHVCaxTgxruh7koJgeUH5Y8ySfyUhspI77J2CV/cD6")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "routers.yaml"
    path.write_text(COMMENTED, encoding="utf-8")
    return path


def keys(config: Path, *argv: str) -> tuple[int, str, str]:
    r = run_cli("keys", *argv, "--config", str(config))
    return r.code, r.out, r.err


def changed(before: str, after: str) -> list[str]:
    """The diff's changed lines, '-old' and '+new', without context."""
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_every_command_changes_only_its_own_lines(config: Path) -> None:
    text = config.read_text()
    code, key, _ = keys(config, "create", "ci", "--strategy", "best")
    assert code == 0 and key.strip().startswith("lr-") and len(key.strip()) == 46
    after = config.read_text()
    diff = changed(text, after)
    assert diff == [
        "+  ci:",
        f"+    key_prefix: {key.strip()[:11]}",
        diff[2],
        "+    strategy: best",
    ] and diff[2].startswith("+    key_hash: $2b$04$")
    assert bcrypt.checkpw(key.strip().encode(), diff[2].split(": ", 1)[1].encode())

    text = after
    assert keys(config, "rotate", "cursor")[0] == 0
    diff = changed(text, after := config.read_text())
    assert len(diff) == 4 and diff[0] == '-    key_prefix: "lr-sZ2uI4TN"          # quoted prefix'
    assert diff[2].startswith('+    key_prefix: "lr-') and diff[2].endswith(
        '"          # quoted prefix'
    )
    assert diff[3].startswith("+    key_hash: '$2b$04$") and diff[3].endswith("'")

    text = after
    assert keys(config, "disable", "nightly")[0] == 0
    diff = changed(text, after := config.read_text())
    assert len(diff) == 2 and diff[1].endswith(", strategy: best, enabled: false}")

    text = after
    assert keys(config, "disable", "cursor")[0] == 0
    after = config.read_text()
    assert changed(text, after) == ["+    enabled: false"]
    assert "    tags: [editor]\n    enabled: false\n" in after

    text = after
    assert keys(config, "enable", "cursor")[0] == 0
    after = config.read_text()
    assert changed(text, after) == [
        "-    enabled: false",
        "+    enabled: true",
    ]

    text = after
    assert keys(config, "delete", "ci")[0] == 0
    diff = changed(text, after := config.read_text())
    assert [d[:7] for d in diff] == ["-  ci:", "-    ke", "-    ke", "-    st"]
    # everything else, comments and quoting included, is as it was
    kept = [
        line for line in COMMENTED.splitlines() if "key_" not in line and "nightly:" not in line
    ]
    assert all(line in after.splitlines() for line in kept)


def test_list_shows_no_hash_and_reads_last_use_from_the_state_dir(
    tmp_path: Path, config: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    config.write_text(COMMENTED.replace("version: 2", f"version: 2\nstate_dir: {state}"))
    db = sqlite3.connect(state / "generations.sqlite3")
    db.execute(
        "CREATE TABLE generations (id TEXT PRIMARY KEY, client TEXT, created REAL, record TEXT)"
    )
    db.execute("INSERT INTO generations VALUES ('g1', 'cursor', 1700000000, '{}')")
    db.commit()
    db.close()
    code, out, _ = keys(config, "list")
    assert code == 0 and "$2b$" not in out
    assert out.splitlines()[0].split() == [
        "CLIENT",
        "PREFIX",
        "STRATEGY/MODEL",
        "ENABLED",
        "LAST",
        "USED",
    ]
    code, out, _ = keys(config, "list", "--format", "json")
    rows = {r["client"]: r for r in json.loads(out)}
    assert rows["cursor"]["last_used"] == 1700000000 and rows["nightly"]["last_used"] is None
    assert rows["nightly"]["uses"] == "best" and "$2b$" not in out


@pytest.mark.parametrize(
    "argv",
    [
        ("create", "x", "--strategy", "nope"),  # unknown strategy
        ("create", "cursor", "--strategy", "best"),  # exists
        ("create", "Bad Name!", "--strategy", "best"),  # not a valid name
        ("rotate", "ghost"),
        ("delete", "ghost"),
    ],
)
def test_a_refused_edit_writes_nothing(tmp_path: Path, config: Path, argv: tuple[str, ...]) -> None:
    before = (config.read_bytes(), config.stat().st_mtime_ns)
    code, out, err = keys(config, *argv)
    assert code == 1 and err.startswith("error: ") and out == ""
    assert (config.read_bytes(), config.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["routers.yaml"]  # no .bak, no temp


def test_written_files_are_0600_even_with_umask_000(tmp_path: Path, config: Path) -> None:
    old = os.umask(0)
    try:
        assert keys(config, "create", "ci", "--strategy", "best")[0] == 0
    finally:
        os.umask(old)
    for name in ("routers.yaml", "routers.yaml.bak"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600, name
    assert (tmp_path / "routers.yaml.bak").read_text() == COMMENTED


def test_a_crash_between_write_and_rename_leaves_the_original(tmp_path: Path, config: Path) -> None:
    env = {**os.environ, "LOCALROUTER_TEST_CRASH_BEFORE_RENAME": "1"}
    argv = ["keys", "create", "ci", "--strategy", "best", "--config", str(config)]
    r = subprocess.run(
        [sys.executable, "-m", "localrouter.cli", *argv], env=env, capture_output=True
    )
    assert r.returncode == 70
    assert config.read_text() == COMMENTED  # the original, whole
    assert keys(config, "create", "ci", "--strategy", "best")[0] == 0  # and the tool still works
    assert "  ci:" in config.read_text()


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    text = COMMENTED.replace("cursor:\n    key_prefix", "cursor:\n    key_prefix", 1)
    with running_gateway(text, tmp_path, watch=True) as gw:
        time.sleep(0.3)
        yield gw.url, gw.config


def test_a_created_key_works_on_a_running_gateway_within_a_second(
    gateway: tuple[str, Path],
) -> None:
    url, config = gateway
    code, key, _ = keys(config, "create", "ci", "--strategy", "best")
    created = time.monotonic()
    assert code == 0
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    while True:
        r = httpx.post(f"{url}/v1/chat/completions", json=body,
                       headers={"authorization": f"Bearer {key.strip()}"}, timeout=10)  # fmt: skip
        if r.status_code == 200:
            break
        assert r.status_code == 401 and time.monotonic() - created < 3, r.text
        time.sleep(0.02)
    assert time.monotonic() - created < 1.0
    assert r.json()["choices"][0]["message"]["content"].startswith("[large]")


def test_in_a_config_directory_the_file_holding_clients_is_edited(tmp_path: Path) -> None:
    import shutil

    from tests.conftest import ROOT

    directory = tmp_path / "gitops"
    shutil.copytree(ROOT / "configs" / "gitops", directory)
    before = {p.name: p.read_text() for p in directory.glob("*.yaml")}
    code, _key, err = keys(directory, "create", "ci", "--strategy", "minimum-cost")
    assert code == 0, err
    after = {p.name: p.read_text() for p in directory.glob("*.yaml")}
    assert [n for n in before if before[n] != after[n]] == ["30-clients.yaml"]
    assert len(changed(before["30-clients.yaml"], after["30-clients.yaml"])) == 4
    assert run_cli("validate", str(directory)).code == 0


def test_deleting_the_last_client_leaves_an_empty_mapping(tmp_path: Path) -> None:
    config = tmp_path / "routers.yaml"
    text = COMMENTED.split("clients:")[0] + (
        "clients:   # who may call\n"
        "  only:\n"
        "    key_prefix: lr-sZ2uI4TN\n"
        "    key_hash: '$2b$12$PmcTqb0wG9pwHVCaxTgxruh7koJgeUH5Y8ySfyUhspI77J2CV/cD6'\n"
        "    strategy: cheap\n"
        "health: {interval_s: 30}\n"
    )
    config.write_text(text, encoding="utf-8")
    code, _out, err = keys(config, "delete", "only")
    assert code == 0, err
    assert "clients: {}  # who may call\nhealth: {interval_s: 30}\n" in config.read_text()
    assert run_cli("validate", str(config)).code == 0
