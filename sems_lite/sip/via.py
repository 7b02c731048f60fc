"""One via-parm of a Via header (RFC 3261 §20.42, §18.2.1).

Rules kept here:
- `parse_via` takes a single via-parm: `Headers.get_all("Via")` already split the commas.
- Whitespace is allowed around '/', ':' and ';' (SLASH, COLON and SEMI are SWS-padded).
- The transport is upper-cased; unknown transports are kept, not refused.
- `rport` without a value (RFC 3581 request form) reads as 0 and `has_rport` is True.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sems_lite.sip.errors import SipParseError
from sems_lite.sip.headers import format_params, parse_params
from sems_lite.sip.uri import format_host, is_ipv6

__all__ = ["Via", "parse_via"]

_T = r"[A-Za-z0-9\-.!%*_+`'~]+"
_SENT_PROTOCOL = re.compile(rf"[ \t]*({_T})[ \t]*/[ \t]*({_T})[ \t]*/[ \t]*({_T})[ \t]+(.*)", re.S)
_SENT_BY = re.compile(r"(\[[^\]]*\]|[A-Za-z0-9\-_.]+)(?:[ \t]*:[ \t]*([0-9]{1,5}))?")


@dataclass(slots=True)
class Via:
    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    version: str = "2.0"
    protocol: str = "SIP"

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def has_rport(self) -> bool:
        return "rport" in self.params

    @property
    def rport(self) -> int | None:
        if "rport" not in self.params:
            return None
        value = self.params["rport"]
        return int(value) if value else 0

    @property
    def host_port(self) -> str:
        host = format_host(self.host)
        return host if self.port is None else f"{host}:{self.port}"

    def __str__(self) -> str:
        return (
            f"{self.protocol}/{self.version}/{self.transport} "
            f"{self.host_port}{format_params(self.params)}"
        )


def parse_via(text: str) -> Via:
    """Parse one via-parm such as 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport'."""
    match = _SENT_PROTOCOL.fullmatch(text)
    if match is None:
        raise SipParseError("Malformed Via sent-protocol")
    protocol, version, transport, rest = match.groups()
    sent_by, semi, param_text = rest.partition(";")
    by = _SENT_BY.fullmatch(sent_by.strip(" \t"))
    if by is None:
        raise SipParseError("Malformed Via sent-by")
    host, port_text = by.groups()
    if host[0] == "[":
        host = host[1:-1]
        if not is_ipv6(host):
            raise SipParseError("Malformed IPv6 reference in Via")
    port = None
    if port_text is not None:
        port = int(port_text)
        if port > 65535:
            raise SipParseError("Malformed Via port")
    params = parse_params(semi + param_text, "Via")
    rport = params.get("rport")
    if rport is not None and not (rport.isascii() and rport.isdigit() and int(rport) <= 65535):
        raise SipParseError("Malformed Via rport")
    return Via(transport.upper(), host, port, params, version, protocol.upper())
