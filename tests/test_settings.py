"""The compiled settings (compiler/settings.py): every key of ``server``, ``health``, ``logging``
and ``state_dir`` typed and frozen in the table, with the derived values the runtime reads; the
settings that cannot change live refused by a reload; and a running gateway applying the others
on its next request after a reload."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from localrouter.compiler.build import build
from localrouter.compiler.settings import (
    HealthSettings,
    LoggingSettings,
    ResponsesSettings,
    ServerSettings,
    Settings,
    compile_settings,
)
from localrouter.compiler.table import RoutingTable
from localrouter.config.source import load_files
from localrouter.config.spec import ConfigSpec
from localrouter.diagnostics import Diagnostic
from localrouter.server.holder import TableHolder
from localrouter.server.reload import ConfigSource
from tests.gateway import Gateway, running_gateway

MIB = 1024 * 1024
SET = """
version: 2
state_dir: state
server:
  host: 0.0.0.0
  port: 4100
  cors_origins: ["https://app.example.com", "http://localhost:*"]
  allowed_hosts: [gateway.lan, "*.example.com"]
  max_body_mb: 0.5
  metrics: admin
  http_server: granian
health: {interval_s: 10, timeout_s: 2.5, failure_threshold: 4, recovery_s: 90}
logging: {level: warning, access_log: false, retention_days: 7}
providers:
  mock: {type: mock, models: {small: {}}}
"""


def table_of(path: Path, text: str) -> RoutingTable:
    path.write_text(text, encoding="utf-8")
    result = build(path)
    assert result.table is not None, result.diagnostics
    return result.table


def test_every_key_is_typed_frozen_and_derived_once(tmp_path: Path) -> None:
    settings = table_of(tmp_path / "routers.yaml", SET).settings
    assert settings == Settings(
        server=ServerSettings(
            host="0.0.0.0",
            port=4100,
            cors_origins=("https://app.example.com", "http://localhost:*"),
            allowed_hosts=("gateway.lan", "*.example.com"),
            max_body_mb=0.5,
            metrics="admin",
            http_server="granian",
        ),
        health=HealthSettings(interval_s=10.0, timeout_s=2.5, failure_threshold=4, recovery_s=90.0),
        logging=LoggingSettings(level="warning", access_log=False, retention_days=7),
        state_dir=str(tmp_path / "state"),  # relative to the config's directory, absolute
    )
    assert settings.server.max_body_bytes == MIB // 2
    assert settings.logging.level_no == logging.WARNING
    assert type(settings.server.max_body_mb) is float and type(settings.server.port) is int
    assert type(settings.health.interval_s) is float  # 10 in the file: seconds as a float
    for frozen, name in [(settings, "state_dir"), (settings.server, "max_body_bytes")]:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(frozen, name, None)
    # a derived value follows its source: never given, never out of step
    assert "max_body_bytes" not in {f.name for f in dataclasses.fields(ServerSettings) if f.init}
    changed = dataclasses.replace(settings.server, max_body_mb=2.0)
    assert changed.max_body_bytes == 2 * MIB


def test_defaults_are_the_specs(tmp_path: Path) -> None:
    settings = table_of(tmp_path / "routers.yaml", "version: 2\n").settings
    server = settings.server
    assert (server.host, server.port, server.metrics) == ("127.0.0.1", 3625, "loopback")
    assert server.allowed_hosts == ("localhost", "127.0.0.1", "[::1]")
    assert server.cors_origins == ("http://localhost:*",)
    assert server.max_body_bytes == 20 * MIB
    assert settings.health == HealthSettings(30.0, 5.0, 3, 60.0)
    assert settings.logging.level_no == logging.INFO and settings.logging.access_log
    assert settings.state_dir == str(tmp_path)  # beside the config
    # built from no file (an in-memory config): no state_dir, so nothing on disk
    assert compile_settings(ConfigSpec(version=2)).state_dir is None
    home = compile_settings(ConfigSpec(version=2, state_dir="~/lr"), tmp_path).state_dir
    assert home == os.path.expanduser("~/lr")


@pytest.mark.parametrize(
    ("edit", "name"),
    [
        (lambda t: t.replace("state_dir: state", "state_dir: elsewhere"), "state_dir"),
        (lambda t: t.replace("http_server: granian", "http_server: uvicorn"), "server.http_server"),
        (lambda t: t.replace("host: 0.0.0.0", "host: 127.0.0.1"), "server.host"),
    ],
)
async def test_a_setting_fixed_at_start_is_refused_on_reload(
    tmp_path: Path, edit: Callable[[str], str], name: str
) -> None:
    path = tmp_path / "routers.yaml"
    holder = TableHolder(table_of(path, SET))
    doc, diags, _ = load_files(path)
    assert doc is not None

    def failed(sha: str, errors: tuple[Diagnostic, ...]) -> None:
        holder.failed(sha, errors)

    source = ConfigSource(path, doc, list(diags), lambda: holder.current, holder.swap, failed)
    path.write_text(edit(SET).replace("max_body_mb: 0.5", "max_body_mb: 1"), encoding="utf-8")
    outcome = await source.reload("SIGHUP")
    assert outcome is not None and outcome.status == "refused" and holder.generation == 1
    assert [d.code for d in outcome.errors] == ["LR504"]
    assert f"restart required: `{name}` changed" in outcome.errors[0].message
    path.write_text(SET.replace("max_body_mb: 0.5", "max_body_mb: 1"), encoding="utf-8")
    outcome = await source.reload("SIGHUP")  # the others apply live
    assert (
        outcome is not None
        and outcome.status == "swapped"
        and holder.current.settings.server.max_body_bytes == MIB
    )


LIVE = """
version: 2
server: {{max_body_mb: {mb}, metrics: {metrics}}}
logging: {{level: {level}}}
providers:
  mock: {{type: mock, models: {{small: {{}}}}}}
strategies:
  cheap: {{models: [mock/small]}}
clients:
  app: {{key_prefix: "{{key_prefix:app}}", key_hash: "{{key_hash:app}}", strategy: cheap}}
"""


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[Gateway]:
    level = logging.getLogger("localrouter").level
    text = LIVE.format(mb=1, metrics="loopback", level="info")
    with running_gateway(text, tmp_path, watch=True) as gateway:
        time.sleep(0.3)  # the watcher is up
        yield gateway
    logging.getLogger("localrouter").setLevel(level)


def generation(gw: Gateway) -> int:
    return int(httpx.get(gw.url + "/health", timeout=5).json()["config"]["generation"])


def test_a_reload_applies_changed_settings_at_the_next_request(gw: Gateway) -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content": "x" * 20_000}]}
    headers = {"authorization": f"Bearer {gw.keys['app']}"}

    def ask() -> int:
        r = httpx.post(gw.v1 + "/chat/completions", json=body, headers=headers, timeout=10)
        return r.status_code

    assert ask() == 200
    assert httpx.get(gw.url + "/metrics", timeout=5).status_code == 200  # loopback: no key
    assert logging.getLogger("localrouter").level == logging.INFO
    tmp = gw.config.with_name(".routers.yaml.swp")
    tmp.write_text(gw.render(LIVE.format(mb=0.01, metrics="admin", level="error")), "utf-8")
    os.replace(tmp, gw.config)
    deadline = time.monotonic() + 5
    while generation(gw) != 2:
        assert time.monotonic() < deadline, "the reload did not happen"
        time.sleep(0.02)
    assert ask() == 413  # 20 kB over the new 0.01 MiB
    assert httpx.get(gw.url + "/metrics", timeout=5).status_code == 401  # an admin key now
    assert logging.getLogger("localrouter").level == logging.ERROR


def test_stored_responses_settings(tmp_path: Path) -> None:
    default = table_of(tmp_path / "a.yaml", "version: 2\n").settings.server.responses
    assert default == ResponsesSettings(retention_s=30 * 86400.0, max_bytes=512 * MIB)
    text = "version: 2\nserver:\n  responses: {retention: 36h, max_mb: 0.5}\n"
    set_ = table_of(tmp_path / "b.yaml", text).settings.server.responses
    assert set_ == ResponsesSettings(retention_s=36 * 3600.0, max_bytes=MIB // 2)
    assert type(set_.retention_s) is float and type(set_.max_bytes) is int
    with pytest.raises(dataclasses.FrozenInstanceError):
        set_.max_bytes = 1  # type: ignore[misc]
