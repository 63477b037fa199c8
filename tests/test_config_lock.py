"""Every read-modify-write of the config holds the lock file beside it: concurrent ``keys``
commands all land, each exiting 0, and the file stays valid, atomic and 0600."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import run_cli

CONFIG = """\
version: 2
providers:
  mock: {type: mock, models: {small: {}}}
strategies:
  s: {models: [mock/small]}
clients:
  first: {key_prefix: lr-sZ2uI4TN, key_hash: HASH, strategy: s}
""".replace("HASH", "$2b$12$PmcTqb0wG9pwHVCaxTgxruh7koJgeUH5Y8ySfyUhspI77J2CV/cD6")

N = 8


def test_concurrent_keys_create_all_land(tmp_path: Path) -> None:
    config = tmp_path / "routers.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    env = {**os.environ, "LOCALROUTER_BCRYPT_COST": "4"}
    argv = [sys.executable, "-m", "localrouter.cli", "keys", "create"]
    procs = [
        subprocess.Popen(
            [*argv, f"c{i}", "--strategy", "s", "--config", str(config)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(N)
    ]
    done = [(p.wait(timeout=60), *p.communicate()) for p in procs]
    assert [code for code, _out, _err in done] == [0] * N, [err for _c, _o, err in done]
    keys = [out.strip() for _code, out, _err in done]
    assert all(k.startswith("lr-") for k in keys) and len(set(keys)) == N
    listed = run_cli("keys", "list", "--format", "json", "--config", str(config))
    assert listed.code == 0, listed.err
    names = {row["client"] for row in json.loads(listed.out)}
    assert names == {"first", *(f"c{i}" for i in range(N))}
    assert config.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["routers.yaml", "routers.yaml.bak"]
    assert run_cli("validate", str(config)).code == 0


def test_every_config_writer_waits_for_the_lock(tmp_path: Path) -> None:
    """While another writer (the dashboard, later) holds the lock, `keys` and an in-place
    `migrate` wait; released, they finish."""
    import shutil

    from localrouter.fsutil import locked
    from tests.conftest import CONFIGS

    config = tmp_path / "routers.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    legacy = tmp_path / "legacy"
    shutil.copytree(CONFIGS / "legacy-v1", legacy)
    env = {**os.environ, "LOCALROUTER_BCRYPT_COST": "4"}
    cli = [sys.executable, "-m", "localrouter"]
    with locked(config), locked(legacy / "routers.yaml"):
        before = (config.read_bytes(), sorted(p.name for p in legacy.iterdir()))
        procs = [
            subprocess.Popen([*cli, "keys", "disable", "first", "--config", str(config)], env=env),
            subprocess.Popen([*cli, "migrate", str(legacy)], env=env, stderr=subprocess.DEVNULL),
        ]
        try:
            time.sleep(1.5)  # each has started, read nothing, written nothing
            assert [p.poll() for p in procs] == [None, None]
            assert (config.read_bytes(), sorted(p.name for p in legacy.iterdir())) == before
        except BaseException:
            for p in procs:
                p.kill()
            raise
    assert [p.wait(timeout=30) for p in procs] == [0, 0]
    assert "enabled: false" in config.read_text()
    assert "version: 2" in (legacy / "routers.yaml").read_text()
    assert not list(tmp_path.glob("**/*.lock"))
