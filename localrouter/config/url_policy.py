"""Provider URL policy (SPEC §1): where a provider's key may be sent.

* ``LR325`` (error): a ``base_url`` with credentials in it (``https://user:password@host``). The
  password would sit in the config, in process lists and in every log line that quotes the URL;
  a key belongs in ``api_key`` or a header, as a ``${keyring:…}`` / ``${env:…}`` reference.
* ``LR326`` (error): a link-local or cloud-metadata address (169.254.0.0/16, fe80::/10,
  fd00:ec2::254, ``metadata.google.internal``): the instance metadata service hands out the
  machine's cloud credentials, and no provider lives there. IPv4 written as one number, in hex
  or octal (``http://2852039166/``), and IPv4-mapped IPv6 count too.
* ``LR327`` (warning; an error under ``--strict``): plain ``http://`` to a host that is neither
  loopback nor on a private network, so the key (and every prompt) would travel in clear text.
  Private: RFC 1918 and unique-local addresses, CGNAT 100.64.0.0/10 (Tailscale), single-label
  names (``http://ollama:11434`` in Docker Compose) and ``.local``, ``.lan``, ``.internal``,
  ``.home.arpa``, ``.localdomain`` names.

A URL that is not http(s) at all is ``LR307`` (the meaning checks). A host written with a
``${…}`` placeholder cannot be judged and is left alone. Messages never quote a URL's
credentials.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

Finding = tuple[str, bool, str, str]  # code, is a warning, message, help

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})
_METADATA_V6 = ipaddress.IPv6Address("fd00:ec2::254")
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_PRIVATE_SUFFIXES = (".local", ".lan", ".internal", ".home.arpa", ".localdomain", ".localhost")
_LEGACY_V4 = re.compile(r"^(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]+|[0-9]+)){0,3}$", re.I)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(host: str) -> Address | None:
    """The IP address a host names literally (as a resolver would read it), or None."""
    try:
        ip = ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        if not _LEGACY_V4.match(host):
            return None
        try:  # 2852039166, 0xA9FEA9FE, 0251.0376.0251.0376: what inet_aton (and curl) accept
            ip = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _metadata(host: str, ip: Address | None) -> bool:
    if host in METADATA_HOSTS:
        return True
    return ip is not None and (ip.is_link_local or ip == _METADATA_V6)


def _local(host: str, ip: Address | None) -> bool:
    """Loopback or a private network: plain http does not cross the internet."""
    if ip is not None:
        in_cgnat = isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT
        return ip.is_loopback or ip.is_private or ip.is_unspecified or in_cgnat
    return host == "localhost" or "." not in host or host.endswith(_PRIVATE_SUFFIXES)


def check_base_url(provider: str, url: str) -> list[Finding]:
    """What the policy says about provider ``provider``'s ``base_url``."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except ValueError:  # not a URL at all: LR307's business
        return []
    if parts.scheme not in ("http", "https") or not host:
        return []
    out: list[Finding] = []
    if "@" in parts.netloc:
        out.append(
            (
                "LR325",
                False,
                f"provider '{provider}': base_url carries credentials (user:password@)",
                "a URL's password ends up in logs and process lists: remove it, and put the key "
                "in api_key: ${keyring:NAME} (or a header whose value is a ${env:NAME} reference)",
            )
        )
    if "${" in host:  # a placeholder: nothing to judge
        return out
    ip = _address(host)
    if _metadata(host, ip):
        out.append(
            (
                "LR326",
                False,
                f"provider '{provider}': base_url points at a link-local or cloud-metadata "
                f"address ({host})",
                "the instance metadata service hands out this machine's cloud credentials and "
                "no provider lives there: check the host",
            )
        )
    elif parts.scheme == "http" and not _local(host, ip):
        out.append(
            (
                "LR327",
                True,
                f"provider '{provider}': plain http:// to {host}, which is not loopback or a "
                "private network: the API key and every prompt would travel in clear text",
                "use https:// (or the server's private address, if it is on your network)",
            )
        )
    return out
