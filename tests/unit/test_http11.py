"""The sans-IO HTTP/1.1 request parser and response builder."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sems_lite.http11 import (
    HttpError,
    Request,
    RequestParser,
    build_response,
    parse_response,
)

BODY = b'{"jsonrpc":"2.0","method":"status","id":1}'
POST = (
    b"POST /rpc HTTP/1.1\r\nHost: 127.0.0.1:8090\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)
GET = b"GET /metrics?x=1 HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n"


def parse_all(data: bytes, **limits: int) -> list[Request]:
    parser = RequestParser(**limits)
    parser.feed(data)
    out = []
    while (request := parser.next_request()) is not None:
        out.append(request)
    return out


def error_of(data: bytes, **limits: int) -> HttpError:
    with pytest.raises(HttpError) as info:
        parse_all(data, **limits)
    return info.value


def test_post_with_body() -> None:
    [request] = parse_all(POST)
    assert request.method == "POST"
    assert request.target == "/rpc"
    assert request.path == "/rpc"
    assert request.version == (1, 1)
    assert request.body == BODY
    assert request.keep_alive
    assert request.header("Content-Type") == "application/json"
    assert request.header("host") == "127.0.0.1:8090"
    assert request.header("x-missing") is None


def test_get_path_and_query() -> None:
    [request] = parse_all(GET)
    assert (request.method, request.path, request.query) == ("GET", "/metrics", "x=1")
    assert request.body == b""


@pytest.mark.parametrize("message", [POST, GET, POST + GET + POST])
def test_split_at_every_byte_boundary(message: bytes) -> None:
    whole = [(r.method, r.target, r.headers, r.body) for r in parse_all(message)]
    for cut in range(len(message) + 1):
        parser = RequestParser()
        got = []
        for piece in (message[:cut], message[cut:]):
            parser.feed(piece)
            while (request := parser.next_request()) is not None:
                got.append((request.method, request.target, request.headers, request.body))
        assert got == whole, cut


def test_fed_one_byte_at_a_time() -> None:
    parser = RequestParser()
    got = []
    for i in range(len(POST + GET)):
        parser.feed((POST + GET)[i : i + 1])
        while (request := parser.next_request()) is not None:
            got.append(request.method)
    assert got == ["POST", "GET"]
    assert parser.buffered == 0


@given(st.lists(st.integers(min_value=0, max_value=len(POST) * 2), max_size=6))
def test_any_chunking_gives_the_same_requests(cuts: list[int]) -> None:
    data = POST + POST
    bounds = [0, *sorted(cuts), len(data)]
    parser = RequestParser()
    bodies = []
    for start, end in itertools.pairwise(bounds):
        parser.feed(data[start:end])
        while (request := parser.next_request()) is not None:
            bodies.append(request.body)
    assert bodies == [BODY, BODY]


def test_pipelined_requests_come_out_in_order() -> None:
    requests = parse_all(GET + POST + b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
    assert [r.target for r in requests] == ["/metrics?x=1", "/rpc", "/a"]


def test_leading_empty_lines_are_ignored() -> None:
    [request] = parse_all(b"\r\n\r\n" + GET)
    assert request.path == "/metrics"


def test_keep_alive_rules() -> None:
    def keep(version: str, connection: str | None) -> bool:
        field = f"Connection: {connection}\r\n" if connection else ""
        data = f"GET / {version}\r\nHost: h\r\n{field}\r\n".encode()
        return parse_all(data)[0].keep_alive

    assert keep("HTTP/1.1", None)
    assert not keep("HTTP/1.1", "close")
    assert not keep("HTTP/1.1", "Upgrade, Close")
    assert not keep("HTTP/1.0", None)
    assert keep("HTTP/1.0", "keep-alive")


def test_http10_needs_no_host() -> None:
    [request] = parse_all(b"GET / HTTP/1.0\r\n\r\n")
    assert request.version == (1, 0)


def test_repeated_header_fields_are_joined() -> None:
    [request] = parse_all(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\n\r\n")
    assert request.header("X-A") == "1, 2"


def test_header_value_whitespace_is_trimmed() -> None:
    [request] = parse_all(b"GET / HTTP/1.1\r\nHost:h\r\nX-A: \t v w \t\r\n\r\n")
    assert request.header("x-a") == "v w"
    assert request.header("host") == "h"


@pytest.mark.parametrize(
    "line",
    [
        b"GET /",  # two parts
        b"GET  / HTTP/1.1",  # double space
        b"GET / HTTP/1.1 extra",
        b"G(T / HTTP/1.1",  # not a token
        b"GET /a b HTTP/1.1",
        b"GET /\x01 HTTP/1.1",
        b"GET / HTTP/1",
        b"GET / http/1.1",
        b"GET / HTTP/1.10",
    ],
)
def test_bad_request_lines(line: bytes) -> None:
    assert error_of(line + b"\r\nHost: h\r\n\r\n").status == 400


def test_http2_request_line_is_505() -> None:
    assert error_of(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n").status == 505


@pytest.mark.parametrize(
    "fields",
    [
        b"Host: h\r\nNoColon\r\n",
        b"Host: h\r\nX-A : 1\r\n",  # whitespace before the colon
        b"Host: h\r\nX-A: 1\r\n continued\r\n",  # obs-fold
        b"Host: h\r\nX-A: a\x00b\r\n",
        b"Host: h\r\nX-A: a\rb\r\n",  # bare CR
        b"Host: h\nX-A: 1\r\n",  # bare LF
        b"",  # HTTP/1.1 without Host
        b"Host: a\r\nHost: b\r\n",
    ],
)
def test_bad_header_fields(fields: bytes) -> None:
    assert error_of(b"GET / HTTP/1.1\r\n" + fields + b"\r\n").status == 400


@pytest.mark.parametrize(
    ("length", "status"),
    [(b"5, 6", 400), (b"-1", 400), (b"abc", 400), (b"1e3", 400), (b"99999999999999999999", 400)],
)
def test_bad_content_length(length: bytes, status: int) -> None:
    data = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: " + length + b"\r\n\r\n"
    assert error_of(data).status == status


def test_equal_repeated_content_length_is_accepted() -> None:
    data = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"
    assert parse_all(data)[0].body == b"ok"


def test_chunked_body_is_refused_with_411() -> None:
    data = b"POST /rpc HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
    assert error_of(data).status == 411


def test_other_transfer_coding_is_501() -> None:
    data = b"POST /rpc HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"
    assert error_of(data).status == 501


def test_body_over_limit_is_413_before_the_body_arrives() -> None:
    parser = RequestParser(max_body=100)
    parser.feed(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n")
    with pytest.raises(HttpError) as info:
        parser.next_request()
    assert info.value.status == 413


def test_body_at_limit_is_accepted() -> None:
    data = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n" + b"x" * 100
    assert len(parse_all(data, max_body=100)[0].body) == 100


def test_head_over_limit_is_431_without_waiting_for_the_end() -> None:
    parser = RequestParser(max_head=200)
    parser.feed(b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 300)
    with pytest.raises(HttpError) as info:
        parser.next_request()
    assert info.value.status == 431


def test_complete_head_over_limit_is_431() -> None:
    data = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 300 + b"\r\n\r\n"
    assert error_of(data, max_head=200).status == 431
    assert parse_all(data, max_head=400)[0].header("x-big") == "a" * 300


def test_endless_request_line_is_414() -> None:
    assert error_of(b"GET /" + b"a" * 500, max_head=200).status == 414


def test_too_many_header_fields_is_431() -> None:
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(10))
    data = b"GET / HTTP/1.1\r\nHost: h\r\n" + fields + b"\r\n"
    assert error_of(data, max_headers=10).status == 431
    assert len(parse_all(data, max_headers=11)[0].headers) == 11


def test_parser_stays_failed_after_an_error() -> None:
    parser = RequestParser()
    parser.feed(b"BAD\r\n\r\n")
    with pytest.raises(HttpError):
        parser.next_request()
    parser.feed(GET)
    with pytest.raises(HttpError):
        parser.next_request()


def test_incomplete_request_returns_none() -> None:
    parser = RequestParser()
    parser.feed(POST[:-1])
    assert parser.next_request() is None
    parser.feed(POST[-1:])
    request = parser.next_request()
    assert request is not None
    assert request.body == BODY


# -- responses ------------------------------------------------------------------------------
def test_build_response() -> None:
    data = build_response(200, b"hi", [("Content-Type", "text/plain")])
    assert data == b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"


def test_build_response_close_and_head() -> None:
    data = build_response(404, b"nope", keep_alive=False, head_only=True)
    assert data == b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nConnection: close\r\n\r\n"


def test_204_has_no_length_and_no_body() -> None:
    assert build_response(204, b"ignored") == b"HTTP/1.1 204 No Content\r\n\r\n"


def test_response_header_injection_is_refused() -> None:
    with pytest.raises(ValueError):
        build_response(200, b"", [("X-A", "a\r\nSet-Cookie: x=1")])
    with pytest.raises(ValueError):
        build_response(200, b"", [("X A", "v")])


def test_parse_response_round_trip() -> None:
    data = build_response(200, b"hello", [("Content-Type", "text/plain")]) + b"trailing"
    response = parse_response(data)
    assert (response.status, response.reason) == (200, "OK")
    assert response.header("content-type") == "text/plain"
    assert response.body == b"hello"


def test_parse_response_errors() -> None:
    with pytest.raises(ValueError):
        parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
    with pytest.raises(ValueError):
        parse_response(b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(ValueError):
        parse_response(b"SIP/2.0 200 OK\r\n\r\n")
