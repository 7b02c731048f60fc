"""SIP/SIPS URIs (RFC 3261 §19.1, §25.1) and opaque absolute URIs of other schemes.

Rules kept here:
- A URI never contains whitespace; embedded LWS is a syntax error (RFC 4475 lwsruri).
- The user part is kept %-escaped as on the wire; `user_unescaped` decodes it.
- IPv6 hosts are stored without brackets and get them back on output.
- Parameter names are lower-cased (they compare case-insensitively); values are kept.
- The userinfo ends at the first '@': neither host, port, parameters nor headers may
  contain an unescaped '@', while the user part may contain ';', '?' and ','.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sems_lite.sip.errors import SipParseError

__all__ = [
    "AbsoluteUri",
    "SipUri",
    "format_host",
    "is_ipv4",
    "is_ipv6",
    "parse_host_port",
    "parse_uri",
]

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_HOSTNAME = re.compile(r"[A-Za-z0-9\-_.]+")
_IPV6_CHARS = re.compile(r"[0-9A-Fa-f:.]+")
_HEX_GROUP = re.compile(r"[0-9A-Fa-f]{1,4}")
_PORT = re.compile(r"[0-9]{1,5}")
_PARAM_NAME = re.compile(r"[A-Za-z0-9\-_.!~*'()%\[\]/:&+$]+")
# Characters that can never appear unescaped anywhere in a URI on the wire.
_FORBIDDEN = re.compile(r'[\x00-\x20\x7f<>"]')
_PCT = re.compile(rb"%([0-9A-Fa-f]{2})")


def is_ipv4(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 4 and all(
        0 < len(p) <= 3 and p.isascii() and p.isdigit() and int(p) <= 255 for p in parts
    )


def is_ipv6(text: str) -> bool:
    """True for an IPv6 address in RFC 4291 text form (no brackets, no zone)."""
    if not text or len(text) > 45 or not _IPV6_CHARS.fullmatch(text):
        return False
    head, gap, tail = text.partition("::")
    if "::" in tail:
        return False
    groups = (head.split(":") if head else []) + (tail.split(":") if tail else [])
    count = len(groups)
    if groups and "." in groups[-1] and not text.endswith(":"):
        if not is_ipv4(groups.pop()):
            return False
        count += 1  # an embedded IPv4 address fills two groups
    if not all(_HEX_GROUP.fullmatch(g) for g in groups):
        return False
    return count <= 7 if gap else count == 8


def format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _check_host(host: str) -> None:
    if not host:
        raise SipParseError("Empty host")
    if not _HOSTNAME.fullmatch(host):
        raise SipParseError("Malformed host")


def _parse_port(text: str) -> int:
    if not _PORT.fullmatch(text) or int(text) > 65535:
        raise SipParseError("Malformed port")
    return int(text)


def parse_host_port(text: str) -> tuple[str, int | None]:
    """Split `host[:port]`, `[v6]` or `[v6]:port`; the host comes back without brackets."""
    if text.startswith("["):
        end = text.find("]")
        host = text[1:end] if end > 0 else ""
        if end < 0 or not is_ipv6(host):
            raise SipParseError("Malformed IPv6 reference")
        rest = text[end + 1 :]
        if not rest:
            return host, None
        if rest[0] != ":":
            raise SipParseError("Malformed IPv6 reference")
        return host, _parse_port(rest[1:])
    host, colon, port = text.partition(":")
    _check_host(host)
    return host, _parse_port(port) if colon else None


def _unescape(text: str) -> str:
    if "%" not in text:
        return text
    raw = _PCT.sub(lambda m: bytes((int(m.group(1), 16),)), text.encode("utf-8", "surrogateescape"))
    return raw.decode("utf-8", "surrogateescape")


@dataclass(eq=True, slots=True)
class SipUri:
    """A sip: or sips: URI."""

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def user_unescaped(self) -> str | None:
        return None if self.user is None else _unescape(self.user)

    @property
    def host_port(self) -> str:
        host = format_host(self.host)
        return host if self.port is None else f"{host}:{self.port}"

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out += (":", self.password)
            out.append("@")
        out.append(self.host_port)
        for name, value in self.params.items():
            out += (";", name) if value is None else (";", name, "=", value)
        if self.headers:
            out += ("?", "&".join(f"{k}={v}" for k, v in self.headers.items()))
        return "".join(out)


@dataclass(eq=True, slots=True)
class AbsoluteUri:
    """Any URI of another scheme (tel:, http:, urn:, ...), kept opaque."""

    scheme: str
    opaque: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.opaque}"


def parse_uri(text: str) -> SipUri | AbsoluteUri:
    """Parse a URI as it appears in a Request-Line or between < and >."""
    if _FORBIDDEN.search(text):
        raise SipParseError("Whitespace or forbidden character in URI")
    scheme, colon, rest = text.partition(":")
    if not colon or not _SCHEME.fullmatch(scheme):
        raise SipParseError("Malformed URI scheme")
    scheme = scheme.lower()
    if scheme not in ("sip", "sips"):
        if not rest:
            raise SipParseError("Empty URI")
        return AbsoluteUri(scheme, rest)
    return _parse_sip(scheme, rest)


def _parse_sip(scheme: str, rest: str) -> SipUri:
    user = password = None
    at = rest.find("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, colon, pw = userinfo.partition(":")
        if not user:
            raise SipParseError("Empty user part in URI")
        password = pw if colon else None
    rest, qmark, header_text = rest.partition("?")
    hostport, *param_texts = rest.split(";")
    host, port = parse_host_port(hostport)
    params: dict[str, str | None] = {}
    for piece in param_texts:
        name, eq, value = piece.partition("=")
        if not _PARAM_NAME.fullmatch(name):
            raise SipParseError("Malformed URI parameter")
        params[name.lower()] = value if eq else None
    headers: dict[str, str] = {}
    if qmark:
        for piece in header_text.split("&"):
            name, _, value = piece.partition("=")
            if not name:
                raise SipParseError("Malformed URI header")
            headers[name] = value
    return SipUri(scheme, user, password, host, port, params, headers)
