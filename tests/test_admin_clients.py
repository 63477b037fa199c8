"""The admin API's client endpoints against a real gateway (config watcher on, as ``serve`` runs):
a created key answers through the openai SDK on the very next request, disable/enable/rotate/delete
take effect at once, the YAML keeps its comments, refused edits write nothing, and only admin
clients get in."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from localrouter.compiler.build import build_document
from localrouter.config.source import load_files
from localrouter.keygen import NewKey
from localrouter.server.app import create_app
from tests.fakes.serve import serve_app
from tests.gateway import Gateway, render, running_gateway

pytestmark = pytest.mark.usefixtures("fast_bcrypt")

CONFIG = """
version: 2
# the providers of this test: a comment that must survive every edit
providers:
  mock: {type: mock, models: {small: {}, large: {}}}   # answers locally
strategies:
  cheap:
    models: [mock/small]   # the small one
  best: {models: [mock/large]}
clients:
  # the operator, who may use the admin API
  ops: {key_prefix: "{key_prefix:ops}", key_hash: "{key_hash:ops}", strategy: cheap, admin: true}
  app:
    key_prefix: "{key_prefix:app}"
    key_hash: "{key_hash:app}"
    strategy: cheap   # not an admin
# the end of the file
"""

CHAT = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture()
def gw(tmp_path: Path) -> Iterator[Gateway]:
    with running_gateway(CONFIG, tmp_path, watch=True) as gw:
        yield gw


def _admin(
    gw: Gateway, method: str, path: str, body: Any = None, who: str | None = "ops"
) -> httpx.Response:
    headers = {"authorization": f"Bearer {gw.keys[who]}"} if who else {}
    return httpx.request(
        method, gw.url + "/admin/api/clients" + path, json=body, headers=headers, timeout=30
    )


def _chat(gw: Gateway, key: str) -> str:
    """The model that answered ``key``'s chat (the SDK raises on 401/403)."""
    sdk = openai.OpenAI(base_url=gw.v1, api_key=key, max_retries=0)
    answer = sdk.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
    return answer.model


def _status(gw: Gateway, key: str) -> int:
    r = httpx.post(gw.v1 + "/chat/completions", json=CHAT,
                   headers={"authorization": f"Bearer {key}"})  # fmt: skip
    return r.status_code


def test_a_client_created_disabled_enabled_rotated_and_deleted_takes_effect_at_once(
    gw: Gateway,
) -> None:
    r = _admin(gw, "POST", "", {"name": "ci", "strategy": "best"})
    assert r.status_code == 201, r.text
    made = r.json()
    key = made["key"]
    assert made == {"name": "ci", "key": key} and key.startswith("lr-") and len(key) == 46
    assert _chat(gw, key) == "large"  # the very next request: no waiting for the watcher
    text = gw.config.read_text()
    assert key not in text and f"key_prefix: {key[:11]}" in text and "$2b$04$" in text
    assert (gw.config.parent / "routers.yaml.bak").exists()

    r = _admin(gw, "POST", "/ci/disable")
    assert r.status_code == 200 and r.json() == {"name": "ci", "enabled": False}
    with pytest.raises(openai.PermissionDeniedError):
        _chat(gw, key)
    r = _admin(gw, "POST", "/ci/enable")
    assert r.status_code == 200 and r.json() == {"name": "ci", "enabled": True}
    assert _chat(gw, key) == "large"

    r = _admin(gw, "POST", "/ci/rotate")
    assert r.status_code == 200, r.text
    new = r.json()["key"]
    assert r.json() == {"name": "ci", "key": new} and new != key
    with pytest.raises(openai.AuthenticationError):
        _chat(gw, key)
    assert _chat(gw, new) == "large"

    r = _admin(gw, "DELETE", "/ci")
    assert r.status_code == 200 and r.json() == {"name": "ci", "deleted": True}
    assert _status(gw, new) == 401
    assert _chat(gw, gw.keys["app"]) == "small"  # the others are untouched

    after = gw.config.read_text()
    kept = [line for line in CONFIG.splitlines() if line.lstrip().startswith("#")]
    assert kept and all(line in after.splitlines() for line in kept)
    assert "  ci:" not in after and new[:11] not in after  # no trace of the deleted client


def test_a_model_client_is_created_with_its_model(gw: Gateway) -> None:
    r = _admin(gw, "POST", "", {"name": "fixed", "model": "mock/large"})
    assert r.status_code == 201, r.text
    assert _chat(gw, r.json()["key"]) == "large"
    assert "model: mock/large" in gw.config.read_text()


def test_only_admin_clients_may_edit(gw: Gateway) -> None:
    before = gw.config.read_bytes()
    for who, status in ((None, 401), ("app", 403)):
        assert _admin(gw, "POST", "", {"name": "x", "strategy": "best"}, who).status_code == status
        assert _admin(gw, "POST", "/app/rotate", None, who).status_code == status
        assert _admin(gw, "POST", "/app/disable", None, who).status_code == status
        assert _admin(gw, "DELETE", "/app", None, who).status_code == status
    assert gw.config.read_bytes() == before
    assert _status(gw, gw.keys["app"]) == 200


def test_an_edit_that_would_break_the_config_is_422_and_writes_nothing(gw: Gateway) -> None:
    before = gw.config.read_bytes()
    r = _admin(gw, "POST", "", {"name": "x", "strategy": "nope"})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"]["code"] == "config_invalid"
    assert any("nope" in d["message"] for d in body["diagnostics"]), body
    assert all(d["severity"] == "error" for d in body["diagnostics"])
    named = [d for d in body["diagnostics"] if d["file"] is not None]
    assert named and all(d["file"] == "routers.yaml" for d in named)  # not the scratch copy
    assert gw.config.read_bytes() == before
    assert sorted(p.name for p in gw.config.parent.iterdir() if "routers" in p.name) == [
        "routers.yaml"
    ]  # no .bak, no temporary, no lock file left


def test_a_taken_name_is_409_and_an_unknown_client_404(gw: Gateway) -> None:
    before = gw.config.read_bytes()
    r = _admin(gw, "POST", "", {"name": "app", "strategy": "best"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "client_exists", r.text
    for method, path in (("POST", "/ghost/rotate"), ("POST", "/ghost/enable"),
                         ("POST", "/ghost/disable"), ("DELETE", "/ghost")):  # fmt: skip
        r = _admin(gw, method, path)
        assert r.status_code == 404 and "ghost" in r.json()["error"]["message"], (path, r.text)
    assert _admin(gw, "POST", "/app/explode").status_code == 404
    assert gw.config.read_bytes() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"strategy": "best"}, "name"),
        ({"name": "Bad Name!", "strategy": "best"}, "name"),
        ({"name": "x:\n    admin: true\n  y", "strategy": "best"}, "name"),
        ({"name": 7, "strategy": "best"}, "name"),
        ({"name": "x"}, "strategy"),
        ({"name": "x", "strategy": "best", "model": "mock/large"}, "strategy"),
        ({"name": "x", "strategy": "best\nadmin: true"}, "strategy"),
        ({"name": "x", "model": ""}, "model"),
        ({"name": "x", "strategy": "best", "admin": True}, "admin"),
    ],
)
def test_a_bad_body_is_400_naming_the_field(gw: Gateway, body: dict[str, Any], field: str) -> None:
    before = gw.config.read_bytes()
    r = _admin(gw, "POST", "", body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == field
    assert gw.config.read_bytes() == before


def test_a_body_that_is_not_a_json_object_is_400(gw: Gateway) -> None:
    headers = {"authorization": f"Bearer {gw.keys['ops']}"}
    for raw in (b"{", b"[]"):
        r = httpx.post(gw.url + "/admin/api/clients", content=raw, headers=headers)
        assert r.status_code == 400, r.text


def test_concurrent_creates_are_both_kept(gw: Gateway) -> None:
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(
                lambda n: _admin(gw, "POST", "", {"name": f"c{n}", "strategy": "cheap"}), range(4)
            )
        )
    assert [r.status_code for r in answers] == [201] * 4
    text = gw.config.read_text()
    for r in answers:
        assert f"  {r.json()['name']}:" in text
        assert _chat(gw, r.json()["key"]) == "small"


DIRECTORY = {
    "10-providers.yaml": """
        version: 2
        providers:
          mock: {type: mock, models: {small: {}}}   # kept
        strategies:
          cheap: {models: [mock/small]}
        """,
    "20-clients.yaml": """
        # who may call
        clients:
          ops: {key_prefix: "{key_prefix:ops}", key_hash: "{key_hash:ops}", strategy: cheap,
                admin: true}
        """,
}


@contextmanager
def _directory_gateway(tmp_path: Path) -> Iterator[tuple[Gateway, dict[str, str]]]:
    """The gateway (watcher on) on the config directory DIRECTORY, and its files' texts."""
    directory = tmp_path / "conf"
    directory.mkdir()
    made: dict[str, NewKey] = {}
    keys: dict[str, str] = {}
    for name, text in DIRECTORY.items():
        (directory / name).write_text(render(text, made, keys), encoding="utf-8")
    before = {p.name: p.read_text() for p in directory.glob("*.yaml")}
    doc, diags, _texts = load_files(directory)
    assert doc is not None, diags
    table = build_document(doc, list(diags)).table
    assert table is not None
    app = create_app(table, source=(doc, list(diags)), config_path=directory, watch=True)
    with serve_app(app) as url:
        yield Gateway(url, keys, table, directory, made), before


def test_in_a_config_directory_the_file_holding_clients_is_edited(tmp_path: Path) -> None:
    with _directory_gateway(tmp_path) as (gw, before):
        directory = gw.config
        r = _admin(gw, "POST", "", {"name": "ci", "strategy": "cheap"})
        assert r.status_code == 201, r.text
        assert _chat(gw, r.json()["key"]) == "small"
    after = {p.name: p.read_text() for p in directory.glob("*.yaml")}
    assert [n for n in before if before[n] != after[n]] == ["20-clients.yaml"]
    assert after["20-clients.yaml"].startswith("# who may call\n")
    shutil.rmtree(directory)


def test_in_a_config_directory_a_strategy_is_edited_in_its_own_file(tmp_path: Path) -> None:
    with _directory_gateway(tmp_path) as (gw, before):
        directory, url = gw.config, gw.url
        headers = {"authorization": f"Bearer {gw.keys['ops']}"}
        edit = httpx.post(url + "/admin/api/strategies/cheap/edit", headers=headers,
                          json={"order": ["highest_quality"]}).json()  # fmt: skip
        assert [f["path"] for f in edit["files"]] == ["10-providers.yaml"], edit
        apply = {k: edit[k] for k in ("files", "base_sha", "base_files_sha")}
        put = httpx.put(url + "/admin/api/config", headers=headers, json=apply)
        assert put.status_code == 200, put.text
    after = {p.name: p.read_text() for p in directory.glob("*.yaml")}
    assert [n for n in before if before[n] != after[n]] == ["10-providers.yaml"]
    assert "cheap: {models: [mock/small], order: [highest_quality]}" in after["10-providers.yaml"]
    assert "# kept" in after["10-providers.yaml"]
    shutil.rmtree(directory)
