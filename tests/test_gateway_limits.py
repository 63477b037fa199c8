"""LocalRouter's own limits through the running gateway: 429 with Retry-After and x-ratelimit-*,
a strategy's limit shared by its clients, provider caps skipped (never 429), and budgets that
survive a restart."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.gateway import running_gateway
from tests.openapi import validate

CONFIG = """
version: 2
providers:
  main:
    type: mock
    models: {fast: {input_per_mtok: 1000, output_per_mtok: 1000}}
    limits: [{requests: 1, per: 1m}]
  spare:
    type: mock
    models: {slow: {}}
  pricey:
    type: mock
    models: {gold: {input_per_mtok: 1000, output_per_mtok: 1000}}
strategies:
  capped: {models: [main/fast, spare/slow]}
  team:
    models: [spare/slow]
    limits: [{requests: 3, per: 1m}]
  solo: {models: [spare/slow]}
  paid: {models: [pricey/gold]}
clients:
  tight:
    key_prefix: "{key_prefix:tight}"
    key_hash: "{key_hash:tight}"
    strategy: solo
    limits: [{requests: 2, per: 2s}]
  a: {key_prefix: "{key_prefix:a}", key_hash: "{key_hash:a}", strategy: team}
  b: {key_prefix: "{key_prefix:b}", key_hash: "{key_hash:b}", strategy: team}
  caps: {key_prefix: "{key_prefix:caps}", key_hash: "{key_hash:caps}", strategy: capped}
  spender:
    key_prefix: "{key_prefix:spender}"
    key_hash: "{key_hash:spender}"
    strategy: paid
    limits: [{cost_usd: 0.2, per: 1d}]
"""
CHAT = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


def post(url: str, key: str, body: object = CHAT) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}
    )


def test_client_limit_answers_429_and_a_rejection_consumes_nothing(tmp_path: Path) -> None:
    with running_gateway(CONFIG, tmp_path) as gw:
        key = gw.keys["tight"]
        first = post(gw.url, key)
        assert first.status_code == 200
        assert first.headers["x-ratelimit-limit-requests"] == "2"
        assert first.headers["x-ratelimit-remaining-requests"] == "1"
        assert post(gw.url, key).status_code == 200
        refused = [post(gw.url, key) for _ in range(3)]
        for r in refused:
            assert r.status_code == 429
            validate("ErrorResponse", r.json())
            assert r.json()["error"]["code"] == "rate_limit_exceeded"
            assert 1 <= int(r.headers["retry-after"]) <= 2
            assert r.headers["x-ratelimit-remaining-requests"] == "0"
        time.sleep(float(refused[-1].headers["retry-after"]) + 0.05)
        assert post(gw.url, key).status_code == 200  # the refusals consumed nothing


def test_strategy_limit_is_shared_by_its_clients(tmp_path: Path) -> None:
    with running_gateway(CONFIG, tmp_path) as gw:
        codes = [post(gw.url, gw.keys[c]).status_code for c in ("a", "b", "a", "b")]
        assert codes == [200, 200, 200, 429]


def test_a_capped_provider_is_skipped_not_429(tmp_path: Path) -> None:
    with running_gateway(CONFIG, tmp_path) as gw:
        first = post(gw.url, gw.keys["caps"])
        assert first.headers["x-localrouter-provider"] == "main"
        second = post(gw.url, gw.keys["caps"])
        assert second.status_code == 200
        assert second.headers["x-localrouter-provider"] == "spare"
        record = httpx.get(
            f"{gw.v1}/generation",
            params={"id": second.headers["x-localrouter-generation-id"]},
            headers={"authorization": f"Bearer {gw.keys['caps']}"},
        ).json()
        assert [a["provider"] for a in record["attempts"]] == ["spare"]
        assert record["left_out"] == [
            {
                "model": "main/fast",
                "reason": "rate-limited (provider 'main' limit of 1 requests per 1m)",
            }
        ]


def test_a_cost_budget_spent_stays_spent_after_a_restart(tmp_path: Path) -> None:
    body = {**CHAT, "max_tokens": 10}
    with running_gateway(CONFIG, tmp_path) as gw:
        key = gw.keys["spender"]
        spent = 0
        while post(gw.url, key, body).status_code == 200:
            spent += 1
            assert spent < 100
        assert spent >= 1
    with running_gateway(
        CONFIG.replace("{key_prefix:spender}", gw.table.clients["spender"].key_prefix).replace(
            "{key_hash:spender}", gw.table.clients["spender"].key_hash
        ),
        tmp_path,
    ) as again:
        assert post(again.url, key, body).status_code == 429  # restored from state_dir
