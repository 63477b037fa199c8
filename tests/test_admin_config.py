"""The admin API's config endpoints against a real gateway: read the YAML, preview an edit
(compiled, diffed, nothing written), write it (optimistic concurrency on the sha, compiled first,
comments kept, reloaded), and refuse what would break it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway import Gateway, running_gateway

CONFIG = """
version: 2
# the providers of this test
providers:
  mock: {type: mock, models: {small: {}, large: {}}}
strategies:
  cheap:
    models: [mock/small, mock/large]   # small first
clients:
  ops: {key_prefix: "{key_prefix:ops}", key_hash: "{key_hash:ops}", strategy: cheap, admin: true}
  app: {key_prefix: "{key_prefix:app}", key_hash: "{key_hash:app}", strategy: cheap}
"""


@pytest.fixture()
def gw(tmp_path: Path) -> Iterator[Gateway]:
    with running_gateway(CONFIG, tmp_path) as gw:
        yield gw


def _as(gw: Gateway, who: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {gw.keys[who]}"} if who else {}


def _get(gw: Gateway, who: str | None = "ops") -> httpx.Response:
    return httpx.get(gw.url + "/admin/api/config", headers=_as(gw, who))


def _health_sha(gw: Gateway) -> str:
    sha: str = httpx.get(gw.url + "/health").json()["config"]["sha"]
    return sha


def _first_model(gw: Gateway) -> str:
    r = httpx.post(
        gw.v1 + "/chat/completions",
        headers=_as(gw, "app"),
        json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
    )
    model: str = r.json()["model"]
    return model


def test_only_an_admin_reads_the_config(gw: Gateway) -> None:
    assert _get(gw, None).status_code == 401
    assert _get(gw, "app").status_code == 403
    got = _get(gw).json()
    assert got["sha"] == _health_sha(gw) and got["status"] == "ok"
    assert got["files"] == [{"path": "routers.yaml", "text": gw.config.read_text()}]
    assert got["diagnostics"] == []


def test_a_preview_compiles_and_diffs_but_writes_nothing(gw: Gateway) -> None:
    text = gw.config.read_text()
    before = gw.config.read_bytes()
    swapped = text.replace("[mock/small, mock/large]", "[mock/large, mock/small]")
    r = httpx.post(
        gw.url + "/admin/api/config/preview",
        headers=_as(gw, "ops"),
        json={"files": [{"path": "routers.yaml", "text": swapped}]},
    )
    body: dict[str, Any] = r.json()
    assert r.status_code == 200 and body["ok"] is True and body["diagnostics"] == []
    assert body["sha"] != _health_sha(gw)
    diff = body["diff"]["files"][0]["diff"]
    assert "-    models: [mock/small, mock/large]" in diff
    assert "+    models: [mock/large, mock/small]" in diff
    assert (
        "client app: route 'default': re-ordered mock/small > mock/large → mock/large > mock/small"
        in body["diff"]["table"]
    )
    broken = text.replace("strategy: cheap, admin", "strategy: cheep, admin")
    r = httpx.post(
        gw.url + "/admin/api/config/preview",
        headers=_as(gw, "ops"),
        json={"files": [{"path": "routers.yaml", "text": broken}]},
    )
    body = r.json()
    assert body["ok"] is False and body["sha"] is None
    (d,) = [d for d in body["diagnostics"] if d["severity"] == "error"]
    assert d["file"] == "routers.yaml" and d["line"] == 9 and "cheep" in d["message"]
    assert gw.config.read_bytes() == before


def test_a_put_writes_keeps_comments_and_serves_the_new_table(gw: Gateway) -> None:
    assert _first_model(gw) == "small"
    got = _get(gw).json()
    text = got["files"][0]["text"].replace("[mock/small, mock/large]", "[mock/large, mock/small]")
    r = httpx.put(
        gw.url + "/admin/api/config",
        headers=_as(gw, "ops"),
        json={"files": [{"path": "routers.yaml", "text": text}], "base_sha": got["sha"]},
    )
    assert r.status_code == 200, r.text
    sha = r.json()["sha"]
    assert sha != got["sha"] and _health_sha(gw) == sha
    written = gw.config.read_text()
    assert "# the providers of this test" in written and "# small first" in written
    assert _first_model(gw) == "large"
    # the same base again: the config has moved on
    r = httpx.put(
        gw.url + "/admin/api/config",
        headers=_as(gw, "ops"),
        json={"files": [{"path": "routers.yaml", "text": text}], "base_sha": got["sha"]},
    )
    assert r.status_code == 409 and r.json()["sha"] == sha


def test_an_invalid_put_is_refused_with_its_diagnostics_and_nothing_written(
    gw: Gateway,
) -> None:
    got = _get(gw).json()
    before = gw.config.read_bytes()
    broken = got["files"][0]["text"].replace("mock/small, mock/large", "mock/small, nope/x")
    r = httpx.put(
        gw.url + "/admin/api/config",
        headers=_as(gw, "ops"),
        json={"files": [{"path": "routers.yaml", "text": broken}], "base_sha": got["sha"]},
    )
    assert r.status_code == 422
    body = r.json()
    assert body["error"]["code"] == "config_invalid"
    assert any(d["code"] == "LR302" and d["line"] == 7 for d in body["diagnostics"]), body
    assert gw.config.read_bytes() == before and _health_sha(gw) == got["sha"]


def test_a_hand_edit_not_yet_reloaded_makes_a_stale_base_a_conflict(gw: Gateway) -> None:
    got = _get(gw).json()
    gw.config.write_text(got["files"][0]["text"].replace("# small first", "# by hand"))
    edited = got["files"][0]["text"].replace("[mock/small, mock/large]", "[mock/large]")
    r = httpx.put(
        gw.url + "/admin/api/config",
        headers=_as(gw, "ops"),
        json={"files": [{"path": "routers.yaml", "text": edited}], "base_sha": got["sha"]},
    )
    # a comment does not change the sha: the base is still current, and the edit is written
    assert r.status_code == 200, r.text
    gw.config.write_text(gw.config.read_text().replace("[mock/large]", "[mock/small]"))
    r = httpx.put(
        gw.url + "/admin/api/config",
        headers=_as(gw, "ops"),
        json={"files": [{"path": "routers.yaml", "text": edited}], "base_sha": r.json()["sha"]},
    )
    assert r.status_code == 409  # the file on disk no longer compiles to that sha


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"files": []},
        {"files": [{"path": "other.yaml", "text": "version: 2\n"}], "base_sha": "x"},
        {"files": [{"path": "routers.yaml"}], "base_sha": "x"},
    ],
)
def test_bad_bodies_are_400(gw: Gateway, body: dict[str, Any]) -> None:
    r = httpx.put(gw.url + "/admin/api/config", headers=_as(gw, "ops"), json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["message"]


def test_explain_is_the_live_decision(gw: Gateway) -> None:
    def explain(body: dict[str, Any], who: str = "ops") -> httpx.Response:
        return httpx.post(gw.url + "/admin/api/explain", headers=_as(gw, who), json=body)

    assert explain({"client": "app"}, "app").status_code == 403
    got = explain({"client": "app", "request": {"messages": [{"role": "user", "content": "x"}]}})
    assert got.status_code == 200, got.text
    doc = got.json()
    assert doc["status"] == 200 and doc["strategy"] == "cheap"
    assert doc["candidates"] == ["mock/small", "mock/large"]
    assert doc["config_sha"] == _health_sha(gw)
    hello = [{"role": "user", "content": "hello"}]
    pinned = explain({"client": "app", "request": {"model": "mock/large", "messages": hello}})
    assert pinned.json()["candidates"] == ["mock/large"]
    assert explain({"client": "nobody"}).status_code == 404
    bad = explain({"client": "app", "request": {"messages": "not a list"}})
    assert bad.status_code == 400 and "messages" in bad.text


def test_providers_shows_health_circuit_and_catalog(gw: Gateway) -> None:
    assert httpx.get(gw.url + "/admin/api/providers", headers=_as(gw, "app")).status_code == 403
    got = httpx.get(gw.url + "/admin/api/providers", headers=_as(gw, "ops")).json()
    mock = got["providers"]["mock"]
    assert mock["status"] == "ok" and mock["circuit"]["state"] == "closed"
    assert {m["id"] for m in mock["models"]} == {"mock/small", "mock/large"}


def test_server_dashboard_false_turns_the_admin_api_off(tmp_path: Path) -> None:
    off = CONFIG.replace("version: 2\n", "version: 2\nserver: {dashboard: false}\n", 1)
    with running_gateway(off, tmp_path) as gw:
        for method, path in (("GET", "config"), ("GET", "providers"), ("POST", "explain")):
            r = httpx.request(method, f"{gw.url}/admin/api/{path}", headers=_as(gw, "ops"))
            assert r.status_code == 404 and r.json()["error"]["code"] == "dashboard_off"
