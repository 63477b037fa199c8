"""What each provider ``type`` means before any network: default base URL, wire format, kind.

Pure data, shared by the compiler (defaults, ``kind``) and the provider adapters (wire format).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class ProviderType:
    name: str
    wire: str  # the adapter module that speaks it: openai | anthropic | gemini | ollama | mock
    default_base_url: str | None
    default_kind: str  # api | local
    needs_key: bool
    extra_headers: tuple[tuple[str, str], ...] = ()


TYPES: dict[str, ProviderType] = {
    t.name: t
    for t in (
        ProviderType("openai", "openai", "https://api.openai.com/v1", "api", True),
        ProviderType("openai-compatible", "openai", None, "api", False),
        ProviderType("anthropic", "anthropic", "https://api.anthropic.com", "api", True),
        ProviderType("gemini", "gemini", "https://generativelanguage.googleapis.com", "api", True),
        ProviderType("ollama", "ollama", "http://localhost:11434", "local", False),
        ProviderType(
            "openrouter",
            "openai",
            "https://openrouter.ai/api/v1",
            "api",
            True,
            (("HTTP-Referer", "https://localrouter.dev"), ("X-Title", "LocalRouter")),
        ),
        ProviderType("lmstudio", "openai", "http://localhost:1234/v1", "local", False),
        ProviderType("mock", "mock", None, "local", False),
    )
}

MOCK_DEFAULT_MODELS = ("echo",)

# `type: openai-compatible` + `preset: NAME` fills in the base URL of a known OpenAI-compatible API
PRESETS: dict[str, str] = {
    "groq": "https://api.groq.com/openai/v1",
    "together": "https://api.together.xyz/v1",
    "mistral": "https://api.mistral.ai/v1",
    "deepseek": "https://api.deepseek.com/v1",
    "xai": "https://api.x.ai/v1",
    "fireworks": "https://api.fireworks.ai/inference/v1",
    "perplexity": "https://api.perplexity.ai",
    "vllm": "http://localhost:8000/v1",
}


def default_base_url(type_name: str, preset: str | None) -> str | None:
    if preset is not None:
        return PRESETS[preset]
    return TYPES[type_name].default_base_url


_LOOPBACK = ("localhost", "127.0.0.1", "::1", "[::1]")


def is_loopback(url: str | None) -> bool:
    if not url:
        return False
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:  # not a URL ("http://[::1"): semantic reports it (LR307)
        return False
    return host in _LOOPBACK or host.startswith("127.") or host.endswith(".localhost")


def default_kind(type_name: str, base_url: str | None, preset: str | None = None) -> str:
    t = TYPES[type_name]
    if t.default_kind == "local" or is_loopback(base_url or default_base_url(type_name, preset)):
        return "local"
    return "api"
