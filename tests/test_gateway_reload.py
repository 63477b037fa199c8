"""Hot reload on the running gateway (real files, the real watcher, real HTTP): a saved change is
served within a second; bad edits keep the old table and show on /health until fixed; limit
counters carry over; a removed client is refused at once; a stream begun before a swap ends on the
table it started with."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.fakes.openai_fake import FakeState, create_app
from tests.fakes.serve import serve_app
from tests.gateway import Gateway, running_gateway

CONFIG = """
version: 2
health: {{interval_s: 3600, failure_threshold: 1000}}
providers:
  mock:
    type: mock
    models: {{small: {{}}, large: {{}}}}
  slow:
    type: openai-compatible
    base_url: {upstream}/v1
    api_key: ${{env:LR_TEST_RELOAD_KEY}}
    discover: false
    models: {{gpt-4o-mini: {{}}}}
strategies:
  main:
    models: [{first}, {second}]
  streaming:
    models: [slow/gpt-4o-mini, mock/small]
    filter: {filter}
clients:
  app:
    key_prefix: "{{key_prefix:app}}"
    key_hash: "{{key_hash:app}}"
    strategy: main
    limits: [{{requests: {limit}, per: 1m}}]
  other:
    key_prefix: "{{key_prefix:other}}"
    key_hash: "{{key_hash:other}}"
    strategy: main
    enabled: {other_enabled}
  streamer:
    key_prefix: "{{key_prefix:streamer}}"
    key_hash: "{{key_hash:streamer}}"
    strategy: streaming
"""


def config(upstream: str, **changes: object) -> str:
    values: dict[str, object] = {
        "first": "mock/small",
        "second": "mock/large",
        "limit": 1000,
        "other_enabled": "true",
        "filter": "'true'",
    }
    values.update(changes)
    return CONFIG.format(upstream=upstream, **values)


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, FakeState]]:
    state = FakeState(api_key="reload-key")
    with serve_app(create_app(state)) as url:
        yield url, state


@pytest.fixture
def gw(
    tmp_path: pytest.TempPathFactory,
    upstream: tuple[str, FakeState],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Gateway]:
    monkeypatch.setenv("LR_TEST_RELOAD_KEY", "reload-key")
    with running_gateway(config(upstream[0]), tmp_path, watch=True) as gateway:  # type: ignore[arg-type]
        time.sleep(0.3)  # the watcher is up
        yield gateway


def save(gw: Gateway, text: str) -> float:
    """Save like an editor that writes a temporary file and renames it over the config."""
    tmp = gw.config.with_name(".routers.yaml.swp")
    tmp.write_text(gw.render(text), encoding="utf-8")
    os.replace(tmp, gw.config)
    return time.monotonic()


def ask(gw: Gateway, client: str = "app") -> httpx.Response:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"authorization": f"Bearer {gw.keys[client]}"}
    return httpx.post(gw.v1 + "/chat/completions", json=body, headers=headers, timeout=10)


def health(gw: Gateway) -> dict[str, object]:
    got = httpx.get(gw.url + "/health", timeout=5).json()
    assert isinstance(got, dict)
    return got


def answered_by(r: httpx.Response) -> str:
    assert r.status_code == 200, r.text
    return str(r.json()["choices"][0]["message"]["content"]).split("]")[0].lstrip("[")


def until(check: Callable[[], bool], timeout: float = 5.0) -> float:
    """Poll ``check`` every 20 ms; the seconds it took. Fails after ``timeout``."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, "timed out"
        time.sleep(0.02)
    return time.monotonic() - start


def config_of(gw: Gateway) -> dict[str, object]:
    got = health(gw)["config"]
    assert isinstance(got, dict)
    return got


def test_a_saved_change_is_served_within_a_second(
    gw: Gateway, upstream: tuple[str, FakeState]
) -> None:
    assert answered_by(ask(gw)) == "small"
    saved = save(gw, config(upstream[0], first="mock/large", second="mock/small"))
    until(lambda: answered_by(ask(gw)) == "large")
    assert time.monotonic() - saved < 1.0
    cfg = config_of(gw)
    assert cfg["status"] == "ok" and cfg["generation"] == 2
    assert cfg["reloads"] == {
        "swapped": 1, "unchanged": 0, "failed": 0, "refused": 0, "stuck": 0
    }  # fmt: skip
    last = cfg["last_reload"]
    assert isinstance(last, dict) and last["outcome"] == "swapped"
    assert "strategy main" in str(last["summary"]) or "client app" in str(last["summary"])


BAD_EDITS = {
    "invalid YAML": ("LR1", lambda text: text.replace("strategies:", "strategies: [")),
    "schema error": ("LR2", lambda text: text.replace("per: 1m", "per: 1 fortnight")),
    "CEL error": ("LR4", lambda text: text.replace("filter: 'true'", "filter: 'model.nope > 1'")),
    "unknown reference": (
        "LR3",
        lambda text: text.replace("[mock/small, mock/large]", "[mock/smol]"),
    ),
}


@pytest.mark.parametrize("kind", list(BAD_EDITS))
def test_a_bad_edit_keeps_the_old_table_until_fixed(
    gw: Gateway, upstream: tuple[str, FakeState], kind: str
) -> None:
    family, edit = BAD_EDITS[kind]
    good = config(upstream[0])
    served = config_of(gw)["sha"]
    bad = edit(good)
    assert bad != good
    save(gw, bad)
    until(lambda: config_of(gw)["status"] == "error")
    cfg = config_of(gw)
    assert cfg["sha"] == served  # still serving the old table
    errors = cfg["errors"]
    assert isinstance(errors, list) and errors
    assert all(str(e["code"]).startswith(family) for e in errors), errors
    first = errors[0]  # located as `validate` locates it: file:line:col
    assert str(first["file"]).endswith("routers.yaml") and first["line"] and first["column"]
    assert cfg["since"]
    assert answered_by(ask(gw)) == "small"  # requests go on, on the old table
    save(gw, config(upstream[0], first="mock/large", second="mock/small"))
    until(lambda: config_of(gw)["status"] == "ok")
    assert answered_by(ask(gw)) == "large"


def test_limit_counters_carry_over_and_a_changed_limit_applies(
    gw: Gateway, upstream: tuple[str, FakeState]
) -> None:
    save(gw, config(upstream[0], limit=3))
    until(lambda: config_of(gw)["generation"] == 2)
    assert [ask(gw).status_code for _ in range(4)] == [200, 200, 200, 429]
    save(gw, config(upstream[0], limit=3, first="mock/large", second="mock/small"))
    until(lambda: config_of(gw)["generation"] == 3)
    assert ask(gw).status_code == 429  # the 3 spent before the reload still count
    save(gw, config(upstream[0], limit=5, first="mock/large", second="mock/small"))
    until(lambda: config_of(gw)["generation"] == 4)
    assert [ask(gw).status_code for _ in range(3)] == [200, 200, 429]  # 5 in the same window


def test_a_removed_or_disabled_client_is_refused_on_its_next_request(
    gw: Gateway, upstream: tuple[str, FakeState]
) -> None:
    assert ask(gw, "other").status_code == 200  # its key is now in the auth cache
    save(gw, config(upstream[0], other_enabled="false"))
    until(lambda: ask(gw, "other").status_code == 403)
    without = (
        config(upstream[0]).split("  other:\n")[0]
        + "  streamer:\n"
        + config(upstream[0]).split("  streamer:\n")[1]
    )
    save(gw, without)
    until(lambda: ask(gw, "other").status_code == 401)
    assert ask(gw).status_code == 200


def test_identical_content_is_a_no_op(gw: Gateway, upstream: tuple[str, FakeState]) -> None:
    save(gw, config(upstream[0]) + "\n# a comment changes nothing that routes\n")
    until(lambda: config_of(gw).get("reloads", {}).get("unchanged") == 1)  # type: ignore[union-attr]
    assert config_of(gw)["generation"] == 1


def test_a_new_port_is_refused_until_restart(gw: Gateway, upstream: tuple[str, FakeState]) -> None:
    save(
        gw, "server: {port: 3999}\n" + config(upstream[0], first="mock/large", second="mock/small")
    )
    until(lambda: config_of(gw)["status"] == "error")
    errors = config_of(gw)["errors"]
    assert isinstance(errors, list) and [e["code"] for e in errors] == ["LR504"]
    assert "restart required" in str(errors[0]["message"])
    assert answered_by(ask(gw)) == "small"


def test_a_stream_begun_before_a_swap_ends_on_its_table(
    gw: Gateway, upstream: tuple[str, FakeState]
) -> None:
    state = upstream[1]
    state.chunk_delay = 0.05
    body = {
        "model": "auto",
        "stream": True,
        "messages": [{"role": "user", "content": "one two three four five six seven eight nine"}],
    }
    headers = {"authorization": f"Bearer {gw.keys['streamer']}"}
    lines: list[str] = []
    with httpx.stream(
        "POST", gw.v1 + "/chat/completions", json=body, headers=headers, timeout=20
    ) as r:
        assert r.status_code == 200
        it = r.iter_lines()
        lines.append(next(it))
        # the provider this stream uses is removed: the stream must still end normally
        gone = config(upstream[0]).replace("[slow/gpt-4o-mini, mock/small]", "[mock/small]")
        gone = gone.split("  slow:\n")[0] + "strategies:" + gone.split("\nstrategies:")[1]
        save(gw, gone)
        until(lambda: config_of(gw)["generation"] == 2)
        lines.extend(it)
    state.chunk_delay = 0.0
    data = [line for line in lines if line.startswith("data: ")]
    assert data[-1] == "data: [DONE]" and len(data) > 5
    assert not any('"error"' in line for line in data)
    again = httpx.post(
        gw.v1 + "/chat/completions", json={**body, "stream": False}, headers=headers, timeout=10
    )
    assert answered_by(again) == "small"  # the new table: the slow provider is filtered out
