"""SIP requests and responses: parse from a datagram, frame from a stream, serialize.

Rules kept here (RFC 3261 §7, §18.3, RFC 4475):
- Sans-IO: bytes in, objects out; no sockets, no clock.
- Any input either parses or raises `SipParseError`; nothing else escapes.
- Header lines are unfolded, names canonicalised, values kept raw; typed views
  (`cseq`, `vias`, `from_addr`...) parse lazily and raise `SipParseError`.
- Requests are only checked for framing here: the UAS answers their semantic errors
  with a precise 400 via `validate.check_request`. Responses have nobody to complain
  to, so a response whose Via, From, To, Call-ID or CSeq is broken is refused here.
- Bytes that are not UTF-8 survive as surrogate escapes and serialize back unchanged.
- `serialize` always writes Content-Length = len(body), replacing any given value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sems_lite.sip.address import Address, parse_address
from sems_lite.sip.cseq import CSeq, parse_cseq
from sems_lite.sip.errors import SipParseError
from sems_lite.sip.headers import TOKEN, Headers, canonical_name
from sems_lite.sip.uri import AbsoluteUri, SipUri, parse_uri
from sems_lite.sip.via import Via, parse_via

__all__ = ["Request", "Response", "frame_stream", "parse_message"]

_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_VERSION = re.compile(r"SIP/([0-9]{1,9})\.([0-9]{1,9})", re.I)
_STATUS = re.compile(r"[1-6][0-9][0-9]")
_DIGITS = re.compile(r"[0-9]{1,10}")
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+/[A-Za-z0-9\-.!%*_+`'~]+")
# TCP framing only needs Content-Length (folded continuation lines included).
_STREAM_CL = re.compile(rb"(?im)^(?:content-length|l)[ \t]*:((?:[^\r\n]|\r?\n[ \t])*)")
_STREAM_DIGITS = re.compile(rb"[0-9]{1,10}")
_ENCODING = "utf-8"
_ERRORS = "surrogateescape"


class _Message:
    """Typed views on the headers, shared by Request and Response."""

    __slots__ = ()
    headers: Headers

    def _required(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None:
            raise SipParseError(f"Missing {name} header")
        return value

    @property
    def call_id(self) -> str:
        value = self._required("Call-ID")
        if not value or " " in value or "\t" in value:
            raise SipParseError("Malformed Call-ID header")
        return value

    @property
    def cseq(self) -> CSeq:
        return parse_cseq(self._required("CSeq"))

    @property
    def vias(self) -> list[Via]:
        try:
            return [parse_via(value) for value in self.headers.get_all("Via")]
        except SipParseError as exc:
            raise SipParseError(f"Malformed Via header: {exc.reason}") from None

    @property
    def top_via(self) -> Via:
        """The first Via; raises SipParseError when there is none."""
        try:
            return parse_via(self._required("Via"))
        except SipParseError as exc:
            raise SipParseError(f"Malformed Via header: {exc.reason}") from None

    def _address(self, name: str) -> Address:
        try:
            return parse_address(self._required(name))
        except SipParseError as exc:
            raise SipParseError(f"Malformed {name} header: {exc.reason}") from None

    @property
    def from_addr(self) -> Address:
        return self._address("From")

    @property
    def to_addr(self) -> Address:
        return self._address("To")

    @property
    def contacts(self) -> list[Address]:
        """Contact addresses in order; empty for 'Contact: *' (see contact_wildcard)."""
        values = self.headers.get_all("Contact")
        try:
            return [parse_address(value) for value in values if value != "*"]
        except SipParseError as exc:
            raise SipParseError(f"Malformed Contact header: {exc.reason}") from None

    @property
    def contact_wildcard(self) -> bool:
        return "*" in self.headers.get_all("Contact")

    @property
    def content_type(self) -> str | None:
        value = self.headers.get("Content-Type")
        if value is None:
            return None
        media = value.partition(";")[0].strip(" \t")
        if not _MEDIA_TYPE.fullmatch(media):
            raise SipParseError("Malformed Content-Type header")
        return media.lower()

    @property
    def max_forwards(self) -> int | None:
        value = self.headers.get("Max-Forwards")
        if value is None:
            return None
        if not _DIGITS.fullmatch(value) or int(value) > 255:
            raise SipParseError("Malformed Max-Forwards header")
        return int(value)


def _serialize(start_line: str, headers: Headers, body: bytes) -> bytes:
    lines = [start_line]
    length_written = False
    for name, value in headers._items:
        if name == "Content-Length":
            if length_written:
                continue
            value = str(len(body))
            length_written = True
        lines.append(f"{name}: {value}")
    if not length_written:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode(_ENCODING, _ERRORS) + body


@dataclass(slots=True)
class Request(_Message):
    method: str
    uri: SipUri | AbsoluteUri
    headers: Headers
    body: bytes = b""
    version: str = "SIP/2.0"

    def serialize(self) -> bytes:
        return _serialize(f"{self.method} {self.uri} {self.version}", self.headers, self.body)


@dataclass(slots=True)
class Response(_Message):
    status: int
    reason: str
    headers: Headers
    body: bytes = b""
    version: str = "SIP/2.0"

    def serialize(self) -> bytes:
        return _serialize(f"{self.version} {self.status} {self.reason}", self.headers, self.body)


def parse_message(data: bytes) -> Request | Response:
    """Parse one SIP message from a datagram (trailing octets past Content-Length ignored)."""
    data = bytes(data).lstrip(b"\r\n")  # RFC 3261 §7.5: CRLFs before the start line
    if not data.strip():
        raise SipParseError("Empty message")
    blank = _BLANK_LINE.search(data)
    if blank is None:  # tolerate a datagram that stops right after the last header
        head, rest = data.rstrip(b"\r\n"), b""
    else:
        head, rest = data[: blank.start()], data[blank.end() :]
    lines = head.decode(_ENCODING, _ERRORS).split("\n")
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    start = lines[0]
    if start[:4].upper() == "SIP/":
        return _parse_response(start, lines, rest)
    return _parse_request(start, lines, rest)


def _check_version(text: str) -> SipParseError | None:
    match = _VERSION.fullmatch(text)
    if match is None:
        return SipParseError("Malformed SIP-Version")
    if (int(match.group(1)), int(match.group(2))) != (2, 0):
        return SipParseError("Version Not Supported", 505)
    return None


def _parse_headers(lines: list[str]) -> tuple[list[tuple[str, str]], SipParseError | None]:
    """Unfold and split header lines; goes on past bad lines for the sake of `partial`."""
    items: list[tuple[str, str]] = []
    error: SipParseError | None = None
    for line in lines:
        if "\r" in line:
            error = error or SipParseError("Bare CR in header")
            continue
        if line[:1] in (" ", "\t"):
            if not items:
                error = error or SipParseError("Continuation line without a header")
                continue
            more = line.strip(" \t")
            if more:
                name, value = items[-1]
                items[-1] = (name, f"{value} {more}" if value else more)
            continue
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or not TOKEN.fullmatch(name):
            error = error or SipParseError("Malformed header line")
            continue
        items.append((canonical_name(name), value.strip(" \t")))
    return items, error


def _content_length(headers: Headers) -> int | None:
    values = [value for name, value in headers._items if name == "Content-Length"]
    if not values:
        return None
    if len(values) > 1:  # RFC 4475 mcl01: framing would be a guess
        raise SipParseError("Multiple Content-Length headers")
    if not _DIGITS.fullmatch(values[0]):
        raise SipParseError("Malformed Content-Length header")
    return int(values[0])


def _finish_body(msg: Request | Response, rest: bytes) -> None:
    length = _content_length(msg.headers)
    if length is None:
        msg.body = rest  # UDP without Content-Length: the rest of the datagram
    elif length > len(rest):
        raise SipParseError("Content-Length larger than message")
    else:
        msg.body = rest[:length]


def _parse_request(start: str, lines: list[str], rest: bytes) -> Request:
    parts = start.split(" ")
    words = [part for part in parts if part]
    if len(words) < 3 or not TOKEN.fullmatch(words[0]) or "\r" in start:
        raise SipParseError("Malformed Request-Line")
    method, version = words[0], words[-1]
    uri_text = " ".join(words[1:-1])
    error = None
    if len(parts) != 3:  # exactly one SP between the three elements (RFC 4475 lwsstart)
        reason = "Extra whitespace in Request-Line" if "" in parts else "Whitespace in Request-URI"
        error = SipParseError(reason)
    error = error or _check_version(version)
    uri: SipUri | AbsoluteUri
    try:
        uri = parse_uri(uri_text)
    except SipParseError as exc:
        # Keep the raw text so a 400 can still be built from `partial`.
        uri = AbsoluteUri("", uri_text)
        if error is None:
            if uri_text.startswith("<"):
                error = SipParseError("Request-URI must not be enclosed in <>")
            else:
                error = SipParseError(f"Malformed Request-URI: {exc.reason}")
    items, header_error = _parse_headers(lines[1:])
    req = Request(method, uri, Headers._trusted(items), b"", version)
    error = error or header_error
    if error is None:
        try:
            _finish_body(req, rest)
        except SipParseError as exc:
            error = exc
    if error is not None:
        error.partial = req
        raise error
    return req


def _check_response(resp: Response) -> None:
    # The transaction and dialog layers key on these; a response without them is noise.
    for view in ("call_id", "cseq", "from_addr", "to_addr"):
        getattr(resp, view)
    if not resp.vias:
        raise SipParseError("Missing Via header")


def _parse_response(start: str, lines: list[str], rest: bytes) -> Response:
    parts = start.split(" ", 2)
    if len(parts) < 2 or not _STATUS.fullmatch(parts[1]) or "\r" in start:
        raise SipParseError("Malformed Status-Line")
    version, status = parts[0], int(parts[1])
    reason = parts[2] if len(parts) == 3 else ""
    items, error = _parse_headers(lines[1:])
    resp = Response(status, reason, Headers._trusted(items), b"", version)
    error = _check_version(version) or error
    if error is None:
        try:
            _finish_body(resp, rest)
            _check_response(resp)
        except SipParseError as exc:
            error = exc
    if error is not None:
        error.partial = resp
        raise error
    return resp


def frame_stream(buffer: bytearray, max_size: int = 65536) -> bytes | None:
    """Cut one complete message off the front of a stream buffer (TCP/TLS).

    Leading CRLF keep-alives are consumed. Returns None while the message is incomplete.
    Content-Length is mandatory on streams; a missing one counts as 0 (RFC 3261 §18.3).
    Both the header block and the body are limited to `max_size` bytes.
    """
    skip = len(buffer) - len(buffer.lstrip(b"\r\n"))
    if skip:
        del buffer[:skip]
    blank = _BLANK_LINE.search(buffer)
    if blank is None:
        if len(buffer) > max_size:
            raise SipParseError("Header block too large")
        return None
    if blank.start() > max_size:
        raise SipParseError("Header block too large")
    values = [value.strip() for value in _STREAM_CL.findall(buffer, 0, blank.start())]
    if len(values) > 1:
        raise SipParseError("Multiple Content-Length headers")
    length = 0
    if values:
        if not _STREAM_DIGITS.fullmatch(values[0]):
            raise SipParseError("Malformed Content-Length header")
        length = int(values[0])
        if length > max_size:
            raise SipParseError("Body too large")
    total = blank.end() + length
    if len(buffer) < total:
        return None
    message = bytes(buffer[:total])
    del buffer[:total]
    return message
