"""XML-RPC: building calls and parsing answers without a network, then calls on a real
Loop to the stdlib's SimpleXMLRPCServer in a thread."""

from __future__ import annotations

import sys
import threading
import time
import xmlrpc.client
from xmlrpc.server import SimpleXMLRPCServer

import pytest

from sems_lite.core.loop import Loop
from sems_lite.xmlrpc_call import (
    XmlRpcError,
    XmlRpcFault,
    build_call,
    parse_response,
    require_xmlrpc,
    xmlrpc_call,
)


def test_build_call_round_trips_through_the_stdlib_parser():
    body = build_call("AuthorizeConference", ["sip:alice@example.org", "1234"])
    assert body.startswith(b"<?xml version='1.0'?>")  # UTF-8, the XML default
    params, method = xmlrpc.client.loads(body)
    assert method == "AuthorizeConference"
    assert params == ("sip:alice@example.org", "1234")
    accented = build_call("m", ["\u00e9t\u00e9"])
    assert "\u00e9t\u00e9".encode() in accented
    assert xmlrpc.client.loads(accented)[0] == ("\u00e9t\u00e9",)


def test_build_call_refuses_what_xmlrpc_cannot_carry():
    with pytest.raises(XmlRpcError, match="cannot encode"):
        build_call("authorize", [None])


def test_parse_values_and_faults():
    ok = xmlrpc.client.dumps(
        ({"result": "OK", "room": "5", "max_duration": 60},), methodresponse=True
    )
    assert parse_response(ok.encode()) == {"result": "OK", "room": "5", "max_duration": 60}
    assert parse_response(xmlrpc.client.dumps((True,), methodresponse=True).encode()) is True
    fault = xmlrpc.client.dumps(xmlrpc.client.Fault(4, "no such method"), methodresponse=True)
    with pytest.raises(XmlRpcFault) as info:
        parse_response(fault.encode())
    assert info.value.code == 4 and info.value.message == "no such method"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html>not xml-rpc",
        b"<?xml version='1.0'?><methodResponse><params></params></methodResponse>",
        b"<?xml version='1.0'?><methodResponse><params><param><value><int>x</int>"
        b"</value></param></params></methodResponse>",
    ],
)
def test_parse_rejects_non_responses(body):
    with pytest.raises(XmlRpcError):
        parse_response(body)


# --- against a real server ----------------------------------------------------------------


@pytest.fixture
def server():
    srv = SimpleXMLRPCServer(("127.0.0.1", 0), logRequests=False)
    calls: list[tuple] = []

    def authorize(user: str, pin: str) -> bool:
        calls.append((user, pin))
        return pin == "1234"

    def slow() -> bool:
        time.sleep(1.0)
        return True

    srv.register_function(authorize)
    srv.register_function(slow)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.calls = calls  # type: ignore[attr-defined]
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/RPC2"  # type: ignore[attr-defined]
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def call(server, method: str, params: list, timeout: float = 5.0) -> tuple:
    loop = Loop()
    results: list = []
    try:
        xmlrpc_call(loop, server.url, method, params, timeout, lambda v, e: results.append((v, e)))
        deadline = time.monotonic() + 5
        while not results and time.monotonic() < deadline:
            loop.run_once(0.05)
    finally:
        loop.close()
    assert len(results) == 1
    return results[0]


def test_call_a_real_server(server):
    assert call(server, "authorize", ["alice", "1234"]) == (True, None)
    assert call(server, "authorize", ["bob", "9"]) == (False, None)
    assert server.calls == [("alice", "1234"), ("bob", "9")]


def test_fault_from_a_real_server(server):
    value, error = call(server, "no_such_method", [])
    assert value is None and isinstance(error, XmlRpcFault)
    assert "no_such_method" in error.message


def test_timeout_and_http_error_statuses(server):
    value, error = call(server, "slow", [], timeout=0.3)
    assert value is None and "timed out" in str(error)
    wrong_path = server.url.replace("/RPC2", "/nope")
    value, error = call(type("S", (), {"url": wrong_path})(), "authorize", ["a", "1"])
    assert value is None and "HTTP 404" in str(error)


def test_bad_url_raises_at_once():
    with pytest.raises(XmlRpcError, match="IP address"):
        xmlrpc_call(Loop(), "http://auth.example.org/", "m", [], 1.0, lambda v, e: None)


def test_require_xmlrpc_names_the_missing_package(monkeypatch):
    require_xmlrpc()  # here it is there
    monkeypatch.setitem(sys.modules, "xmlrpc.client", None)
    with pytest.raises(XmlRpcError, match="python3-xml"):
        require_xmlrpc()
