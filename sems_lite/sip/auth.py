"""Server-side HTTP digest authentication for SIP (RFC 3261 §22, RFC 7616, RFC 8760).

Rules kept here:
- Sans-IO: header values in, header values and an `AuthResult` out; the clock is injected.
- Nonces are stateless: base64url(time, counter, HMAC(secret, realm, time, counter)), so
  a restart or a second worker only costs the client one extra 401 (stale=true).
- `verify` never raises: anything it cannot read is a failed `AuthResult` with a reason.
- stale=true is only reported when the credentials were right for an expired nonce
  (RFC 7616 §3.3), so it never tells a guesser anything.
- Replays: each (nonce, nc) is accepted once. Only verified requests are remembered, so
  garbage cannot flush the bounded memory; the nonce lifetime bounds what it must hold.
- Responses are compared with `hmac.compare_digest`; unknown users cost the same hashing.
- Credentials never reach a log line: use `redact` on the header value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import struct
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sems_lite.sip.errors import SipParseError
from sems_lite.sip.uri import SipUri, parse_uri

__all__ = ["AuthResult", "DigestAuthenticator", "digest_response", "parse_auth_params", "redact"]

_HASHES: dict[str, Callable[..., Any]] = {
    "MD5": hashlib.md5,
    "SHA-256": hashlib.sha256,
}
_MAX_HEADER = 4096  # longer Authorization values are refused before any parsing
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_SCHEME = re.compile(rf"[ \t]*({_TOKEN})(?:[ \t]+|$)")
# auth-param = token "=" ( token / quoted-string ); unquoted values are taken leniently.
_PARAM = re.compile(rf'[ \t]*({_TOKEN})[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)"|([^\s",]+))[ \t]*', re.S)
_SEPARATOR = re.compile(r"[ \t]*,[ \t,]*")
_UNESCAPE = re.compile(r"\\(.)", re.S)
_NC = re.compile(r"[0-9A-Fa-f]{8}")
_HEX = re.compile(r"[0-9a-f]+")
_NONCE_CHARS = re.compile(r"[A-Za-z0-9_\-]+")
_NONCE_HEAD = struct.Struct("!dQ")  # issue time, counter
_MAC_SIZE = 16
_NONCE_SIZE = _NONCE_HEAD.size + _MAC_SIZE
_NONCE_TEXT = (4 * _NONCE_SIZE + 2) // 3  # base64 length without padding
_SHOWN = ("username", "realm", "uri", "algorithm", "qop", "nc")
_HA1_PREFIX = "ha1:"


@dataclass(slots=True)
class AuthResult:
    """Outcome of `verify`. `user` is the claimed name: trust it only when `ok`."""

    ok: bool
    user: str | None
    stale: bool
    reason: str


def _unquote(text: str) -> str:
    return _UNESCAPE.sub(r"\1", text) if "\\" in text else text


def parse_auth_params(value: str) -> tuple[str, dict[str, str]]:
    """Split a credentials or challenge value into (scheme, params); ValueError on junk.

    Parameter names are lower-cased, quoted values unescaped; a repeated name is an error.
    """
    match = _SCHEME.match(value)
    if match is None:
        raise ValueError("missing auth scheme")
    scheme = match.group(1)
    params: dict[str, str] = {}
    pos = match.end()
    end = len(value)
    separator = _SEPARATOR.match(value, pos)
    if separator is not None:  # tolerate a leading comma (empty list element)
        pos = separator.end()
    while pos < end:
        match = _PARAM.match(value, pos)
        if match is None:
            raise ValueError(f"malformed auth-param at offset {pos}")
        name = match.group(1).lower()
        if name in params:
            raise ValueError(f"duplicate auth-param {name!r}")
        quoted = match.group(2)
        params[name] = _unquote(quoted) if quoted is not None else match.group(3)
        pos = match.end()
        if pos == end:
            break
        separator = _SEPARATOR.match(value, pos)
        if separator is None:
            raise ValueError(f"expected ',' at offset {pos}")
        pos = separator.end()
    return scheme, params


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def redact(header_value: str) -> str:
    """A loggable form of an Authorization value: names and realm kept, secrets hidden."""
    try:
        scheme, params = parse_auth_params(header_value[:_MAX_HEADER])
    except ValueError:
        return f"<unparsable credentials, {len(header_value)} chars>"
    shown = [
        f"{name}={_quote(value)}" if name in _SHOWN else f"{name}=<redacted>"
        for name, value in params.items()
    ]
    if not params and len(header_value.strip()) > len(scheme):
        shown.append("<redacted>")  # e.g. Basic's token68: never echo it
    return f"{scheme} {', '.join(shown)}".rstrip()


def _same_target(digest_uri: str, request_uri: str) -> bool:
    if digest_uri == request_uri:
        return True
    try:
        given, wanted = parse_uri(digest_uri), parse_uri(request_uri)
    except SipParseError:
        return False
    if not isinstance(given, SipUri) or not isinstance(wanted, SipUri):
        return False
    return (given.scheme.lower(), given.host.lower(), given.port) == (
        wanted.scheme.lower(),
        wanted.host.lower(),
        wanted.port,
    )


def _hex(algorithm: str, text: str) -> str:
    return _HASHES[algorithm](text.encode("utf-8", "surrogateescape")).hexdigest()


def digest_response(
    algorithm: str,
    ha1: str,
    method: str,
    uri: str,
    nonce: str,
    *,
    nc: str | None = None,
    cnonce: str | None = None,
    qop: str | None = None,
) -> str:
    """The request-digest (RFC 7616 §3.4.1) from the plain (non -sess) HA1.

    `algorithm` is the name as sent ("MD5", "SHA-256-sess", ...); qop=None is RFC 2069
    style. KeyError for an unknown algorithm.
    """
    name = algorithm.upper()
    base = name.removesuffix("-SESS")
    if name != base:
        ha1 = _hex(base, f"{ha1}:{nonce}:{cnonce or ''}")
    ha2 = _hex(base, f"{method}:{uri}")
    if qop is None:
        return _hex(base, f"{ha1}:{nonce}:{ha2}")
    return _hex(base, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def _fail(reason: str, user: str | None = None, stale: bool = False) -> AuthResult:
    return AuthResult(False, user, stale, reason)


class DigestAuthenticator:
    """Issues WWW-Authenticate challenges and checks Authorization headers for one realm.

    `users` maps a user name to its password, or to "ha1:<hex>" holding
    H(username:realm:password) for the algorithm with that digest length (32 hex digits
    for MD5, 64 for SHA-256). A password that really starts with "ha1:" cannot be used.
    """

    __slots__ = (
        "_algorithms",
        "_clock",
        "_counter",
        "_opaque",
        "_secret",
        "_seen",
        "_seen_max",
        "allow_rfc2069",
        "nonce_ttl",
        "realm",
        "users",
    )

    def __init__(
        self,
        realm: str,
        users: Mapping[str, str],
        *,
        algorithms: Sequence[str] = ("SHA-256", "MD5"),
        nonce_ttl: float = 300.0,
        secret: bytes | None = None,
        clock: Callable[[], float] = time.monotonic,
        allow_rfc2069: bool = False,
        replay_cache: int = 4096,
    ) -> None:
        canonical = [a.upper() for a in algorithms]
        unknown = [a for a in canonical if a.removesuffix("-SESS") not in _HASHES]
        if unknown or not canonical:
            raise ValueError(f"unsupported digest algorithms: {unknown or 'none given'}")
        if '"' in realm or "\\" in realm or "\r" in realm or "\n" in realm:
            raise ValueError("realm must not contain quotes, backslashes or line breaks")
        self.realm = realm
        self.users = users
        self.nonce_ttl = nonce_ttl
        self.allow_rfc2069 = allow_rfc2069
        # SHA-256 first (RFC 8760 §2.4: the client picks the first one it supports).
        self._algorithms = sorted(canonical, key=lambda a: not a.startswith("SHA"))
        self._secret = secret if secret is not None else os.urandom(32)
        self._clock = clock
        self._counter = 0
        self._opaque = hmac.new(self._secret, b"opaque", hashlib.sha256).hexdigest()[:24]
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._seen_max = replay_cache

    # -- challenges -------------------------------------------------------------------

    def _mac(self, head: bytes) -> bytes:
        msg = self.realm.encode("utf-8", "surrogateescape") + b"\0" + head
        return hmac.new(self._secret, msg, hashlib.sha256).digest()[:_MAC_SIZE]

    def make_nonce(self) -> str:
        """A fresh nonce bound to this realm, secret and the clock's current time."""
        self._counter += 1
        head = _NONCE_HEAD.pack(self._clock(), self._counter)
        return base64.urlsafe_b64encode(head + self._mac(head)).rstrip(b"=").decode("ascii")

    def challenge(self, stale: bool = False) -> list[tuple[str, str]]:
        """WWW-Authenticate header lines for a 401, one per algorithm, SHA-256 first."""
        nonce = self.make_nonce()
        tail = ", stale=true" if stale else ""
        return [
            (
                "WWW-Authenticate",
                f'Digest realm={_quote(self.realm)}, nonce="{nonce}", opaque="{self._opaque}", '
                f'algorithm={algorithm}, qop="auth"{tail}',
            )
            for algorithm in self._algorithms
        ]

    def _nonce_age(self, nonce: str) -> float | None:
        """Seconds since the nonce was issued; None if we did not issue it."""
        if len(nonce) != _NONCE_TEXT or not _NONCE_CHARS.fullmatch(nonce):
            return None
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except (binascii.Error, ValueError):
            return None
        head, mac = raw[: _NONCE_HEAD.size], raw[_NONCE_HEAD.size :]
        if len(raw) != _NONCE_SIZE or not hmac.compare_digest(mac, self._mac(head)):
            return None
        issued, _counter = _NONCE_HEAD.unpack(head)
        return self._clock() - issued

    # -- verification -----------------------------------------------------------------

    @property
    def secret(self) -> bytes:
        """The nonce key: hand it to the next authenticator (reload) to keep nonces valid."""
        return self._secret

    def verify(
        self, method: str, authorization: str | None, *, uri: str | None = None
    ) -> AuthResult:
        """Check one Authorization header value for a request with this method.

        With `uri` (the Request-URI), the credentials' digest-uri must name the same
        target: equal, or a SIP URI of the same host and port (clients such as sipp leave
        the user part out). A response computed for another box is refused.
        """
        if authorization is None:
            return _fail("no credentials")
        if len(authorization) > _MAX_HEADER:
            return _fail("credentials too long")
        try:
            scheme, params = parse_auth_params(authorization)
        except ValueError as exc:
            return _fail(f"malformed credentials: {exc}")
        if scheme.lower() != "digest":
            return _fail(f"unsupported scheme {scheme[:20]!r}")
        user = params.get("username")
        missing = [
            k for k in ("username", "realm", "nonce", "uri", "response") if not params.get(k)
        ]
        if missing:
            return _fail(f"missing {', '.join(missing)}", user)
        if params["realm"] != self.realm:
            return _fail("wrong realm", user)
        if uri is not None and not _same_target(params["uri"], uri):
            return _fail("digest uri does not match the request", user)
        if params.get("userhash", "false").lower() != "false":
            return _fail("userhash not supported", user)
        algorithm = params.get("algorithm", "MD5").upper()
        if algorithm not in self._algorithms:
            return _fail("algorithm not allowed", user)
        qop = params.get("qop")
        nc = params.get("nc")
        cnonce = params.get("cnonce")
        if qop is None:
            if not self.allow_rfc2069 or algorithm.endswith("-SESS"):
                return _fail("qop missing", user)
            if nc is not None or cnonce is not None:
                return _fail("nc or cnonce without qop", user)
        elif qop != "auth":
            return _fail("qop not supported", user)
        elif nc is None or cnonce is None or not _NC.fullmatch(nc):
            return _fail("qop=auth needs nc (8 hex digits) and cnonce", user)
        opaque = params.get("opaque")
        if opaque is not None and not hmac.compare_digest(
            opaque.encode("utf-8", "surrogateescape"), self._opaque.encode()
        ):
            return _fail("wrong opaque", user)
        nonce = params["nonce"]
        age = self._nonce_age(nonce)
        if age is None:
            return _fail("nonce not issued here", user)
        expected = self._expected(algorithm, params, method)
        given = params["response"].lower().encode("utf-8", "surrogateescape")
        if expected is None or not hmac.compare_digest(given, expected.encode()):
            return _fail("wrong credentials" if expected else "unknown user", user)
        if not 0 <= age <= self.nonce_ttl:
            return _fail("stale nonce", user, stale=True)
        key = (nonce, nc.lower() if nc is not None else "")
        if key in self._seen:
            return _fail("replayed nonce count", user)
        self._remember(key)
        return AuthResult(True, user, False, "ok")

    def _ha1(self, username: str, algorithm: str) -> str | None:
        secret = self.users.get(username)
        if secret is None:
            return None
        base = algorithm.removesuffix("-SESS")
        if secret.startswith(_HA1_PREFIX):
            ha1 = secret[len(_HA1_PREFIX) :].lower()
            digits = 2 * _HASHES[base]().digest_size
            return ha1 if len(ha1) == digits and _HEX.fullmatch(ha1) else None
        return _hex(base, f"{username}:{self.realm}:{secret}")

    def _expected(self, algorithm: str, params: dict[str, str], method: str) -> str | None:
        """The response the client should have sent; None for an unknown user."""
        username = params["username"]
        ha1 = self._ha1(username, algorithm)
        known = ha1 is not None
        if ha1 is None:  # hash anyway so that timing does not reveal which users exist
            ha1 = _hex(algorithm.removesuffix("-SESS"), f"{username}:{self.realm}:")
        response = digest_response(
            algorithm,
            ha1,
            method,
            params["uri"],
            params["nonce"],
            nc=params.get("nc"),
            cnonce=params.get("cnonce"),
            qop=params.get("qop"),
        )
        return response if known else None

    def _remember(self, key: tuple[str, str]) -> None:
        seen = self._seen
        seen[key] = None
        # Entries older than the nonce lifetime would be refused as stale anyway.
        while len(seen) > self._seen_max:
            seen.popitem(last=False)
