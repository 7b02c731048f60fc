"""A small non-blocking HTTP/1.1 client on the loop (for XML-RPC auth servers and the like).

Rules this module keeps:
- nothing blocks: the socket is non-blocking, the loop says when it can be written and
  read, and a timer bounds the whole exchange (connect, send, receive);
- http:// only, to an IP address literal or `localhost` (resolving a name could block);
- one request per connection (`Connection: close`), so a body ends at Content-Length,
  at the last chunk, or when the server closes;
- the response is bounded (`max_size`, headers included): a bigger one is an error;
- the callback runs exactly once, with a response or an error, after the socket is
  closed; `cancel()` closes without calling back.

The request building and response parsing below are sans-IO (bytes in, objects out).
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Callable, Sequence
from typing import Any

from sems_lite.http11 import Response as HttpResponse

log = logging.getLogger("sems_lite.http_client")

MAX_RESPONSE = 64 * 1024
MAX_HEADER = 16 * 1024
RECV_CHUNK = 4096


class HttpError(Exception):
    """The exchange failed: bad URL, refused, timed out, malformed or too big."""


# --- sans-IO --------------------------------------------------------------------------


def parse_url(url: str) -> tuple[str, int, str]:
    """(host, port, path) of an http:// URL; HttpError for anything else."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != "http":
        raise HttpError(f"{url!r}: only http:// URLs are supported")
    authority, slash, path = rest.partition("/")
    path = "/" + path if slash else "/"
    if "@" in authority:
        raise HttpError(f"{url!r}: credentials in the URL are not supported")
    if authority.startswith("["):
        host, bracket, tail = authority[1:].partition("]")
        if not bracket or (tail and not tail.startswith(":")):
            raise HttpError(f"{url!r}: bad IPv6 address")
        port_text = tail[1:]
    else:
        host, _, port_text = authority.partition(":")
    if host.lower() == "localhost":
        host = "127.0.0.1"
    if not _is_ip(host):
        raise HttpError(f"{url!r}: the host must be an IP address or localhost (no DNS lookups)")
    try:
        port = int(port_text) if port_text else 80
    except ValueError:
        raise HttpError(f"{url!r}: bad port {port_text!r}") from None
    if not 0 < port < 65536:
        raise HttpError(f"{url!r}: port {port} out of range")
    return host, port, path


def _is_ip(host: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return True
        except OSError:
            continue
    return False


def build_request(
    method: str,
    host: str,
    port: int,
    path: str,
    body: bytes = b"",
    headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """The request bytes; Host, Content-Length and Connection: close are added."""
    for name, value in headers:
        if any(c in name + value for c in "\r\n") or not name or ":" in name:
            raise HttpError(f"bad header {name!r}")
    host_text = f"[{host}]" if ":" in host else host
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host_text}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1") + body


class ResponseParser:
    """Feed it the bytes as they come; `done` once the response is complete.

    `feed(b"")` means the server closed the connection. Raises HttpError for a
    malformed or oversized response.
    """

    __slots__ = ("_buf", "_chunked", "_length", "_max", "body", "done", "response")

    def __init__(self, max_size: int = MAX_RESPONSE) -> None:
        self._max = max_size
        self._buf = bytearray()
        self._length: int | None = None  # body length, once the head is parsed
        self._chunked = False
        self.response: HttpResponse | None = None
        self.body = bytearray()
        self.done = False

    def feed(self, data: bytes) -> None:
        if self.done:
            return
        if not data:
            self._closed()
            return
        self._buf += data
        if len(self._buf) + len(self.body) > self._max:
            raise HttpError(f"response larger than {self._max} bytes")
        if self.response is None and not self._parse_head():
            return
        if self._chunked:
            self._parse_chunks()
        else:
            self.body += self._buf
            self._buf.clear()
            if self._length is not None and len(self.body) >= self._length:
                del self.body[self._length :]
                self._finish()

    def _closed(self) -> None:
        if self.response is None:
            raise HttpError("connection closed before the response head")
        if self._chunked or (self._length is not None and len(self.body) < self._length):
            raise HttpError("connection closed in the middle of the body")
        self._finish()

    def _finish(self) -> None:
        assert self.response is not None
        self.response.body = bytes(self.body)
        self.done = True

    def _parse_head(self) -> bool:
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > MAX_HEADER:
                raise HttpError("response head too long")
            return False
        head = bytes(self._buf[:end]).decode("latin-1")
        del self._buf[: end + 4]
        status_line, *lines = head.split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise HttpError(f"bad status line {status_line[:80]!r}")
        status = int(parts[1])
        headers: list[tuple[str, str]] = []
        for line in lines:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise HttpError(f"bad header line {line[:80]!r}")
            headers.append((name.lower(), value.strip()))  # as http11.Response expects
        response = HttpResponse(status, parts[2] if len(parts) > 2 else "", headers, b"")
        coding = (response.header("Transfer-Encoding") or "").lower()
        if coding:
            if coding != "chunked":
                raise HttpError(f"unsupported Transfer-Encoding {coding!r}")
            self._chunked = True
        else:
            length = response.header("Content-Length")
            if length is not None:
                if not length.isdigit():
                    raise HttpError(f"bad Content-Length {length!r}")
                self._length = int(length)
                if self._length > self._max:
                    raise HttpError(f"response larger than {self._max} bytes")
        if status in (204, 304) or 100 <= status < 200:
            self._length = 0
        self.response = response
        if self._length == 0:
            self._finish()
        return not self.done

    def _parse_chunks(self) -> None:
        buf = self._buf
        while True:
            line_end = buf.find(b"\r\n")
            if line_end < 0:
                return
            size_text = bytes(buf[:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise HttpError(f"bad chunk size {size_text[:20]!r}") from None
            if size == 0:
                # The last chunk; trailers (if any) are not needed, the server closes.
                self._finish()
                return
            if len(buf) < line_end + 2 + size + 2:
                return
            start = line_end + 2
            self.body += buf[start : start + size]
            del buf[: start + size + 2]


# --- on the loop ----------------------------------------------------------------------

HttpCallback = Callable[[HttpResponse | None, HttpError | None], None]


class HttpRequest:
    """One request in flight; `cancel()` drops it without calling back."""

    __slots__ = ("_callback", "_connected", "_loop", "_out", "_parser", "_sock", "_timer", "url")

    def __init__(
        self,
        loop: Any,
        url: str,
        data: bytes,
        addr: tuple[str, int],
        timeout: float,
        max_size: int,
        callback: HttpCallback,
    ) -> None:
        self.url = url
        self._loop = loop
        self._callback: HttpCallback | None = callback
        self._out = memoryview(data)
        self._connected = False
        self._parser = ResponseParser(max_size)
        family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        self._sock: socket.socket | None = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setblocking(False)
        self._timer = loop.call_later(timeout, self._fail, f"timed out after {timeout:g} s")
        code = self._sock.connect_ex(addr)
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
            # A synchronous failure still calls back from the loop, never from inside
            # http_post: the caller's state is always set up before the callback runs.
            self._timer.cancel()
            self._timer = loop.call_later(0, self._fail, f"connect: {errno.errorcode.get(code)}")
            return
        loop.set_writer(self._sock, self._on_writable)

    @property
    def active(self) -> bool:
        return self._callback is not None

    def cancel(self) -> None:
        self._callback = None
        self._close()

    def _close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        sock, self._sock = self._sock, None
        if sock is not None:
            self._loop.remove(sock)
            sock.close()

    def _on_writable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        if not self._connected:  # the first writable event ends the connect
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._fail(f"connect: {errno.errorcode.get(err, err)}")
                return
            self._connected = True
        try:
            sent = sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(f"send: {exc}")
            return
        self._out = self._out[sent:]
        if not self._out:
            self._loop.set_writer(sock, None)
            self._loop.add_reader(sock, self._on_readable)

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            data = sock.recv(RECV_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(f"receive: {exc}")
            return
        try:
            self._parser.feed(data)
        except HttpError as exc:
            self._fail(str(exc))
            return
        if self._parser.done:
            self._deliver(self._parser.response, None)

    def _fail(self, problem: str) -> None:
        self._deliver(None, HttpError(f"{self.url}: {problem}"))

    def _deliver(self, response: HttpResponse | None, error: HttpError | None) -> None:
        callback, self._callback = self._callback, None
        self._close()
        if callback is not None:
            callback(response, error)


def http_post(
    loop: Any,
    url: str,
    body: bytes,
    headers: Sequence[tuple[str, str]] = (),
    timeout: float = 5.0,
    callback: HttpCallback | None = None,
    *,
    max_size: int = MAX_RESPONSE,
) -> HttpRequest:
    """POST `body` to `url`; `callback(response, None)` or `callback(None, error)` later.

    Raises HttpError at once for a URL or header that cannot work (a config mistake);
    everything that goes wrong on the network reaches the callback.
    """
    host, port, path = parse_url(url)
    data = build_request("POST", host, port, path, body, headers)
    return HttpRequest(loop, url, data, (host, port), timeout, max_size, callback or _ignore)


def _ignore(response: HttpResponse | None, error: HttpError | None) -> None:
    if error is not None:
        log.info("http: %s", error)
