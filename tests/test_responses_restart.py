"""Stored responses survive a real restart and a reload of ``localrouter serve``: a response
made by one process is read, continued and deleted through the next one on the same
``state_dir``, its database 0600 in a 0700 directory; after a reload (the config file changed) it
is still there."""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from pathlib import Path

import httpx

from localrouter.keygen import NewKey
from tests.fakes.serve import free_port
from tests.gateway import write_config
from tests.test_restart_process import serve_process

CONFIG = """
version: 2
state_dir: {state}
providers:
  mock: {{type: mock, models: {{small: {{}}}}}}
strategies:
  s: {{models: [mock/small]}}
clients:
  app: {{key_prefix: "{{key_prefix:app}}", key_hash: "{{key_hash:app}}", strategy: s}}
"""


def test_a_stored_response_survives_a_restart_and_a_reload(tmp_path: Path) -> None:
    state = tmp_path / "state"
    made: dict[str, NewKey] = {}
    config, keys = write_config(CONFIG.format(state=state), tmp_path, made)
    auth = {"authorization": f"Bearer {keys['app']}"}
    port = free_port()
    with serve_process(config, port) as (url, _proc):
        first = httpx.post(
            url + "/v1/responses", json={"model": "auto", "input": "keep me"}, headers=auth
        ).json()
    folder = state / "responses"
    db = sqlite3.connect(folder / "responses.sqlite3")
    assert [r[0] for r in db.execute("SELECT id FROM responses")] == [first["id"]]
    db.close()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in os.listdir(folder):  # the database and its -wal/-shm
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name

    with serve_process(config, free_port(), watch=True) as (url, _proc):
        got = httpx.get(url + f"/v1/responses/{first['id']}", headers=auth)
        assert got.status_code == 200 and got.json() == first
        sha = httpx.get(url + "/health").json()["config"]["sha"]
        config.write_text(config.read_text().replace("small: {}", "small: {}, big: {}"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if httpx.get(url + "/health").json()["config"]["sha"] != sha:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the config was not reloaded")
        again = httpx.post(
            url + "/v1/responses",
            json={"model": "auto", "input": "and again", "previous_response_id": first["id"]},
            headers=auth,
        )
        assert again.status_code == 200, again.text
        assert again.json()["previous_response_id"] == first["id"]
        gone = httpx.delete(url + f"/v1/responses/{first['id']}", headers=auth)
        assert gone.json() == {"id": first["id"], "object": "response.deleted", "deleted": True}
    db = sqlite3.connect(folder / "responses.sqlite3")
    assert first["id"] not in [r[0] for r in db.execute("SELECT id FROM responses")]
    db.close()
