"""The control server on a real Loop and real loopback sockets, and the `ctl` client.

The loop runs in the test thread (`run_once` steps) while non-blocking client sockets talk
to it; only the blocking `ctl` client runs in a helper thread, with a bounded timeout.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sems_lite import ctl
from sems_lite.control import ControlServer, RpcError
from sems_lite.core.loop import Loop
from sems_lite.http11 import Response, parse_response
from sems_lite.metrics import MetricsWriter

TOKEN = "s3cret-token"


# -- harness --------------------------------------------------------------------------------
class FakeTime:
    """Loop clock the test can move forward (for the idle timeout)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


@pytest.fixture
def loop(clock: FakeTime) -> Iterator[Loop]:
    lp = Loop(clock=clock)
    yield lp
    lp.close()


@pytest.fixture
def make_server(loop: Loop) -> Iterator[Callable[..., ControlServer]]:
    servers: list[ControlServer] = []

    def make(**kwargs: Any) -> ControlServer:
        server = ControlServer(loop, "127.0.0.1", 0, **kwargs)
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def pump(loop: Loop, until: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "timed out waiting for the server"
        loop.run_once(0.01)


def split_response(buf: bytearray) -> Response | None:
    """Take one complete response off the front of `buf`, if there is one."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    match = re.search(rb"\r\ncontent-length: *(\d+)", bytes(buf[:end]), re.IGNORECASE)
    total = end + 4 + (int(match.group(1)) if match else 0)
    if len(buf) < total:
        return None
    response = parse_response(bytes(buf[:total]))
    del buf[:total]
    return response


class Client:
    def __init__(self, loop: Loop, server: ControlServer) -> None:
        self.loop = loop
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.connect(("127.0.0.1", server.port))
        self.sock.setblocking(False)
        self.buf = bytearray()
        self.eof = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _read(self) -> None:
        while not self.eof:
            try:
                data = self.sock.recv(1 << 20)
            except BlockingIOError:
                return
            except ConnectionResetError:
                data = b""
            if data:
                self.buf += data
            else:
                self.eof = True

    def response(self, head_only: bool = False) -> Response:
        got: list[Response] = []

        def ready() -> bool:
            self._read()
            if head_only and b"\r\n\r\n" in self.buf:
                got.append(parse_response(bytes(self.buf), head_request=True))
                return True
            response = split_response(self.buf)
            if response is not None:
                got.append(response)
            return bool(got)

        pump(self.loop, ready)
        return got[0]

    def wait_closed(self) -> None:
        def closed() -> bool:
            self._read()
            return self.eof

        pump(self.loop, closed)

    def close(self) -> None:
        self.sock.close()


def request(
    method: str,
    target: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    host: str = "127.0.0.1",
) -> bytes:
    fields = {"Host": host, **(headers or {})}
    if body or method == "POST":
        fields["Content-Length"] = str(len(body))
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    return (head + "\r\n").encode() + body


def rpc_request(payload: Any, headers: dict[str, str] | None = None) -> bytes:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return request("POST", "/rpc", body, {"Content-Type": "application/json", **(headers or {})})


def call(loop: Loop, server: ControlServer, data: bytes) -> Response:
    client = Client(loop, server)
    try:
        client.send(data)
        return client.response()
    finally:
        client.close()


def rpc(loop: Loop, server: ControlServer, payload: Any) -> Any:
    response = call(loop, server, rpc_request(payload))
    assert response.status == 200, response.body
    assert response.header("content-type") == "application/json"
    return json.loads(response.body)


class Calls:
    """Fake methods standing in for the UA."""

    def __init__(self) -> None:
        self.calls = {"c1": {"app": "echo", "from": "sip:a@x"}, "c2": {"app": "conf"}}
        self.drained = False
        self.notified: list[str] = []

    def register(self, server: ControlServer) -> None:
        server.method("status", lambda: {"calls": len(self.calls), "draining": self.drained})
        server.method("calls.list", lambda: [{"id": k, **v} for k, v in self.calls.items()])
        server.method("calls.hangup", self.hangup)
        server.method("server.drain", self.drain)
        server.method("note", self.notified.append)

    def hangup(self, call_id: str) -> bool:
        if call_id not in self.calls:
            raise RpcError(404, "no such call", {"id": call_id})
        del self.calls[call_id]
        return True

    def drain(self) -> str:
        self.drained = True
        return "draining"


@pytest.fixture
def rpc_server(make_server: Callable[..., ControlServer]) -> tuple[ControlServer, Calls]:
    server = make_server()
    calls = Calls()
    calls.register(server)
    return server, calls


# -- construction ---------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "example.com"])
def test_non_loopback_without_token_is_refused(loop: Loop, host: str) -> None:
    with pytest.raises(ValueError, match="token"):
        ControlServer(loop, host, 0)


@pytest.mark.parametrize("host", ["127.0.0.2", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"])
def test_loopback_without_token_is_allowed(loop: Loop, host: str) -> None:
    assert ControlServer(loop, host, 0).token is None


@pytest.mark.parametrize("host", ["::ffff:10.0.0.1", "::2", "128.0.0.1"])
def test_near_loopback_addresses_need_a_token(loop: Loop, host: str) -> None:
    with pytest.raises(ValueError):
        ControlServer(loop, host, 0)


def test_non_loopback_with_token_is_allowed(loop: Loop) -> None:
    server = ControlServer(loop, "0.0.0.0", 0, token=TOKEN)
    assert server.token == TOKEN


def test_empty_token_is_refused(loop: Loop) -> None:
    with pytest.raises(ValueError):
        ControlServer(loop, "127.0.0.1", 0, token="")


def test_reserved_method_names_are_refused(loop: Loop) -> None:
    server = ControlServer(loop)
    with pytest.raises(ValueError):
        server.method("rpc.discover", lambda: None)


def test_ephemeral_port_is_reported(make_server: Callable[..., ControlServer]) -> None:
    assert make_server().port > 0


# -- JSON-RPC over HTTP ---------------------------------------------------------------------
def test_rpc_success_by_position_and_by_name(loop: Loop, rpc_server: Any) -> None:
    server, calls = rpc_server
    answer = rpc(loop, server, {"jsonrpc": "2.0", "method": "status", "id": 7})
    assert answer == {"jsonrpc": "2.0", "result": {"calls": 2, "draining": False}, "id": 7}
    answer = rpc(
        loop, server, {"jsonrpc": "2.0", "method": "calls.hangup", "params": ["c1"], "id": "a"}
    )
    assert answer["result"] is True
    answer = rpc(
        loop,
        server,
        {"jsonrpc": "2.0", "method": "calls.hangup", "params": {"call_id": "c2"}, "id": 2},
    )
    assert answer["result"] is True
    assert calls.calls == {}


def test_rpc_errors(loop: Loop, rpc_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    server, _calls = rpc_server

    def broken() -> None:
        raise RuntimeError("secret internals")

    server.method("broken", broken)

    def error_of(payload: Any) -> dict[str, Any]:
        answer = rpc(loop, server, payload)
        assert "result" not in answer
        return answer["error"] | {"id": answer["id"]}

    assert error_of(b"{not json")["code"] == -32700
    assert error_of(b"{not json")["id"] is None
    assert error_of({"jsonrpc": "2.0", "method": "nope", "id": 1}) == {
        "code": -32601,
        "message": "Method not found",
        "id": 1,
    }
    assert (
        error_of({"jsonrpc": "2.0", "method": "calls.hangup", "params": [], "id": 2})["code"]
        == -32602
    )
    assert (
        error_of({"jsonrpc": "2.0", "method": "calls.hangup", "params": {"x": 1}, "id": 3})["code"]
        == -32602
    )
    assert error_of({"jsonrpc": "2.0", "method": "calls.hangup", "params": ["zz"], "id": 4}) == {
        "code": 404,
        "message": "no such call",
        "data": {"id": "zz"},
        "id": 4,
    }
    assert error_of({"jsonrpc": "1.0", "method": "status", "id": 5})["code"] == -32600
    assert error_of({"jsonrpc": "2.0", "method": 5, "id": 6})["code"] == -32600
    assert (
        error_of({"jsonrpc": "2.0", "method": "status", "params": "x", "id": 8})["code"] == -32600
    )
    assert error_of({"jsonrpc": "2.0", "method": "status", "id": [1]}) == {
        "code": -32600,
        "message": "Invalid Request",
        "id": None,
    }
    assert error_of([]) == {"code": -32600, "message": "Invalid Request", "id": None}
    with caplog.at_level(logging.ERROR, logger="sems_lite.control"):
        internal = error_of({"jsonrpc": "2.0", "method": "broken", "id": 9})
    assert internal == {"code": -32603, "message": "Internal error", "id": 9}
    assert "secret internals" in caplog.text  # logged for the operator, not sent out


def test_rpc_batch(loop: Loop, rpc_server: Any) -> None:
    server, calls = rpc_server
    answer = rpc(
        loop,
        server,
        [
            {"jsonrpc": "2.0", "method": "status", "id": 1},
            {"jsonrpc": "2.0", "method": "note", "params": ["hello"]},  # notification
            {"jsonrpc": "2.0", "method": "nope", "id": 2},
            1,
            {"jsonrpc": "2.0", "method": "calls.list", "id": 3},
        ],
    )
    assert [a["id"] for a in answer] == [1, 2, None, 3]
    assert answer[0]["result"]["calls"] == 2
    assert answer[1]["error"]["code"] == -32601
    assert answer[2]["error"]["code"] == -32600
    assert [c["id"] for c in answer[3]["result"]] == ["c1", "c2"]
    assert calls.notified == ["hello"]


def test_notifications_get_no_response_body(loop: Loop, rpc_server: Any) -> None:
    server, calls = rpc_server
    response = call(
        loop, server, rpc_request({"jsonrpc": "2.0", "method": "note", "params": ["a"]})
    )
    assert (response.status, response.body) == (204, b"")
    batch = [
        {"jsonrpc": "2.0", "method": "note", "params": ["b"]},
        {"jsonrpc": "2.0", "method": "nope"},  # an error in a notification is not answered
    ]
    response = call(loop, server, rpc_request(batch))
    assert (response.status, response.body) == (204, b"")
    assert calls.notified == ["a", "b"]


def test_unserializable_result_is_internal_error(loop: Loop, rpc_server: Any) -> None:
    server, _calls = rpc_server
    server.method("weird", lambda: {"x": object()})
    server.method("nan", lambda: float("nan"))
    for name in ("weird", "nan"):
        answer = rpc(loop, server, {"jsonrpc": "2.0", "method": name, "id": 1})
        assert answer["error"]["code"] == -32603


def test_deeply_nested_json_is_a_parse_error(rpc_server: Any) -> None:
    server, _calls = rpc_server
    answer = json.loads(server.handle_rpc(b"[" * 50000) or b"")
    assert answer["error"]["code"] == -32700


def test_rpc_needs_post_and_json(loop: Loop, rpc_server: Any) -> None:
    server, _calls = rpc_server
    response = call(loop, server, request("GET", "/rpc"))
    assert response.status == 405
    assert response.header("allow") == "POST"
    body = json.dumps({"jsonrpc": "2.0", "method": "status", "id": 1}).encode()
    response = call(loop, server, request("POST", "/rpc", body, {"Content-Type": "text/plain"}))
    assert response.status == 415


# -- HTTP behaviour -------------------------------------------------------------------------
def test_keep_alive_and_pipelining(loop: Loop, rpc_server: Any) -> None:
    server, _calls = rpc_server
    client = Client(loop, server)
    client.send(rpc_request({"jsonrpc": "2.0", "method": "status", "id": 1}))
    assert json.loads(client.response().body)["id"] == 1
    # Same connection, three pipelined requests in one write: three answers in order.
    client.send(
        b"".join(rpc_request({"jsonrpc": "2.0", "method": "status", "id": i}) for i in (2, 3, 4))
    )
    assert [json.loads(client.response().body)["id"] for _ in range(3)] == [2, 3, 4]
    client.send(request("GET", "/nowhere", headers={"Connection": "close"}))
    assert client.response().status == 404
    client.wait_closed()
    client.close()
    pump(loop, lambda: server.connections == 0)


def test_bad_request_gets_400_and_close(loop: Loop, rpc_server: Any) -> None:
    server, _calls = rpc_server
    client = Client(loop, server)
    client.send(b"NOT HTTP AT ALL\r\n\r\n")
    response = client.response()
    assert response.status == 400
    assert response.header("connection") == "close"
    client.wait_closed()
    client.close()


def test_oversized_body_gets_413(loop: Loop, rpc_server: Any) -> None:
    server, _calls = rpc_server
    client = Client(loop, server)
    client.send(b"POST /rpc HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 70000\r\n\r\n")
    assert client.response().status == 413
    client.wait_closed()
    client.close()


def test_oversized_head_gets_431(loop: Loop, rpc_server: Any) -> None:
    server, _calls = rpc_server
    client = Client(loop, server)
    client.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 10000 + b"\r\n\r\n")
    assert client.response().status == 431
    client.close()


def test_chunked_request_is_refused(loop: Loop, rpc_server: Any) -> None:
    server, _calls = rpc_server
    data = request(
        "POST", "/rpc", headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"}
    )
    assert call(loop, server, data + b"0\r\n\r\n").status == 411


def test_half_closed_client_still_gets_its_answer(loop: Loop, rpc_server: Any) -> None:
    server, _calls = rpc_server
    client = Client(loop, server)
    client.send(rpc_request({"jsonrpc": "2.0", "method": "status", "id": 1}))
    client.sock.shutdown(socket.SHUT_WR)
    assert client.response().status == 200
    client.wait_closed()
    client.close()


def test_unknown_host_header_is_refused_without_token(loop: Loop, rpc_server: Any) -> None:
    server, _calls = rpc_server
    for host, status in [("evil.example:8090", 403), ("localhost:8090", 404), ("[::1]:1", 404)]:
        assert call(loop, server, request("GET", "/x", host=host)).status == status


def test_idle_connection_is_closed(loop: Loop, clock: FakeTime, rpc_server: Any) -> None:
    server, _calls = rpc_server
    client = Client(loop, server)
    pump(loop, lambda: server.connections == 1)
    client.send(b"GET / HTTP/1.1\r\n")  # a request that never completes
    loop.run_once(0.01)
    clock.offset += 29.0
    loop.run_once(0.01)
    assert server.connections == 1
    clock.offset += 2.0
    client.wait_closed()
    assert server.connections == 0
    client.close()


def test_connection_limit(loop: Loop, make_server: Callable[..., ControlServer]) -> None:
    server = make_server(max_connections=2)
    first, second = Client(loop, server), Client(loop, server)
    pump(loop, lambda: server.connections == 2)
    third = Client(loop, server)
    assert third.response().status == 503
    third.wait_closed()
    third.close()
    assert server.connections == 2
    first.close()
    pump(loop, lambda: server.connections == 1)
    fourth = Client(loop, server)
    fourth.send(request("GET", "/missing"))
    assert fourth.response().status == 404
    for client in (second, fourth):
        client.close()


def test_large_response_is_written_in_parts(loop: Loop, rpc_server: Any) -> None:
    server, _calls = rpc_server
    blob = os.urandom(4_000_000).hex()  # 8 MB: more than loopback socket buffers take at once
    server.method("blob", lambda: blob)
    writers: list[object] = []
    set_writer = loop.set_writer

    def spy(sock: socket.socket, callback: Callable[[], None] | None) -> None:
        writers.append(callback)
        set_writer(sock, callback)

    loop.set_writer = spy  # type: ignore[method-assign]
    client = Client(loop, server)
    client.send(rpc_request({"jsonrpc": "2.0", "method": "blob", "id": 1}))
    response = client.response()
    assert response.status == 200
    assert json.loads(response.body)["result"] == blob
    assert writers, "the response should not have fit in one send"


# -- auth -----------------------------------------------------------------------------------
def test_token_required(loop: Loop, make_server: Callable[..., ControlServer]) -> None:
    server = make_server(token=TOKEN)
    server.method("status", lambda: "ok")
    payload = {"jsonrpc": "2.0", "method": "status", "id": 1}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = call(loop, server, rpc_request(payload, headers))
        assert response.status == 401
        assert (response.header("www-authenticate") or "").startswith("Bearer")
        assert b"ok" not in response.body
    assert call(loop, server, request("GET", "/metrics")).status == 401
    response = call(loop, server, rpc_request(payload, {"Authorization": f"Bearer {TOKEN}"}))
    assert response.status == 200
    assert json.loads(response.body)["result"] == "ok"


# -- metrics --------------------------------------------------------------------------------
def test_metrics_endpoint(loop: Loop, make_server: Callable[..., ControlServer]) -> None:
    server = make_server()

    def source(w: MetricsWriter) -> None:
        w.gauge("sems_active_calls", "Active calls per app.", 2, {"app": "echo"})
        w.counter("sems_calls_total", "Calls by final code.", 5, {"code": 200})

    server.metrics_source(source)
    response = call(loop, server, request("GET", "/metrics"))
    assert response.status == 200
    assert response.header("content-type") == "text/plain; version=0.0.4; charset=utf-8"
    text = response.body.decode()
    assert 'sems_active_calls{app="echo"} 2\n' in text
    assert 'sems_calls_total{code="200"} 5\n' in text
    parser = pytest.importorskip("prometheus_client.parser")
    names = {f.name for f in parser.text_string_to_metric_families(text)}
    assert names == {"sems_active_calls", "sems_calls"}


def test_metrics_head_and_failing_source(
    loop: Loop, make_server: Callable[..., ControlServer]
) -> None:
    server = make_server()
    server.metrics_source(lambda w: w.gauge("up", "Up.", 1))
    client = Client(loop, server)
    client.send(request("HEAD", "/metrics"))
    head = client.response(head_only=True)
    assert head.status == 200
    assert int(head.header("content-length") or 0) == len("# HELP up Up.\n# TYPE up gauge\nup 1\n")
    assert head.body == b""
    client.close()

    def broken(_w: MetricsWriter) -> None:
        raise RuntimeError("boom")

    server.metrics_source(broken)
    assert call(loop, server, request("GET", "/metrics")).status == 500
    assert call(loop, server, request("POST", "/metrics")).status == 405


# -- static files ---------------------------------------------------------------------------
@pytest.fixture
def static_server(make_server: Callable[..., ControlServer], tmp_path: Path) -> ControlServer:
    root = tmp_path / "www"
    (root / "js").mkdir(parents=True)
    (root / "index.html").write_text("<h1>conf</h1>")
    (root / "js" / "app.js").write_text("console.log(1)")
    (root / "style.css").write_text("body{}")
    (root / "logo.svg").write_text("<svg/>")
    (root / ".hidden.html").write_text("hidden")
    (root / "notes.bin").write_bytes(b"x")
    (tmp_path / "secret.html").write_text("SECRET")
    (root / "link.html").symlink_to(tmp_path / "secret.html")
    (root / "inside.html").symlink_to(root / "index.html")
    os.mkfifo(root / "fifo.html")
    return make_server(static_dir=str(root))


@pytest.mark.parametrize(
    ("target", "content_type", "body"),
    [
        ("/", "text/html; charset=utf-8", b"<h1>conf</h1>"),
        ("/index.html", "text/html; charset=utf-8", b"<h1>conf</h1>"),
        ("/js/app.js", "text/javascript; charset=utf-8", b"console.log(1)"),
        ("/style.css", "text/css; charset=utf-8", b"body{}"),
        ("/logo.svg", "image/svg+xml", b"<svg/>"),
        ("/inside.html?v=2", "text/html; charset=utf-8", b"<h1>conf</h1>"),
    ],
)
def test_static_files(
    loop: Loop, static_server: ControlServer, target: str, content_type: str, body: bytes
) -> None:
    response = call(loop, static_server, request("GET", target))
    assert response.status == 200
    assert response.header("content-type") == content_type
    assert response.header("x-content-type-options") == "nosniff"
    assert response.body == body


@pytest.mark.parametrize(
    "target",
    [
        "/../secret.html",
        "/js/../../secret.html",
        "/js/../index.html",
        "/%2e%2e/secret.html",
        "//etc/passwd",
        "/link.html",  # symlink out of the root
        "/.hidden.html",
        "/notes.bin",  # no known content type
        "/missing.html",
        "/js",  # a directory
        "/fifo.html",  # would block a naive open()
        "/index.html%00.png",
        "/a\\b.html",
    ],
)
def test_static_traversal_and_oddities_are_404(
    loop: Loop, static_server: ControlServer, target: str
) -> None:
    response = call(loop, static_server, request("GET", target))
    assert response.status == 404
    assert b"SECRET" not in response.body


def test_no_static_dir_means_404(loop: Loop, make_server: Callable[..., ControlServer]) -> None:
    server = make_server()
    assert call(loop, server, request("GET", "/")).status == 404
    assert call(loop, server, request("DELETE", "/index.html")).status == 405


# -- the ctl client -------------------------------------------------------------------------
def run_ctl(loop: Loop, argv: list[str]) -> int:
    """Run `ctl.main` in a thread while this thread drives the server's loop."""
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(ctl.main(argv)), daemon=True)
    thread.start()
    pump(loop, lambda: not thread.is_alive(), timeout=10.0)
    return result[0]


def test_ctl_commands(loop: Loop, rpc_server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    server, calls = rpc_server
    url = f"http://127.0.0.1:{server.port}"
    assert run_ctl(loop, ["--url", url, "status"]) == 0
    assert capsys.readouterr().out == "calls: 2\ndraining: false\n"
    assert run_ctl(loop, ["--url", url, "calls"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "app", "from"]
    assert lines[1].split() == ["c1", "echo", "sip:a@x"]
    assert lines[2].split() == ["c2", "conf", "-"]
    assert run_ctl(loop, ["--url", url, "hangup", "c1"]) == 0
    assert "c1" not in calls.calls
    assert run_ctl(loop, ["--url", url, "hangup", "c1"]) == 1
    assert "error 404: no such call" in capsys.readouterr().err
    assert run_ctl(loop, ["--url", url, "drain"]) == 0
    assert calls.drained
    capsys.readouterr()
    assert run_ctl(loop, ["--url", url, "--json", "call", "calls.list"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"id": "c2", "app": "conf"}]


def test_ctl_token(
    loop: Loop,
    make_server: Callable[..., ControlServer],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = make_server(token=TOKEN)
    server.method("status", lambda: {"up": True})
    url = f"http://127.0.0.1:{server.port}/"
    monkeypatch.delenv("SEMS_LITE_TOKEN", raising=False)
    assert run_ctl(loop, ["--url", url, "status"]) == 1
    assert "HTTP 401" in capsys.readouterr().err
    assert run_ctl(loop, ["--url", url, "--token", TOKEN, "status"]) == 0
    assert capsys.readouterr().out == "up: true\n"
    monkeypatch.setenv("SEMS_LITE_TOKEN", TOKEN)
    assert run_ctl(loop, ["--url", url, "status"]) == 0


def test_ctl_connection_refused_and_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert ctl.main(["--url", f"http://127.0.0.1:{port}", "status"]) == 1
    assert "cannot talk" in capsys.readouterr().err
    assert ctl.main(["--url", "https://x", "status"]) == 1
    assert ctl.main(["bogus"]) == 2
    assert ctl.main(["hangup"]) == 2


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        ("http://127.0.0.1:8090", ("127.0.0.1", 8090, "")),
        ("http://localhost", ("localhost", 80, "")),
        ("http://[::1]:9/ctl/", ("::1", 9, "/ctl")),
    ],
)
def test_ctl_parse_url(url: str, parts: tuple[str, int, str]) -> None:
    assert ctl.parse_url(url) == parts


def test_ctl_format_result() -> None:
    assert ctl.format_result({"a": 1, "b": {"c": "x"}}) == "a: 1\nb.c: x"
    assert ctl.format_result([]) == "(none)"
    assert ctl.format_result(True) == "true"
