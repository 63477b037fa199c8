"""The Redactor on its own: by value and by shape, redacted whole before it is cut, and the cut
reads only as much of a long text as it needs while giving exactly what redacting it all would."""

from __future__ import annotations

import random
import string

from localrouter.redaction import REDACTED, Redactor, secret_name

PLAIN = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"  # no known shape


def test_a_key_after_290_characters_is_redacted_not_cut() -> None:
    r = Redactor([PLAIN])
    text = "x" * 290 + PLAIN
    assert r.excerpt(text, 300) == "x" * 290 + REDACTED
    for key in ("sk-live-SECRET0123456789", "AIzaSyD0123456789abcdefghijklmno", "gsk_0123456789ab"):
        assert key[:6] not in Redactor().excerpt("y" * 289 + " " + key, 300)


def test_values_and_shapes() -> None:
    r = Redactor([PLAIN, "abc", None, "hdr-Zx81Kq0PlM3n"])
    assert r.redact(f"key {PLAIN}, header hdr-Zx81Kq0PlM3n") == f"key {REDACTED}, header {REDACTED}"
    assert r.redact("abc stays: values under 4 characters are not looked for").startswith("abc")
    assert r.redact("Authorization: Bearer abcdefgh12345") == f"Authorization: {REDACTED}"
    assert r.redact("client lr-Xk3v9QaB") == "client lr-Xk3v9QaB"  # a key's public prefix
    assert PLAIN not in repr(r) and "2 secret values" in repr(r)


def test_the_cut_equals_redacting_everything() -> None:
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + "-_ .:/"
    for _ in range(1500):
        values = [
            "".join(rng.choice(string.ascii_letters) for _ in range(rng.randint(4, 90)))
            for _ in range(rng.randint(0, 4))
        ]
        r = Redactor(values)
        parts = []
        for _ in range(rng.randint(0, 30)):
            k = rng.random()
            if k < 0.3 and values:
                parts.append(rng.choice(values))
            elif k < 0.4:
                parts.append("sk-" + "z" * rng.randint(3, 300))
            elif k < 0.45:
                parts.append("Bearer " + "t" * rng.randint(1, 500))
            else:
                parts.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120))))
        text = "".join(parts)
        limit = rng.choice([0, 1, 10, 50, 300, 1000])
        assert r.excerpt(text, limit) == r.redact(text)[:limit], (values, text, limit)


def test_secret_names() -> None:
    for name in ("Authorization", "X-Api-Key", "api_key", "GITHUB_TOKEN", "X-Auth-Token", "Cookie"):
        assert secret_name(name), name
    for name in ("X-Title", "HTTP-Referer", "TZ", "key_prefix", "total_tokens", "max_tokens"):
        assert not secret_name(name), name
