"""Every error status of SPEC §3, in OpenAI's envelope, with no secret anywhere."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.gateway import Gateway, running_gateway
from tests.openapi import validate

CONFIG = """
version: 2
server: {max_body_mb: 0.01}
providers:
  mock:
    type: mock
    models: {small: {}, large: {}}
  locked:
    type: mock
    api_key: ${env:LOCALROUTER_TEST_UNSET_KEY}
    models: {vault: {}}
strategies:
  cheap: {models: [mock/small]}
  sealed: {models: [locked/vault]}
clients:
  app: {key_prefix: {key_prefix:app}, key_hash: {key_hash:app}, strategy: cheap}
  sealed: {key_prefix: {key_prefix:sealed}, key_hash: {key_hash:sealed}, strategy: sealed}
  off: {key_prefix: {key_prefix:off}, key_hash: {key_hash:off}, strategy: cheap, enabled: false}
"""

CHAT = "/v1/chat/completions"
MSG = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with running_gateway(CONFIG, tmp_path_factory.mktemp("gw")) as gateway:
        yield gateway


def call(
    gw: Gateway,
    key: str | None,
    body: object = MSG,
    path: str = CHAT,
    extra: dict[str, str] | None = None,
    **kw: object,
) -> httpx.Response:
    headers = ({"authorization": f"Bearer {key}"} if key else {}) | (extra or {})
    if isinstance(body, bytes | str):
        return httpx.post(gw.url + path, headers=headers, content=body, **kw)  # type: ignore[arg-type]
    return httpx.post(gw.url + path, headers=headers, json=body, **kw)  # type: ignore[arg-type]


def envelope(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    validate("ErrorResponse", body)
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error  # type: ignore[no-any-return]


def test_401_missing_unknown_and_oversized_keys(gw: Gateway) -> None:
    assert envelope(call(gw, None), 401)["code"] == "invalid_api_key"
    wrong = gw.keys["app"][:11] + "x" * 32
    err = envelope(call(gw, wrong), 401)
    assert wrong not in str(err)  # the presented key is never echoed
    envelope(call(gw, "lr-nothing-like-any-prefix"), 401)
    envelope(call(gw, "lr-" + "a" * 100), 401)  # over bcrypt's 72 bytes: 401, not 500
    via_header = httpx.post(gw.url + CHAT, headers={"x-api-key": gw.keys["app"]}, json=MSG)
    assert via_header.status_code == 200


def test_403_disabled_key_and_model_not_allowed(gw: Gateway) -> None:
    assert envelope(call(gw, gw.keys["off"]), 403)["code"] == "client_disabled"
    err = envelope(call(gw, gw.keys["app"], {**MSG, "model": "mock/large"}), 403)
    assert err["code"] == "model_not_allowed"


def test_404_unknown_model_and_endpoint(gw: Gateway) -> None:
    assert envelope(call(gw, gw.keys["app"], {**MSG, "model": "mock/gone"}), 404)["code"] == (
        "model_not_found"
    )
    envelope(call(gw, gw.keys["app"], MSG, path="/v1/nowhere"), 404)


def test_400_invalid_requests(gw: Gateway) -> None:
    envelope(call(gw, gw.keys["app"], b"{not json"), 400)
    envelope(call(gw, gw.keys["app"], [1, 2]), 400)
    envelope(call(gw, gw.keys["app"], {"model": "auto"}), 400)
    envelope(call(gw, gw.keys["app"], {**MSG, "stream": "yes"}), 400)


def test_413_body_too_large(gw: Gateway) -> None:
    big = {**MSG, "messages": [{"role": "user", "content": "x" * 20_000}]}
    envelope(call(gw, gw.keys["app"], big), 413)


def test_503_no_usable_candidate_names_the_missing_secret(gw: Gateway) -> None:
    err = envelope(call(gw, gw.keys["sealed"]), 503)
    assert "${env:LOCALROUTER_TEST_UNSET_KEY}" in str(err["message"])
    health = httpx.get(gw.url + "/health").json()
    assert health["providers"]["locked"]["status"] == "unusable"


def test_every_answer_has_a_request_id_and_consistent_codes(gw: Gateway) -> None:
    for response in (
        httpx.get(gw.url + "/health"),
        httpx.get(gw.url + "/v1/models"),
        call(gw, None),
        httpx.get(gw.url + "/v1/chat/completions"),
    ):
        assert response.headers["x-request-id"]
    assert envelope(httpx.get(gw.url + "/v1/models"), 401)["code"] == "invalid_api_key"
    assert envelope(httpx.get(gw.url + "/v1/chat/completions"), 405)["type"] == (
        "invalid_request_error"
    )
    mine = {"authorization": f"Bearer {gw.keys['app']}"}
    assert envelope(httpx.get(gw.url + "/v1/models/localrouter/sealed", headers=mine), 403)


def test_a_rejected_request_still_has_its_generation(gw: Gateway) -> None:
    r = call(gw, gw.keys["app"], {"model": "auto"})
    envelope(r, 400)
    record = httpx.get(
        f"{gw.url}/v1/generation",
        headers={"authorization": f"Bearer {gw.keys['app']}"},
        params={"id": r.headers["x-localrouter-generation-id"]},
    )
    assert record.status_code == 200
    assert record.json()["status_code"] == 400


def test_413_for_a_chunked_body_over_the_limit(gw: Gateway) -> None:
    def pieces() -> Iterator[bytes]:  # no content-length: the reader must stop by itself
        yield b'{"model": "auto", "messages": [{"role": "user", "content": "'
        for _ in range(40):
            yield b"x" * 1000
        yield b'"}]}'

    r = httpx.post(
        gw.url + CHAT, headers={"authorization": f"Bearer {gw.keys['app']}"}, content=pieces()
    )
    assert "content-length" not in r.request.headers
    envelope(r, 413)


def test_408_when_the_body_stalls(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    from urllib.parse import urlsplit

    from localrouter.server import incoming

    monkeypatch.setattr(incoming, "BODY_TIMEOUT_S", 0.3)
    url = urlsplit(gw.url)
    with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
        head = (
            f"POST {CHAT} HTTP/1.1\r\nhost: {url.netloc}\r\n"
            f"authorization: Bearer {gw.keys['app']}\r\ncontent-type: application/json\r\n"
            'content-length: 100\r\n\r\n{"model": '
        )
        sock.sendall(head.encode())  # 10 of the 100 bytes promised, then nothing
        answer = ""
        while "invalid_request_error" not in answer:  # head and body may come in two reads
            part = sock.recv(65536).decode()
            if not part:
                break
            answer += part
    assert answer.startswith("HTTP/1.1 408"), answer[:200]
    assert '"type":"invalid_request_error"' in answer.replace(" ", "")


def test_an_unexpected_error_is_a_500_in_the_envelope(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from localrouter.server import validation

    def broken(kind: str, body: object) -> tuple[str, str] | None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(validation, "check", broken)
    r = call(gw, gw.keys["app"], extra={"x-request-id": "mine-1"})
    error = envelope(r, 500)
    assert "a bug" not in str(error)  # the details are in the log, not the answer
    assert r.headers["x-request-id"] == "mine-1"
    assert any("a bug" in (rec.exc_text or "") or rec.exc_info for rec in caplog.records)


def test_a_model_request_echoes_a_sane_request_id(gw: Gateway) -> None:
    r = call(gw, gw.keys["app"], extra={"x-request-id": "trace-42"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "trace-42"
    r = call(gw, gw.keys["app"], extra={"x-request-id": "x" * 200})
    assert r.headers["x-request-id"].startswith("req-")


def test_options_and_other_methods_on_a_model_endpoint(gw: Gateway) -> None:
    r = httpx.options(gw.url + CHAT)
    assert r.status_code == 200 and "POST" in r.headers["allow"]
    for method in ("GET", "PUT", "DELETE", "HEAD"):
        r = httpx.request(method, gw.url + "/v1/embeddings")
        assert r.status_code == 405 and "POST" in r.headers["allow"], method
        assert r.headers["x-request-id"]


def test_a_large_body_sent_with_expect_100_continue(gw: Gateway) -> None:
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(gw.url)
    body = httpx.Request("POST", "http://x", json={**MSG, "user": "u" * 5000}).content
    with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
        head = (
            f"POST {CHAT} HTTP/1.1\r\nhost: {url.netloc}\r\n"
            f"authorization: Bearer {gw.keys['app']}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nexpect: 100-continue\r\n\r\n"
        )
        sock.sendall(head.encode())
        first = sock.recv(65536).decode()  # curl waits for this before sending the body
        assert first.startswith("HTTP/1.1 100"), first[:100]
        sock.sendall(body)
        answer = b""
        while b'"choices"' not in answer:
            part = sock.recv(65536)
            assert part, answer[:300]
            answer += part
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
