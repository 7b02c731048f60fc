"""UAS checks on a request that parsed (RFC 3261 §8.2.1-§8.2.3, RFC 4475 §3.1.2, §3.3).

Rules kept here:
- Pure functions: a request in, `None` (go on) or a `Rejection` (send this response) out.
- Checks run in a fixed order, so the same request always gets the same answer:
  400 (missing, malformed or repeated headers, CSeq mismatch, headers in the
  Request-URI) -> 416 (URI scheme) -> 420 (Require) -> 415 (body type or encoding)
  -> 406 (Accept).
- Whether the method is supported (405/501) is the server's decision, not made here.
- ACK is never rejected: there is no response to an ACK.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field

from sems_lite.sip.address import parse_address
from sems_lite.sip.errors import SipParseError
from sems_lite.sip.message import Request
from sems_lite.sip.uri import SipUri

__all__ = ["MANDATORY", "SINGLE_VALUE", "Rejection", "check_request"]

MANDATORY = ("To", "From", "Call-ID", "CSeq", "Via")  # Max-Forwards missing is tolerated
SINGLE_VALUE = (
    "To",
    "From",
    "Call-ID",
    "CSeq",
    "Content-Length",
    "Max-Forwards",
    "Content-Type",
)
SDP = "application/sdp"
_VIEWS = (
    "to_addr",
    "from_addr",
    "call_id",
    "cseq",
    "vias",
    "max_forwards",
    "content_type",
    "contacts",
)
_Q_ZERO = re.compile(r"0(?:\.0{0,3})?")
# A MIME part's Content-Type inside a multipart body (RFC 2046 §5.1.1).
_PART_TYPE = re.compile(rb"(?im)^content-type[ \t]*:[ \t]*([^;\r\n]+)")
_BOUNDARY = re.compile(r'(?i);\s*boundary\s*=\s*("[^"]+"|[^;\s]+)')


@dataclass(slots=True)
class Rejection:
    """The response a UAS should send instead of processing the request."""

    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)


def check_request(
    req: Request,
    *,
    supported: Collection[str] = (),
    accept: Collection[str] = (SDP,),
    schemes: Collection[str] = ("sip", "sips"),
) -> Rejection | None:
    """Return the Rejection a UAS owes this request, or None when it may be processed."""
    if req.method == "ACK":
        return None
    return (
        _check_syntax(req)
        or _check_scheme(req, schemes)
        or _check_require(req, supported)
        or _check_body(req, accept)
        or _check_accept(req)
    )


def _bad(reason: str) -> Rejection:
    return Rejection(400, reason)


def _check_syntax(req: Request) -> Rejection | None:
    headers = req.headers
    missing = [name for name in MANDATORY if name not in headers]
    if missing:
        return _bad(f"Missing {', '.join(missing)} header{'s' if len(missing) > 1 else ''}")
    try:
        # Each typed view raises SipParseError with a reason naming the header.
        for view in _VIEWS:
            getattr(req, view)
        cseq = req.cseq
        if not req.vias:
            return _bad("Missing Via header")
        _check_route(req)
        _check_content_length(req)
    except SipParseError as exc:
        return _bad(exc.reason)
    for name in SINGLE_VALUE:
        if headers.count(name) > 1:
            return _bad(f"Multiple {name} headers")
    if cseq.method != req.method:
        return _bad("CSeq method does not match the request method")
    if isinstance(req.uri, SipUri) and req.uri.headers:
        return _bad("Headers not allowed in the Request-URI")  # RFC 3261 §19.1.5, escruri
    return None


def _check_route(req: Request) -> None:
    for name in ("Record-Route", "Route"):
        for value in req.headers.get_all(name):
            try:
                parse_address(value)
            except SipParseError as exc:
                raise SipParseError(f"Malformed {name} header: {exc.reason}") from None


def _check_content_length(req: Request) -> None:
    for value in req.headers.get_all("Content-Length"):
        if not (value.isascii() and value.isdigit()):
            raise SipParseError("Malformed Content-Length header")


def _check_scheme(req: Request, schemes: Collection[str]) -> Rejection | None:
    if req.uri.scheme.lower() not in {s.lower() for s in schemes}:
        return Rejection(416, "Unsupported URI Scheme")
    return None


def _check_require(req: Request, supported: Collection[str]) -> Rejection | None:
    if req.method == "CANCEL":  # RFC 3261 §8.2.2.3: Require is ignored in CANCEL
        return None
    known = {tag.lower() for tag in supported}
    unsupported: list[str] = []
    for name in ("Require", "Proxy-Require"):
        for tag in req.headers.get_all(name):
            if tag.lower() not in known and tag not in unsupported:
                unsupported.append(tag)
    if unsupported:
        return Rejection(420, "Bad Extension", [("Unsupported", ", ".join(unsupported))])
    return None


def _check_body(req: Request, accept: Collection[str]) -> Rejection | None:
    if not req.body:
        return None
    encodings = [e.lower() for e in req.headers.get_all("Content-Encoding")]
    if any(e != "identity" for e in encodings):
        return Rejection(415, "Unsupported Media Type", [("Accept-Encoding", "identity")])
    media = req.content_type
    if media is None:
        return _bad("Missing Content-Type header")  # RFC 3261 §20.15: required with a body
    accepted = {a.lower() for a in accept}
    if media in accepted:
        return None
    if media.startswith("multipart/") and _multipart_types(req) & accepted:
        return None
    return Rejection(415, "Unsupported Media Type", [("Accept", ", ".join(accept))])


def _multipart_types(req: Request) -> set[str]:
    """Media types of the parts of a multipart body (nested multiparts not entered)."""
    match = _BOUNDARY.search(req.headers.get("Content-Type") or "")
    if match is None:
        return set()
    delimiter = b"--" + match.group(1).strip('"').encode("utf-8", "surrogateescape")
    types = set()
    for part in req.body.split(delimiter)[1:]:
        head = part.split(b"\r\n\r\n", 1)[0]
        found = _PART_TYPE.search(head)
        if found:
            types.add(found.group(1).strip().decode("latin-1").lower())
    return types


def _check_accept(req: Request) -> Rejection | None:
    if req.method not in ("INVITE", "OPTIONS"):
        return None
    offered = req.headers.get_all("Accept")
    if not offered:  # absent, or present but empty: nothing to object to
        return None
    for item in offered:
        media, _, params = item.partition(";")
        media = media.strip(" \t").lower()
        if media in (SDP, "application/*", "*/*") and not _q_is_zero(params):
            return None
    return Rejection(406, "Not Acceptable")


def _q_is_zero(params: str) -> bool:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip(" \t").lower() == "q":
            return _Q_ZERO.fullmatch(value.strip(" \t")) is not None
    return False
