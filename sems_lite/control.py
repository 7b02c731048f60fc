"""The control interface: JSON-RPC 2.0, Prometheus metrics and static files over HTTP/1.1.

Rules this module keeps:
- it runs on the one Loop: non-blocking sockets, reads fed to the sans-IO `http11` parser,
  responses written as the socket accepts them (set_writer), never a blocking call except
  reading a small static file;
- every resource is bounded: connections (`max_connections`), request size (64 KiB),
  idle time (30 s without a complete request or write progress), one response in flight
  per connection (reading pauses while a response is queued, so pipelining cannot pile up);
- it refuses to listen beyond loopback without a token; with a token every request needs
  `Authorization: Bearer <token>` (compared in constant time), else 401;
- without a token (loopback only) it still resists a hostile web page in a local browser:
  the Host header must name a loopback address (DNS rebinding) and POST /rpc must be
  `application/json` (so a cross-site form or `fetch` cannot post without a CORS
  preflight, which is never granted);
- a failing RPC method is contained: logged, answered with -32603 and a generic message.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import re
import socket
import stat
from collections.abc import Callable
from typing import Any

from sems_lite.core.loop import Loop, TimerHandle
from sems_lite.http11 import HttpError, Request, RequestParser, build_response
from sems_lite.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from sems_lite.metrics import MetricsWriter

__all__ = [
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "ControlServer",
    "RpcError",
]

log = logging.getLogger("sems_lite.control")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

MAX_REQUEST = 64 * 1024
MAX_HEAD = 8 * 1024
MAX_BODY = MAX_REQUEST - MAX_HEAD
IDLE_TIMEOUT = 30.0
MAX_STATIC_FILE = 1 << 20
RECV_SIZE = 65536

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
# Static paths are plain names: no percent-encoding, no backslash, no NUL, no spaces.
_STATIC_PATH = re.compile(r"[A-Za-z0-9._\-/]+\Z")
_COMMON_HEADERS = [("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-store")]
_V4_MAPPED = bytes(10) + b"\xff\xff"
_V6_LOOPBACK = bytes(15) + b"\x01"
_CHALLENGE = ("WWW-Authenticate", 'Bearer realm="sems-lite"')
_BUSY = build_response(
    503, b"too many control connections\n", [("Content-Type", "text/plain")], keep_alive=False
)


class RpcError(Exception):
    """Raise from a method to answer with this JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.data = data


class _Conn:
    __slots__ = (
        "closing",
        "deadline",
        "outbuf",
        "parser",
        "peer_closed",
        "sock",
        "timer",
        "writing",
    )

    def __init__(self, sock: socket.socket, parser: RequestParser) -> None:
        self.sock = sock
        self.parser = parser
        self.outbuf = bytearray()
        self.closing = False  # close once the output is flushed
        self.peer_closed = False  # the client half-closed: answer what we have, then close
        self.writing = False  # registered for write (reading paused) rather than read
        self.timer: TimerHandle | None = None
        self.deadline = 0.0


Method = tuple[Callable[..., Any], inspect.Signature | None]


class ControlServer:
    """HTTP/1.1 control endpoint on the loop. Call `start()` to listen."""

    def __init__(
        self,
        loop: Loop,
        host: str = "127.0.0.1",
        port: int = 8090,
        token: str | None = None,
        static_dir: str | None = None,
        max_connections: int = 32,
    ) -> None:
        if token is not None and not token:
            raise ValueError("control token must not be empty")
        if token is None and not _is_loopback(host):
            raise ValueError(
                f"refusing to serve the control interface on {host} without a token "
                "(set one, or bind to 127.0.0.1)"
            )
        self._compare: Callable[[bytes, bytes], bool] | None = None
        if token is not None:
            import hmac  # only token mode pays for hashlib

            self._compare = hmac.compare_digest
        self.loop = loop
        self.host = host
        self.port = port
        self.token = token
        self.static_dir = os.path.realpath(static_dir) if static_dir else None
        self.max_connections = max_connections
        self._methods: dict[str, Method] = {}
        self._metrics_sources: list[Callable[[MetricsWriter], None]] = []
        self._listener: socket.socket | None = None
        self._conns: set[_Conn] = set()

    # -- registration ----------------------------------------------------------------------
    def method(self, name: str, fn: Callable[..., Any]) -> None:
        """Register (or replace) a JSON-RPC method; params by name -> **kwargs, by
        position -> *args."""
        if not name or name.startswith("rpc."):
            raise ValueError(f"invalid JSON-RPC method name {name!r} ('rpc.' is reserved)")
        try:
            signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):  # some builtins have no signature
            signature = None
        self._methods[name] = (fn, signature)

    def metrics_source(self, fn: Callable[[MetricsWriter], None]) -> None:
        """`fn(writer)` is called on every GET /metrics to write its current values."""
        self._metrics_sources.append(fn)

    @property
    def connections(self) -> int:
        return len(self._conns)

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(16)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._listener = sock
        self.port = sock.getsockname()[1]
        self.loop.add_reader(sock, self._accept)
        log.info("control interface on http://%s:%d/", self.host, self.port)

    def close(self) -> None:
        for conn in list(self._conns):
            self._close_conn(conn)
        if self._listener is not None:
            self.loop.remove(self._listener)
            self._listener.close()
            self._listener = None

    # -- connections -----------------------------------------------------------------------
    def _accept(self) -> None:
        assert self._listener is not None
        for _ in range(16):  # bounded batch per wake-up
            try:
                sock, _addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("control accept failed: %s", exc)
                return
            sock.setblocking(False)
            if len(self._conns) >= self.max_connections:
                # Best effort: a fresh socket's send buffer is empty, so this never blocks.
                with contextlib.suppress(OSError):
                    sock.send(_BUSY)
                sock.close()
                continue
            conn = _Conn(sock, RequestParser(MAX_HEAD, MAX_BODY))
            self._conns.add(conn)
            self.loop.add_reader(sock, lambda c=conn: self._on_readable(c))
            self._touch(conn)

    def _touch(self, conn: _Conn) -> None:
        # Moving a deadline is cheaper than cancelling and re-pushing a timer per request.
        conn.deadline = self.loop.time() + IDLE_TIMEOUT
        if conn.timer is None:
            conn.timer = self.loop.call_at(conn.deadline, self._idle_check, conn)

    def _idle_check(self, conn: _Conn) -> None:
        conn.timer = None
        if conn not in self._conns:
            return
        if self.loop.time() < conn.deadline:
            conn.timer = self.loop.call_at(conn.deadline, self._idle_check, conn)
        else:
            log.debug("closing idle control connection")
            self._close_conn(conn)

    def _close_conn(self, conn: _Conn) -> None:
        if conn not in self._conns:
            return
        self._conns.discard(conn)
        if conn.timer is not None:
            conn.timer.cancel()
            conn.timer = None
        self.loop.remove(conn.sock)
        conn.sock.close()

    def _on_readable(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close_conn(conn)
            return
        if data:
            conn.parser.feed(data)
        else:
            conn.peer_closed = True
        self._serve(conn)

    def _serve(self, conn: _Conn) -> None:
        """Answer complete requests one at a time, writing each before parsing the next."""
        while conn in self._conns:
            if conn.outbuf:
                self._send(conn)
                if conn.outbuf:
                    self._want_write(conn, True)
                    return
                continue
            if conn.closing:
                self._close_conn(conn)
                return
            try:
                request = conn.parser.next_request()
            except HttpError as exc:
                body = f"{exc.detail}\n".encode()
                headers = [("Content-Type", "text/plain; charset=utf-8")]
                conn.outbuf += build_response(exc.status, body, headers, keep_alive=False)
                conn.closing = True
                continue
            if request is None:
                if conn.peer_closed:
                    self._close_conn(conn)
                else:
                    self._want_write(conn, False)
                return
            self._touch(conn)
            conn.outbuf += self._respond(request)
            conn.closing = not request.keep_alive

    def _send(self, conn: _Conn) -> None:
        while conn.outbuf:
            try:
                sent = conn.sock.send(conn.outbuf)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._close_conn(conn)
                return
            del conn.outbuf[:sent]
            self._touch(conn)

    def _want_write(self, conn: _Conn, writing: bool) -> None:
        # Exactly one interest at a time: reads pause while a response is being written.
        if conn.writing == writing:
            return
        conn.writing = writing
        self.loop.remove(conn.sock)
        if writing:
            self.loop.set_writer(conn.sock, lambda: self._serve(conn))
        else:
            self.loop.add_reader(conn.sock, lambda: self._on_readable(conn))

    # -- HTTP ------------------------------------------------------------------------------
    def _respond(self, request: Request) -> bytes:
        status, body, headers = self._route(request)
        return build_response(
            status,
            body,
            [*headers, *_COMMON_HEADERS],
            keep_alive=request.keep_alive,
            head_only=request.method == "HEAD",
        )

    def _route(self, request: Request) -> tuple[int, bytes, list[tuple[str, str]]]:
        if self.token is not None:
            if not self._authorized(request):
                return _text(401, "unauthorized", [_CHALLENGE])
        elif not _loopback_host(request.header("host")):
            return _text(403, "forbidden host")
        path = request.path
        if path == "/rpc":
            if request.method != "POST":
                return _text(405, "use POST", [("Allow", "POST")])
            media_type = (request.header("content-type") or "").partition(";")[0].strip()
            if media_type.lower() != "application/json":
                return _text(415, "Content-Type must be application/json")
            answer = self.handle_rpc(request.body)
            if answer is None:
                return 204, b"", []
            return 200, answer, [("Content-Type", "application/json")]
        if request.method not in ("GET", "HEAD"):
            return _text(405, "method not allowed", [("Allow", "GET, HEAD")])
        if path == "/metrics":
            try:
                text = self.render_metrics()
            except Exception:
                log.exception("metrics source failed")
                return _text(500, "metrics unavailable")
            return 200, text.encode(), [("Content-Type", METRICS_CONTENT_TYPE)]
        return self._static(path)

    def _authorized(self, request: Request) -> bool:
        assert self.token is not None and self._compare is not None
        scheme, _, credentials = (request.header("authorization") or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        # compare_digest keeps the comparison time independent of where they differ.
        return self._compare(credentials.strip().encode(), self.token.encode())

    def _static(self, path: str) -> tuple[int, bytes, list[tuple[str, str]]]:
        if self.static_dir is None or not _STATIC_PATH.match(path):
            return _text(404, "not found")
        relative = path[1:]
        if relative == "" or relative.endswith("/"):
            relative += "index.html"
        # Every segment must be a plain name: no '', '.', '..' or hidden files.
        if any(not part or part.startswith(".") for part in relative.split("/")):
            return _text(404, "not found")
        content_type = CONTENT_TYPES.get(os.path.splitext(relative)[1].lower())
        full = os.path.realpath(os.path.join(self.static_dir, relative))
        # realpath resolves symlinks: a link pointing out of static_dir lands outside.
        if content_type is None or not full.startswith(self.static_dir + os.sep):
            return _text(404, "not found")
        try:
            # O_NONBLOCK: opening a FIFO planted in static_dir must not stall the loop.
            fd = os.open(full, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return _text(404, "not found")
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_STATIC_FILE:
                return _text(404, "not found")
            data = f.read(MAX_STATIC_FILE)
        return 200, data, [("Content-Type", content_type)]

    def render_metrics(self) -> str:
        writer = MetricsWriter()
        for source in self._metrics_sources:
            source(writer)
        return writer.text()

    # -- JSON-RPC 2.0 ----------------------------------------------------------------------
    def handle_rpc(self, body: bytes) -> bytes | None:
        """Answer one JSON-RPC message (single or batch); None when nothing is to be sent."""
        try:
            message = json.loads(body)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return _dump(_error(None, PARSE_ERROR, "Parse error")).encode()
        if isinstance(message, list):
            if not message:
                return _dump(_error(None, INVALID_REQUEST, "Invalid Request")).encode()
            answers = [a for a in map(self._call, message) if a is not None]
            return ("[" + ",".join(answers) + "]").encode() if answers else None
        answer = self._call(message)
        return answer.encode() if answer is not None else None

    def _call(self, message: Any) -> str | None:
        if not isinstance(message, dict):
            return _dump(_error(None, INVALID_REQUEST, "Invalid Request"))
        is_request = "id" in message
        rid = message.get("id")
        if is_request and not _valid_id(rid):
            return _dump(_error(None, INVALID_REQUEST, "Invalid Request"))
        params = message.get("params", [])
        if (
            message.get("jsonrpc") != "2.0"
            or not isinstance(message.get("method"), str)
            or not isinstance(params, list | dict)
        ):
            return _dump(_error(rid, INVALID_REQUEST, "Invalid Request"))
        name = message["method"]
        outcome = self._invoke(name, params)
        if not is_request:
            return None  # a notification is never answered, not even with an error
        reply = {"jsonrpc": "2.0", **outcome, "id": rid}
        try:
            return _dump(reply)
        except (TypeError, ValueError):
            log.exception("reply of %s is not JSON-serializable", name)
            return _dump(_error(rid, INTERNAL_ERROR, "Internal error"))

    def _invoke(self, name: str, params: list[Any] | dict[str, Any]) -> dict[str, Any]:
        entry = self._methods.get(name)
        if entry is None:
            return _error(None, METHOD_NOT_FOUND, "Method not found")
        fn, signature = entry
        args: list[Any] = params if isinstance(params, list) else []
        kwargs: dict[str, Any] = params if isinstance(params, dict) else {}
        if signature is not None:
            try:
                signature.bind(*args, **kwargs)
            except TypeError as exc:
                return _error(None, INVALID_PARAMS, "Invalid params", str(exc))
        try:
            return {"result": fn(*args, **kwargs)}
        except RpcError as exc:
            return _error(None, exc.code, exc.message, exc.data)
        except Exception:
            log.exception("control method %s failed", name)
            return _error(None, INTERNAL_ERROR, "Internal error")


def _error(rid: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "error": error, "id": rid}


def _dump(obj: Any) -> str:
    # allow_nan=False: NaN/Infinity are not JSON and would break strict clients.
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def _valid_id(rid: Any) -> bool:
    return rid is None or (isinstance(rid, str | int | float) and not isinstance(rid, bool))


def _text(
    status: int, text: str, headers: list[tuple[str, str]] | None = None
) -> tuple[int, bytes, list[tuple[str, str]]]:
    plain = [("Content-Type", "text/plain; charset=utf-8")]
    return status, (text + "\n").encode(), plain + (headers or [])


def _is_loopback(host: str) -> bool:
    # inet_pton instead of ipaddress: one import less on a router, same answer here.
    if host == "localhost":
        return True
    try:
        return socket.inet_pton(socket.AF_INET, host)[0] == 127
    except OSError:
        pass
    try:
        packed = socket.inet_pton(socket.AF_INET6, host)
    except OSError:
        return False
    if packed[:12] == _V4_MAPPED:
        return packed[12] == 127
    return packed == _V6_LOOPBACK


def _loopback_host(value: str | None) -> bool:
    """Host header check for the token-less (loopback) mode; HTTP/1.0 may omit it."""
    if value is None:
        return True
    if value.startswith("["):
        host = value[1:].partition("]")[0]
    else:
        host = value.rpartition(":")[0] if ":" in value else value
    return _is_loopback(host.lower())
