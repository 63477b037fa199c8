"""The one mapper (``providers/upstream_errors.py``): every kind of transport failure becomes the
right ``Upstream*`` exception with the provider's name and no detail of the request; an error
answer becomes ``UpstreamHTTPError`` with the provider's words redacted whole before they are cut,
its label redacted, and ``retry_after`` read; each provider's error shape is only a parser in
front of it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest

from localrouter.compiler.table import Provider
from localrouter.errors import (
    BodyTooLarge,
    ContentEncodingError,
    DecodingError,
    UpstreamConnectError,
    UpstreamError,
    UpstreamHTTPError,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamTooLarge,
)
from localrouter.providers import anthropic_stream, gemini_stream, openai
from localrouter.providers.upstream_errors import (
    MAX_ERROR_TEXT,
    ErrorParts,
    check_status,
    failure,
    failures,
    http_error,
    parse_error,
    retry_after,
)
from localrouter.redaction import REDACTED, SHAPES_ONLY, Redactor

P = Provider(
    "up", "openai", "openai", "http://127.0.0.1:9/v1", None, "api", 2.0, 5.0, {}, (), False
)
KEY = "sk-proj-" + "k" * 40  # shaped like a key
VALUE = "opaque-secret-value-7f3a9c"  # known only by value (no key shape)

# every kind of failure a transport raises -> the exception it must become
TABLE: list[tuple[BaseException, type[UpstreamError], str]] = [
    (BodyTooLarge(), UpstreamTooLarge, "up sent an answer larger than its cap"),
    (
        ContentEncodingError("sent an answer with content-encoding 'br', which is not read"),
        UpstreamProtocolError,
        "up sent an answer with content-encoding 'br'",
    ),
    (DecodingError("invalid stored block lengths"), UpstreamProtocolError, "malformed answer"),
    (json.JSONDecodeError("x", "doc", 0), UpstreamProtocolError, "malformed answer"),
    (aiohttp.ServerTimeoutError("read"), UpstreamTimeout, "up timed out (ServerTimeoutError)"),
    (aiohttp.ConnectionTimeoutError(), UpstreamTimeout, "timed out (ConnectionTimeoutError)"),
    (aiohttp.SocketTimeoutError(), UpstreamTimeout, "timed out (SocketTimeoutError)"),
    (TimeoutError(), UpstreamTimeout, "up timed out (TimeoutError)"),
    (aiohttp.ServerDisconnectedError(), UpstreamConnectError, "(ServerDisconnectedError)"),
    (aiohttp.ClientPayloadError("cut"), UpstreamConnectError, "(ClientPayloadError)"),
    (aiohttp.ClientOSError(104, "reset"), UpstreamConnectError, "(ClientOSError)"),
    (aiohttp.InvalidURL("nope://x"), UpstreamConnectError, "(InvalidURL)"),
    (ConnectionResetError(), UpstreamConnectError, "up connection failed (ConnectionResetError)"),
    (OSError("no route"), UpstreamConnectError, "up connection failed (OSError)"),
]


@pytest.mark.parametrize(("raised", "kind", "said"), TABLE, ids=lambda v: type(v).__name__)
def test_every_failure_kind_maps_to_its_exception(
    raised: BaseException, kind: type[UpstreamError], said: str
) -> None:
    with pytest.raises(UpstreamError) as caught, failures(P):
        raise raised
    err = caught.value
    assert type(err) is kind and err.provider == "up" and said in err.message
    assert err.__suppress_context__  # the transport's exception (its URL, its words) is dropped
    assert "127.0.0.1" not in str(err)
    assert failure(raised, P) is not None


def test_the_retry_rules_follow_the_kind() -> None:
    too_large = failure(BodyTooLarge(), P)
    assert isinstance(too_large, UpstreamTooLarge) and not too_large.retryable
    assert too_large.code == "upstream_too_large" and "providers.up.max_response_mb" in str(
        too_large
    )
    for raised in (TimeoutError(), aiohttp.ServerDisconnectedError(), DecodingError("x")):
        mapped = failure(raised, P)
        assert mapped is not None and mapped.retryable


@pytest.mark.parametrize("raised", [ValueError("a bug"), KeyError("k"), RuntimeError("r")])
def test_anything_else_passes_unchanged(raised: Exception) -> None:
    """A bug is not an upstream failure: it is not hidden behind one."""
    assert failure(raised, P) is None
    with pytest.raises(type(raised)) as caught, failures(P):
        raise raised
    assert caught.value is raised


def test_our_own_errors_pass_unchanged() -> None:
    mine = UpstreamHTTPError("up answered 500: x", provider="up", status=500)
    with pytest.raises(UpstreamHTTPError) as caught, failures(P):
        raise mine
    assert caught.value is mine


# ---------------------------------------------------------------- error answers


def test_the_text_is_redacted_whole_before_it_is_cut() -> None:
    """A key that straddles the cut: cutting first would leave its first characters
    (``sk-proj-kkk…``) where neither its value nor its shape matches any more."""
    for secret, redactor in ((KEY, SHAPES_ONLY), (VALUE, Redactor([VALUE]))):
        text = "x" * (MAX_ERROR_TEXT - 8) + " " + secret + " tail"
        err = http_error("up", 401, ErrorParts(text), redactor)
        said = err.message.removeprefix("up answered 401: ")
        assert secret[:6] not in said and said.endswith(" " + REDACTED[:7])
        assert len(said) == MAX_ERROR_TEXT
        naive = redactor.redact(text[:MAX_ERROR_TEXT])  # what cutting first would have left
        assert secret[:6] in naive


def test_a_label_is_redacted_and_shaped_per_provider() -> None:
    parts = ErrorParts(f"bad key {KEY}", f"invalid_{VALUE}")
    redactor = Redactor([VALUE])
    paren = http_error("up", 401, parts, redactor)
    assert paren.message == f"up answered 401 (invalid_{REDACTED}): bad key {REDACTED}"
    prefix = http_error("up", 529, ErrorParts("Overloaded", "overloaded_error"), redactor,
                        label_style="prefix")  # fmt: skip
    assert prefix.message == "up answered 529: overloaded_error: Overloaded"
    mid = http_error("up", 502, ErrorParts("gone", "server_error"), redactor,
                     said="failed mid-stream")  # fmt: skip
    assert mid.message == "up failed mid-stream (server_error): gone" and mid.status == 502
    plain = http_error("up", 500, ErrorParts("boom"), redactor, said="reported an error")
    assert plain.message == "up reported an error: boom" and plain.retryable


def test_retry_after_from_the_headers_or_the_parser() -> None:
    assert retry_after({"retry-after": "7"}) == 7.0
    assert retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    wait = retry_after({"retry-after": soon})
    assert wait is not None and 25 < wait <= 30
    assert retry_after({"retry-after": "soon"}) is None and retry_after({}) is None
    err = http_error("up", 429, ErrorParts("slow down"), SHAPES_ONLY, headers={"retry-after": "3"})
    assert err.retry_after == 3.0 and err.retryable
    ours = http_error(
        "up", 429, ErrorParts("x", None, 12.0), SHAPES_ONLY, headers={"retry-after": "3"}
    )
    assert ours.retry_after == 12.0  # the provider's parser knew better


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b'{"error": {"message": "model not found", "type": "x"}}', "model not found"),
        (b'{"error": "plain string"}', "plain string"),
        (b'{"message": "top level"}', "top level"),
        (b'[{"error": {"message": "google list", "code": 429}}]', "google list"),
        (b"<html>502 Bad Gateway</html>", "<html>502 Bad Gateway</html>"),
        (b'{"detail": "other"}', '{"detail": "other"}'),
        (b"\xff\xfe broken utf-8", "\ufffd\ufffd broken utf-8"),
    ],
)
def test_the_common_shapes(body: bytes, text: str) -> None:
    assert parse_error(body).text == text


def test_check_status_passes_a_success_and_maps_an_error() -> None:
    check_status(200, {}, b"anything", "up", SHAPES_ONLY)
    with pytest.raises(UpstreamHTTPError) as caught:
        check_status(
            503, {"retry-after": "2"}, b'{"error": {"message": "busy"}}', "up", SHAPES_ONLY
        )
    assert caught.value.message == "up answered 503: busy" and caught.value.retry_after == 2.0


# ---------------------------------------------------------------- providers' parsers feed it


def test_openai_label_and_rate_limit_reset() -> None:
    body = json.dumps({"error": {"message": f"bad {KEY}", "code": "invalid_api_key"}}).encode()
    with pytest.raises(UpstreamHTTPError) as caught:
        openai.check_status(401, {}, body, "oai", SHAPES_ONLY)
    assert caught.value.message == f"oai answered 401 (invalid_api_key): bad {REDACTED}"
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"}
    with pytest.raises(UpstreamHTTPError) as caught:
        openai.check_status(429, headers, b'{"error": {"message": "slow"}}', "oai", SHAPES_ONLY)
    assert caught.value.retry_after == 360.0


def test_anthropic_error_type_prefixes_the_message() -> None:
    body = b'{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'
    with pytest.raises(UpstreamHTTPError) as caught:
        anthropic_stream.check_status(529, {"retry-after": "4"}, body, "claude", SHAPES_ONLY)
    assert caught.value.message == "claude answered 529: overloaded_error: Overloaded"
    assert caught.value.retry_after == 4.0 and caught.value.retryable
    event = anthropic_stream.stream_error(
        {"type": "rate_limit_error", "message": KEY}, "claude", SHAPES_ONLY
    )
    assert (
        event.status == 429
        and event.message == f"claude answered 429: rate_limit_error: {REDACTED}"
    )


def test_gemini_retry_info_and_the_header_first() -> None:
    body = json.dumps(
        {"error": {"code": 429, "message": "quota", "details": [{"retryDelay": "37s"}]}}
    ).encode()
    with pytest.raises(UpstreamHTTPError) as caught:
        gemini_stream.check_status(429, {}, body, "gem", SHAPES_ONLY)
    assert caught.value.message == "gem answered 429: quota" and caught.value.retry_after == 37.0
    with pytest.raises(UpstreamHTTPError) as caught:
        gemini_stream.check_status(429, {"retry-after": "5"}, body, "gem", SHAPES_ONLY)
    assert caught.value.retry_after == 5.0
