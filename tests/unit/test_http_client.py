"""The non-blocking HTTP client: request building and response parsing without sockets,
then whole exchanges on a real Loop against a tiny socket server in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import pytest

from sems_lite.core.http_client import (
    HttpError,
    ResponseParser,
    build_request,
    http_post,
    parse_url,
)
from sems_lite.core.loop import Loop

# --- sans-IO ----------------------------------------------------------------------------


def test_parse_url():
    assert parse_url("http://127.0.0.1:8080/RPC2") == ("127.0.0.1", 8080, "/RPC2")
    assert parse_url("http://localhost/") == ("127.0.0.1", 80, "/")
    assert parse_url("http://10.0.0.1") == ("10.0.0.1", 80, "/")
    assert parse_url("HTTP://[::1]:99/a/b?c=1") == ("::1", 99, "/a/b?c=1")
    for bad in (
        "https://127.0.0.1/",
        "127.0.0.1:80/",
        "http://auth.example.com/",  # a name would need a blocking DNS lookup
        "http://127.0.0.1:0/",
        "http://127.0.0.1:70000/",
        "http://127.0.0.1:x/",
        "http://user:pw@127.0.0.1/",
        "http://[::1/",
    ):
        with pytest.raises(HttpError):
            parse_url(bad)


def test_build_request():
    data = build_request(
        "POST", "127.0.0.1", 8000, "/RPC2", b"<x/>", [("Content-Type", "text/xml")]
    )
    head, body = data.split(b"\r\n\r\n", 1)
    assert body == b"<x/>"
    assert head.split(b"\r\n") == [
        b"POST /RPC2 HTTP/1.1",
        b"Host: 127.0.0.1:8000",
        b"Content-Type: text/xml",
        b"Content-Length: 4",
        b"Connection: close",
    ]
    assert b"Host: [::1]:80\r\n" in build_request("POST", "::1", 80, "/")
    with pytest.raises(HttpError):
        build_request("POST", "127.0.0.1", 80, "/", headers=[("X", "a\r\nInjected: 1")])


def feed_bytewise(data: bytes, max_size: int = 65536) -> ResponseParser:
    p = ResponseParser(max_size)
    for i in range(len(data)):
        p.feed(data[i : i + 1])
        if p.done:
            break
    return p


def test_content_length_response_in_one_piece_and_byte_by_byte():
    raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 5\r\n\r\nhello"
    for p in (feed_bytewise(raw), ResponseParser()):
        if not p.done:
            p.feed(raw)
        assert p.done
        r = p.response
        assert (r.status, r.reason, r.body) == (200, "OK", b"hello")
        assert r.header("content-type") == "text/xml"
    p = ResponseParser()
    p.feed(raw + b"trailing garbage")  # bytes beyond Content-Length are not the body
    assert p.response.body == b"hello"


def test_chunked_response():
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    p = feed_bytewise(raw)
    assert p.done and p.response.body == b"hello world"


def test_body_until_close_and_early_close():
    p = ResponseParser()
    p.feed(b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nabc")
    assert not p.done
    p.feed(b"def")
    p.feed(b"")  # the server closed: that ends the body
    assert p.done and p.response.body == b"abcdef"
    p = ResponseParser()
    p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    with pytest.raises(HttpError, match="middle of the body"):
        p.feed(b"")
    with pytest.raises(HttpError, match="before the response head"):
        ResponseParser().feed(b"")


def test_no_body_statuses():
    p = ResponseParser()
    p.feed(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert p.done and p.response.status == 204 and p.response.body == b""


@pytest.mark.parametrize(
    "raw",
    [
        b"SIP/2.0 200 OK\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_malformed_responses(raw):
    with pytest.raises(HttpError):
        ResponseParser().feed(raw)


def test_size_bounds():
    with pytest.raises(HttpError, match="larger"):
        ResponseParser(100).feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    p = ResponseParser(100)
    p.feed(b"HTTP/1.1 200 OK\r\n\r\n")
    with pytest.raises(HttpError, match="larger"):
        p.feed(b"x" * 200)
    with pytest.raises(HttpError, match="head too long"):
        ResponseParser(10**6).feed(b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 5000)


# --- on a real loop -------------------------------------------------------------------


class OneShotServer:
    """Accepts one connection, reads the request, then does `reply(conn, request)`."""

    def __init__(self, reply: Callable[[socket.socket, bytes], None]) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.request = b""
        self.reply = reply
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/RPC2"

    def _serve(self) -> None:
        self.sock.settimeout(3)
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return  # the client went away without a request
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            while len(body) < length:
                body += conn.recv(4096)
            self.request = head + b"\r\n\r\n" + body
            self.reply(conn, self.request)

    def close(self) -> None:
        self.thread.join(5)
        self.sock.close()


def run_until(loop: Loop, done: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out waiting for the loop"
        loop.run_once(0.05)


@pytest.fixture
def loop():
    lp = Loop()
    yield lp
    lp.close()


def post(loop: Loop, url: str, body: bytes = b"<call/>", **kw) -> tuple[list, object]:
    results: list = []
    req = http_post(
        loop,
        url,
        body,
        [("Content-Type", "text/xml")],
        callback=lambda r, e: results.append((r, e)),
        **kw,
    )
    return results, req


def test_post_and_content_length_answer(loop):
    server = OneShotServer(
        lambda c, _: c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 7\r\n\r\n<ok/>\r\n")
    )
    results, req = post(loop, server.url, b"<methodCall/>")
    run_until(loop, lambda: results)
    server.close()
    assert len(results) == 1
    response, error = results[0]
    assert error is None and response.status == 200 and response.body == b"<ok/>\r\n"
    assert server.request.startswith(b"POST /RPC2 HTTP/1.1\r\n")
    assert b"Content-Type: text/xml\r\n" in server.request
    assert server.request.endswith(b"\r\n\r\n<methodCall/>")
    assert not req.active


def test_chunked_answer_in_pieces_and_large_request(loop):
    def reply(conn: socket.socket, _: bytes) -> None:
        conn.sendall(b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab")
        time.sleep(0.05)
        conn.sendall(b"c\r\n0\r\n\r\n")
        time.sleep(0.2)  # keep the connection open: the last chunk ends the body

    server = OneShotServer(reply)
    body = b"x" * 300_000  # more than one send() can take at once
    results, _ = post(loop, server.url, body)
    run_until(loop, lambda: results)
    server.close()
    response, error = results[0]
    assert error is None and (response.status, response.reason, response.body) == (
        500,
        "Oops",
        b"abc",
    )
    assert server.request.endswith(body)


def test_timeout_calls_back_with_an_error(loop):
    server = OneShotServer(lambda c, _: time.sleep(1.0))  # never answers in time
    results, _ = post(loop, server.url, timeout=0.3)
    start = time.monotonic()
    run_until(loop, lambda: results)
    assert 0.25 < time.monotonic() - start < 0.9
    response, error = results[0]
    assert response is None and "timed out" in str(error)
    server.close()
    loop.run_once(0.01)
    assert len(results) == 1  # exactly once


def test_refused_connection(loop):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    results, _ = post(loop, f"http://127.0.0.1:{port}/", timeout=2)
    run_until(loop, lambda: results)
    response, error = results[0]
    assert response is None and "ECONNREFUSED" in str(error)


def test_oversized_answer_is_an_error(loop):
    server = OneShotServer(lambda c, _: c.sendall(b"HTTP/1.1 200 OK\r\n\r\n" + b"y" * 5000))
    results, _ = post(loop, server.url, max_size=1000)
    run_until(loop, lambda: results)
    server.close()
    response, error = results[0]
    assert response is None and "larger than 1000" in str(error)


def test_cancel_never_calls_back(loop):
    server = OneShotServer(lambda c, _: c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    results, req = post(loop, server.url, timeout=0.2)
    req.cancel()
    assert not req.active
    end = time.monotonic() + 0.4
    while time.monotonic() < end:
        loop.run_once(0.05)
    assert results == []
    assert loop.pending_timers() == 0
    server.close()
    assert server.request == b""  # the request may have connected, but was never sent


def test_bad_url_fails_at_once(loop):
    with pytest.raises(HttpError, match="only http"):
        http_post(loop, "https://127.0.0.1/", b"")
