"""A small sans-IO HTTP/1.1 engine for the control interface: bytes in, requests out.

Rules this module keeps (RFC 9110/9112, the subset a local control port needs):
- no sockets and no clock: `RequestParser.feed()` takes bytes, `next_request()` returns one
  complete `Request` or None; pipelined requests come out one by one, in order;
- lines end in CRLF; a bare CR or LF inside the head, obs-fold, whitespace before the colon,
  or a malformed request line is a 400; only HTTP/1.x is spoken (else 505);
- bodies are framed by Content-Length only: Transfer-Encoding chunked is refused with 411
  (send a length), any other transfer coding with 501; conflicting lengths are a 400;
- limits are checked as soon as they can be: a head past `max_head` is a 431 (414 while the
  request line is still unterminated), too many header fields a 431, a body past
  `max_body` a 413 before the body arrives;
- after an error the parser stays failed: the caller answers and closes the connection.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "REASONS",
    "HttpError",
    "Request",
    "RequestParser",
    "Response",
    "build_response",
    "parse_response",
]

REASONS: dict[int, str] = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Content Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_TARGET = re.compile(rb"[\x21-\x7e]+\Z")  # visible ASCII, no spaces or controls
_VERSION = re.compile(rb"HTTP/(\d)\.(\d)\Z")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # controls except HTAB
_DIGITS = re.compile(r"\d{1,18}\Z")


class HttpError(Exception):
    """A request that cannot be served; `status` is the response code to send."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status} {detail}")
        self.status = status
        self.detail = detail


class Request:
    """One parsed request. Header names are lower-case; values are latin-1 decoded."""

    __slots__ = ("body", "headers", "keep_alive", "method", "target", "version")

    def __init__(
        self,
        method: str,
        target: str,
        version: tuple[int, int],
        headers: list[tuple[str, str]],
        body: bytes,
        keep_alive: bool,
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]

    def header(self, name: str) -> str | None:
        """The field value, several occurrences joined with ', ' (RFC 9110 §5.3)."""
        name = name.lower()
        values = [v for n, v in self.headers if n == name]
        return ", ".join(values) if values else None

    def __repr__(self) -> str:
        return f"Request({self.method} {self.target} body={len(self.body)}B)"


class RequestParser:
    """Incremental request parser for one connection."""

    __slots__ = ("_buf", "_error", "_pending", "_scanned", "max_body", "max_head", "max_headers")

    def __init__(self, max_head: int = 8192, max_body: int = 65536, max_headers: int = 64) -> None:
        self.max_head = max_head
        self.max_body = max_body
        self.max_headers = max_headers
        self._buf = bytearray()
        self._scanned = 0  # where the search for the end of the head resumes
        self._pending: tuple[Request, int] | None = None  # head parsed, waiting for body
        self._error: HttpError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as part of a request."""
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_request(self) -> Request | None:
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except HttpError as exc:
            self._error = exc
            raise

    def _next(self) -> Request | None:
        buf = self._buf
        if self._pending is None:
            # RFC 9112 §2.2: ignore empty lines received before the request line.
            skip = 0
            while buf.startswith(b"\r\n", skip):
                skip += 2
            if skip:
                del buf[:skip]
                self._scanned = 0
            end = buf.find(b"\r\n\r\n", max(0, self._scanned - 3))
            if end < 0:
                self._scanned = len(buf)
                if len(buf) > self.max_head:
                    if b"\r\n" not in buf:
                        raise HttpError(414, "request line too long")
                    raise HttpError(431, "request head too large")
                return None
            if end + 4 > self.max_head:
                raise HttpError(431, "request head too large")
            head = bytes(buf[:end])
            del buf[: end + 4]
            self._scanned = 0
            self._pending = self._parse_head(head)
        request, length = self._pending
        if len(buf) < length:
            return None
        request.body = bytes(buf[:length])
        del buf[:length]
        self._pending = None
        return request

    def _parse_head(self, head: bytes) -> tuple[Request, int]:
        stripped = head.replace(b"\r\n", b"")
        if b"\r" in stripped or b"\n" in stripped:
            raise HttpError(400, "bare CR or LF in request head")
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3:
            raise HttpError(400, "malformed request line")
        method, target, version = parts
        if not _TOKEN.match(method):
            raise HttpError(400, "malformed method")
        if not _TARGET.match(target):
            raise HttpError(400, "malformed request target")
        match = _VERSION.match(version)
        if match is None:
            raise HttpError(400, "malformed HTTP version")
        if match.group(1) != b"1":
            raise HttpError(505, "only HTTP/1.x is supported")
        if len(lines) - 1 > self.max_headers:
            raise HttpError(431, "too many header fields")
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not _TOKEN.match(name):  # also catches obs-fold and "name :"
                raise HttpError(400, "malformed header field")
            value = value.strip(b" \t")
            if _BAD_VALUE.search(value):
                raise HttpError(400, "control character in header value")
            headers.append((name.decode("ascii").lower(), value.decode("latin-1")))
        ver = (1, int(match.group(2)))
        request = Request(method.decode("ascii"), target.decode("ascii"), ver, headers, b"", True)
        request.keep_alive = _keep_alive(request)
        if ver >= (1, 1) and sum(1 for n, _ in headers if n == "host") != 1:
            raise HttpError(400, "HTTP/1.1 needs exactly one Host header")
        return request, self._body_length(request)

    def _body_length(self, request: Request) -> int:
        coding = request.header("transfer-encoding")
        if coding is not None:
            if "chunked" in coding.lower():
                raise HttpError(411, "chunked bodies are not accepted: send Content-Length")
            raise HttpError(501, "transfer codings are not supported")
        field = request.header("content-length")
        if field is None:
            return 0
        values = {v.strip() for v in field.split(",")}
        if len(values) != 1:
            raise HttpError(400, "conflicting Content-Length")
        value = values.pop()
        if not _DIGITS.match(value):
            raise HttpError(400, "malformed Content-Length")
        length = int(value)
        if length > self.max_body:
            raise HttpError(413, f"body larger than {self.max_body} bytes")
        return length


def _keep_alive(request: Request) -> bool:
    tokens = {t.strip().lower() for t in (request.header("connection") or "").split(",")}
    if "close" in tokens:
        return False
    return request.version >= (1, 1) or "keep-alive" in tokens


def build_response(
    status: int,
    body: bytes = b"",
    headers: Iterable[tuple[str, str]] = (),
    *,
    keep_alive: bool = True,
    head_only: bool = False,
) -> bytes:
    """Serialize a response; Content-Length is always set, the body omitted for HEAD."""
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
    for name, value in headers:
        # A CR or LF here would let a caller's data split the response.
        if not _TOKEN.match(name.encode("latin-1")) or _BAD_VALUE.search(value.encode("latin-1")):
            raise ValueError(f"invalid response header {name!r}")
        lines.append(f"{name}: {value}")
    if status != 204:
        lines.append(f"Content-Length: {len(body)}")
    if not keep_alive:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only or status == 204 else head + body


class Response:
    """A parsed response (for the `ctl` client)."""

    __slots__ = ("body", "headers", "reason", "status")

    def __init__(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        name = name.lower()
        values = [v for n, v in self.headers if n == name]
        return ", ".join(values) if values else None


def parse_response(data: bytes, head_request: bool = False) -> Response:
    """Parse one whole response read until the server closed. ValueError if malformed.
    `head_request`: it answers a HEAD, so Content-Length describes a body that is absent."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        raise ValueError("incomplete response head")
    lines = data[:end].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not _VERSION.match(parts[0]) or not parts[1].isdigit():
        raise ValueError("malformed status line")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            raise ValueError("malformed header field")
        headers.append((name.strip().decode("latin-1").lower(), value.strip().decode("latin-1")))
    response = Response(
        int(parts[1]), parts[2].decode("latin-1") if len(parts) > 2 else "", headers, b""
    )
    if response.header("transfer-encoding") is not None:
        raise ValueError("transfer codings are not supported")
    body = data[end + 4 :]
    length = response.header("content-length")
    if length is not None:
        if not _DIGITS.match(length.strip()):
            raise ValueError("malformed Content-Length")
        if head_request:
            body = b""
        elif len(body) < int(length):
            raise ValueError("truncated response body")
        body = body[: int(length)]
    response.body = body
    return response
