"""Parsing, serializing and stream framing of whole SIP messages."""

import pytest

from sems_lite.sip.cseq import CSeq
from sems_lite.sip.errors import SipParseError
from sems_lite.sip.headers import Headers
from sems_lite.sip.message import Request, Response, frame_stream, parse_message
from sems_lite.sip.uri import AbsoluteUri, SipUri

SDP = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"


def sip(*lines: str, body: bytes = b"", eol: str = "\r\n") -> bytes:
    return (eol.join(lines) + eol + eol).encode() + body


def invite(*extra: str, body: bytes = SDP, length: str | None = None) -> bytes:
    return sip(
        "INVITE sip:bob@example.com SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport",
        "Max-Forwards: 70",
        "To: Bob <sip:bob@example.com>",
        'From: "Alice" <sip:alice@example.com>;tag=1928301774',
        "Call-ID: a84b4c76e66710@pc33.example.com",
        "CSeq: 314159 INVITE",
        "Contact: <sip:alice@192.0.2.1>",
        "Content-Type: application/sdp",
        *extra,
        f"Content-Length: {len(body) if length is None else length}",
        body=body,
    )


def response(status_line: str = "SIP/2.0 200 OK", *extra: str, body: bytes = b"") -> bytes:
    return sip(
        status_line,
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;received=192.0.2.9",
        "To: Bob <sip:bob@example.com>;tag=a6c85cf",
        "From: Alice <sip:alice@example.com>;tag=1928301774",
        "Call-ID: a84b4c76e66710@pc33.example.com",
        "CSeq: 314159 INVITE",
        *extra,
        f"Content-Length: {len(body)}",
        body=body,
    )


def test_parse_request_and_typed_views() -> None:
    req = parse_message(invite())
    assert isinstance(req, Request)
    assert req.method == "INVITE"
    assert req.uri == SipUri(user="bob", host="example.com")
    assert req.version == "SIP/2.0"
    assert req.body == SDP
    assert req.call_id == "a84b4c76e66710@pc33.example.com"
    assert req.cseq == CSeq(314159, "INVITE")
    assert [v.branch for v in req.vias] == ["z9hG4bK776asdhds"]
    assert req.top_via.has_rport
    assert req.from_addr.tag == "1928301774"
    assert req.from_addr.display_name == "Alice"
    assert req.to_addr.tag is None
    assert [str(c.uri) for c in req.contacts] == ["sip:alice@192.0.2.1"]
    assert not req.contact_wildcard
    assert req.content_type == "application/sdp"
    assert req.max_forwards == 70


def test_parse_response() -> None:
    resp = parse_message(response("SIP/2.0 180 Ringing"))
    assert isinstance(resp, Response)
    assert (resp.status, resp.reason, resp.version) == (180, "Ringing", "SIP/2.0")
    assert resp.to_addr.tag == "a6c85cf"
    assert resp.vias[0].received == "192.0.2.9"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("SIP/2.0 100 ", ""),
        ("SIP/2.0 100", ""),
        ("SIP/2.0 699 a  b  ", "a  b  "),
        ("sip/2.0 200 OK", "OK"),
        ("SIP/2.0 200 = 2**3 * 5**2 но сто", "= 2**3 * 5**2 но сто"),
    ],
)
def test_reason_phrases(line: str, reason: str) -> None:
    resp = parse_message(response(line))
    assert isinstance(resp, Response)
    assert resp.reason == reason


@pytest.mark.parametrize(
    "line",
    [
        "SIP/2.0 4294967301 better not break the receiver",
        "SIP/2.0 99 Low",
        "SIP/2.0 700 High",
        "SIP/2.0 20 OK",
        "SIP/2.0 2000 OK",
        "SIP/2.0  200 OK",
        "SIP/2.0 2x0 OK",
        "SIP/2.0",
    ],
)
def test_bad_status_lines(line: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(response(line))
    assert info.value.status == 400


@pytest.mark.parametrize("drop", ["Via", "To", "From", "Call-ID", "CSeq"])
def test_responses_missing_key_headers_are_refused(drop: str) -> None:
    lines = response().decode().split("\r\n")
    data = "\r\n".join(line for line in lines if not line.startswith(drop + ":")).encode()
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    assert drop in info.value.reason
    assert isinstance(info.value.partial, Response)


def test_response_with_bad_cseq_is_refused() -> None:
    data = response().replace(b"CSeq: 314159", b"CSeq: 9292394834772304023312")
    with pytest.raises(SipParseError):
        parse_message(data)


def test_compact_forms_and_case_insensitive_names() -> None:
    data = sip(
        "OPTIONS sip:x@example.com SIP/2.0",
        "v: SIP/2.0/UDP h;branch=z9hG4bK1",
        "t: sip:x@example.com",
        "F: sip:y@example.com;tag=1",
        "I: abc@h",
        "cseq: 1 OPTIONS",
        "MAX-FORWARDS: 10",
        "m: <sip:y@h>",
        "l: 0",
    )
    req = parse_message(data)
    names = [name for name, _ in req.headers.items()]
    assert names == [
        "Via",
        "To",
        "From",
        "Call-ID",
        "CSeq",
        "Max-Forwards",
        "Contact",
        "Content-Length",
    ]
    assert req.call_id == "abc@h"
    assert req.max_forwards == 10


def test_folded_header_lines_are_unfolded() -> None:
    data = sip(
        "OPTIONS sip:x@example.com SIP/2.0",
        "Via: SIP/2.0/UDP h;branch=z9hG4bK1",
        "Subject: first",
        "  second",
        "\tthird",
        "cseq: 0009",
        "  OPTIONS",
        "Contact:",
        "  <sip:cal%6Cer@host5.example.net>",
        "Content-Length: 0",
    )
    req = parse_message(data)
    assert req.headers.get("Subject") == "first second third"
    assert req.cseq == CSeq(9, "OPTIONS")
    assert req.headers.get("Contact") == "<sip:cal%6Cer@host5.example.net>"


def test_whitespace_before_colon_and_empty_values() -> None:
    req = parse_message(
        sip("OPTIONS sip:x@y SIP/2.0", "Via  : SIP/2.0/UDP h", "s :", "X-Empty:", "l: 0")
    )
    assert req.headers.get("Via") == "SIP/2.0/UDP h"
    assert req.headers.get("Subject") == ""
    assert req.headers.get("X-Empty") == ""


def test_lf_only_line_ends_and_leading_keepalives() -> None:
    head, _, body = invite().partition(b"\r\n\r\n")
    data = b"\r\n\r\n\n" + head.replace(b"\r\n", b"\n") + b"\n\n" + body
    req = parse_message(data)
    assert isinstance(req, Request)
    assert req.cseq.number == 314159
    assert req.body == SDP


def test_trailing_octets_after_content_length_are_ignored() -> None:
    req = parse_message(invite(body=b"") + b"\r\nINVITE sip:other@example.com SIP/2.0\r\n\r\n")
    assert req.body == b""
    assert req.uri == SipUri(user="bob", host="example.com")


def test_missing_content_length_takes_the_rest_of_the_datagram() -> None:
    data = invite().replace(f"Content-Length: {len(SDP)}\r\n".encode(), b"")
    assert b"Content-Length" not in data
    assert parse_message(data).body == SDP


def test_datagram_without_the_blank_line_is_tolerated() -> None:
    req = parse_message(b"OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nCall-ID: c\r\n")
    assert req.headers.get("Call-ID") == "c"
    assert req.body == b""


@pytest.mark.parametrize(
    ("length", "reason"),
    [
        ("9999", "larger"),
        ("-999", "Malformed"),
        ("abc", "Malformed"),
        ("", "Malformed"),
        ("1 2", "Malformed"),
        ("12345678901", "Malformed"),
        ("²", "Malformed"),
    ],
)
def test_bad_content_length(length: str, reason: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(invite(length=length))
    assert info.value.status == 400
    assert reason in info.value.reason
    partial = info.value.partial
    assert isinstance(partial, Request)
    assert partial.call_id == "a84b4c76e66710@pc33.example.com"


def test_multiple_content_lengths_are_refused() -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(invite("l: 3"))
    assert "Multiple Content-Length" in info.value.reason


@pytest.mark.parametrize(
    ("start_line", "fragment"),
    [
        ("INVITE <sip:bob@example.com> SIP/2.0", "<>"),
        ("INVITE sip:bob@example.com; lr SIP/2.0", "Whitespace in Request-URI"),
        ("INVITE  sip:bob@example.com  SIP/2.0", "Extra whitespace"),
        ("INVITE sip:bob@example.com SIP/2.0  ", "Extra whitespace"),
        ("INVITE sip:bob@[::1 SIP/2.0", "Request-URI"),
        ("INVITE sip:bob@example.com HTTP/1.1", "SIP-Version"),
        ("INVITE sip:bob@example.com SIP/2", "SIP-Version"),
    ],
)
def test_bad_request_lines_keep_a_partial(start_line: str, fragment: str) -> None:
    data = invite().replace(b"INVITE sip:bob@example.com SIP/2.0", start_line.encode(), 1)
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    err = info.value
    assert err.status == 400
    assert fragment in err.reason
    assert isinstance(err.partial, Request)
    assert err.partial.method == "INVITE"
    assert err.partial.cseq == CSeq(314159, "INVITE")
    assert err.partial.headers.get_all("Via") == [
        "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport"
    ]


def test_unknown_version_is_505_with_partial() -> None:
    data = invite().replace(b"SIP/2.0\r\n", b"SIP/7.0\r\n", 1)
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    assert info.value.status == 505
    assert isinstance(info.value.partial, Request)
    assert info.value.partial.version == "SIP/7.0"
    with pytest.raises(SipParseError) as info:
        parse_message(response("SIP/3.0 200 OK"))
    assert info.value.status == 505


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\r\n\r\n",
        b"   \t  ",
        b"\r\n  \r\n",
        b"INVITE",
        b"INVITE sip:x@y",
        b"IN\x00VITE sip:x@y SIP/2.0\r\n\r\n",
        b"INVITE\tsip:x@y\tSIP/2.0\r\n\r\n",
    ],
)
def test_garbage_start_lines(data: bytes) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    assert info.value.status == 400


@pytest.mark.parametrize(
    "line",
    ["No colon here", "Bad Name: x", ": empty name", "Na\x01me: x", "X-Cr: a\rb"],
)
def test_bad_header_lines(line: str) -> None:
    data = invite().replace(b"Max-Forwards: 70", line.encode())
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    partial = info.value.partial
    assert isinstance(partial, Request)
    assert partial.call_id == "a84b4c76e66710@pc33.example.com"  # the good lines survive


def test_continuation_before_any_header_is_refused() -> None:
    with pytest.raises(SipParseError):
        parse_message(b"OPTIONS sip:x@y SIP/2.0\r\n  folded\r\nVia: SIP/2.0/UDP h\r\n\r\n")


def test_non_utf8_bytes_survive_parse_and_serialize() -> None:
    data = invite("X-Latin1: caf\xe9".encode("latin-1").decode("latin-1"))
    data = data.replace("caf\xe9".encode(), b"caf\xe9")
    req = parse_message(data)
    value = req.headers.get("X-Latin1")
    assert value is not None and value.startswith("caf")
    assert b"X-Latin1: caf\xe9\r\n" in req.serialize()


def test_serialize_request_writes_content_length() -> None:
    headers = Headers([("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"), ("Content-Length", "999")])
    req = Request("MESSAGE", SipUri(user="u", host="h"), headers, b"hello")
    assert req.serialize() == (
        b"MESSAGE sip:u@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
        b"Content-Length: 5\r\n\r\nhello"
    )
    assert headers.get("Content-Length") == "999"  # serialize does not touch the object


def test_serialize_adds_missing_content_length_and_drops_duplicates() -> None:
    headers = Headers([("Content-Length", "1"), ("X-A", "b"), ("Content-Length", "2")])
    resp = Response(200, "OK", headers)
    assert resp.serialize() == b"SIP/2.0 200 OK\r\nContent-Length: 0\r\nX-A: b\r\n\r\n"
    bare = Response(100, "Trying", Headers())
    assert bare.serialize() == b"SIP/2.0 100 Trying\r\nContent-Length: 0\r\n\r\n"


def test_round_trip_of_parsed_messages() -> None:
    for data in (invite(), response(body=b"x"), response("SIP/2.0 100 ")):
        msg = parse_message(data)
        assert msg.serialize() == data
        assert parse_message(msg.serialize()) == msg


def test_absolute_request_uri() -> None:
    req = parse_message(invite().replace(b"sip:bob@example.com SIP", b"tel:+1-201-555-0123 SIP", 1))
    assert isinstance(req, Request)
    assert req.uri == AbsoluteUri("tel", "+1-201-555-0123")


def test_view_errors_are_sip_parse_errors() -> None:
    req = Request("INVITE", SipUri(host="h"), Headers([("Max-Forwards", "256"), ("c", "sdp")]))
    for view in ("call_id", "cseq", "vias", "top_via", "from_addr", "to_addr"):
        if view == "vias":
            assert req.vias == []
            continue
        with pytest.raises(SipParseError, match="Missing"):
            getattr(req, view)
    with pytest.raises(SipParseError, match="Max-Forwards"):
        _ = req.max_forwards
    with pytest.raises(SipParseError, match="Content-Type"):
        _ = req.content_type
    req.headers.add("Contact", "sip:a@b?x=y")
    with pytest.raises(SipParseError, match="Contact"):
        _ = req.contacts
    req.headers.add("Call-ID", "has space")
    with pytest.raises(SipParseError, match="Call-ID"):
        _ = req.call_id


def test_contact_wildcard() -> None:
    req = Request("REGISTER", SipUri(host="h"), Headers([("Contact", "*"), ("Expires", "0")]))
    assert req.contact_wildcard
    assert req.contacts == []


def test_content_type_is_lowered_without_params() -> None:
    req = Request("INVITE", SipUri(host="h"), Headers([("c", "Application/SDP ; charset=x")]))
    assert req.content_type == "application/sdp"


# -- stream framing -------------------------------------------------------------------


def test_frame_stream_cuts_messages_and_keeps_the_rest() -> None:
    first, second = invite(), response(body=b"abc")
    buffer = bytearray(b"\r\n\r\n" + first + second + b"\r\n")
    assert frame_stream(buffer) == first
    assert frame_stream(buffer) == second
    assert buffer == b"\r\n"
    assert frame_stream(buffer) is None
    assert buffer == b""  # keep-alive CRLFs consumed


def test_frame_stream_waits_for_headers_and_body() -> None:
    data = invite()
    buffer = bytearray()
    for i, byte in enumerate(data):
        buffer.append(byte)
        out = frame_stream(buffer)
        if i < len(data) - 1:
            assert out is None, i
        else:
            assert out == data
    assert buffer == b""


def test_frame_stream_missing_content_length_means_empty_body() -> None:
    data = b"OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n"
    buffer = bytearray(data + b"NEXT")
    assert frame_stream(buffer) == data
    assert buffer == b"NEXT"


def test_frame_stream_compact_and_folded_content_length() -> None:
    data = b"OPTIONS sip:x@y SIP/2.0\r\nl:\r\n 3\r\n\r\nabc"
    assert frame_stream(bytearray(data + b"zz")) == data
    lf = b"OPTIONS sip:x@y SIP/2.0\nL : 2\n\nab"
    assert frame_stream(bytearray(lf)) == lf


def test_frame_stream_ignores_content_length_lookalikes() -> None:
    data = b"OPTIONS sip:x@y SIP/2.0\r\nX-Content-Length: 5\r\nSubject: l: 7\r\n\r\n"
    assert frame_stream(bytearray(data)) == data


@pytest.mark.parametrize(
    "head",
    [
        b"OPTIONS sip:x@y SIP/2.0\r\nContent-Length: -1\r\n\r\n",
        b"OPTIONS sip:x@y SIP/2.0\r\nContent-Length: x\r\n\r\n",
        b"OPTIONS sip:x@y SIP/2.0\r\nContent-Length: 1\r\nl: 1\r\n\r\n",
        b"OPTIONS sip:x@y SIP/2.0\r\nContent-Length: 99999999999\r\n\r\n",
        b"OPTIONS sip:x@y SIP/2.0\r\nContent-Length: 70000\r\n\r\n",
    ],
)
def test_frame_stream_bad_content_length(head: bytes) -> None:
    with pytest.raises(SipParseError):
        frame_stream(bytearray(head))


def test_frame_stream_limits_the_header_block() -> None:
    endless = bytearray(b"OPTIONS sip:x@y SIP/2.0\r\n" + b"X-Pad: aaaaaaaa\r\n" * 100)
    assert frame_stream(endless, max_size=4096) is None
    endless += b"X-Pad: aaaaaaaa\r\n" * 200
    with pytest.raises(SipParseError):
        frame_stream(endless, max_size=4096)
    big = bytearray(b"OPTIONS sip:x@y SIP/2.0\r\n" + b"X-Pad: aaaaaaaa\r\n" * 300 + b"\r\n")
    with pytest.raises(SipParseError):
        frame_stream(big, max_size=4096)
