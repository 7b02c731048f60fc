"""UAS request checks (validate.check_request)."""

import pytest

from sems_lite.sip.headers import Headers
from sems_lite.sip.message import Request
from sems_lite.sip.uri import AbsoluteUri, SipUri
from sems_lite.sip.validate import MANDATORY, Rejection, check_request

SDP = b"v=0\r\n"


def request(
    method: str = "INVITE", *extra: tuple[str, str], body: bytes = b"", **kw: str
) -> Request:
    headers = Headers(
        [
            ("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1"),
            ("Max-Forwards", "70"),
            ("To", "<sip:bob@example.com>"),
            ("From", "<sip:alice@example.com>;tag=1"),
            ("Call-ID", "c1@example.com"),
            ("CSeq", f"1 {kw.get('cseq_method', method)}"),
            *extra,
        ]
    )
    return Request(method, SipUri(user="bob", host="example.com"), headers, body)


def test_a_good_request_passes() -> None:
    assert check_request(request()) is None
    assert check_request(request("INVITE", ("Content-Type", "application/sdp"), body=SDP)) is None


@pytest.mark.parametrize("name", MANDATORY)
def test_missing_mandatory_header(name: str) -> None:
    req = request()
    req.headers.remove(name)
    rej = check_request(req)
    assert rej is not None and rej.status == 400
    assert name in rej.reason


def test_missing_headers_are_all_named() -> None:
    req = request()
    for name in ("To", "From", "Call-ID"):
        req.headers.remove(name)
    rej = check_request(req)
    assert rej == Rejection(400, "Missing To, From, Call-ID headers", [])


def test_missing_max_forwards_is_tolerated() -> None:
    req = request()
    req.headers.remove("Max-Forwards")
    assert check_request(req) is None


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("To", '"unterminated <sip:a@b>', "To"),
        ("From", "Bell, Alexander <sip:a@b>;tag=1", "From"),
        ("CSeq", "36893488147419103232 INVITE", "CSeq"),
        ("Call-ID", "has space", "Call-ID"),
        ("Via", "SIP/2.0/UDP 192.0.2.15;;,;,,", "Via"),
        ("Max-Forwards", "300", "Max-Forwards"),
        ("Content-Type", "nonsense", "Content-Type"),
        ("Contact", "sip:user@example.com?Route=%3Csip:sip.example.com%3E", "Contact"),
        ("Record-Route", "<sip:a@b", "Record-Route"),
        ("Route", "sip:a@b junk", "Route"),
        ("Content-Length", "-5", "Content-Length"),
    ],
)
def test_unparsable_headers(name: str, value: str, fragment: str) -> None:
    req = request()
    req.headers.set(name, value)
    rej = check_request(req)
    assert rej is not None and rej.status == 400
    assert fragment in rej.reason


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("To", "<sip:other@example.net>"),
        ("From", "<sip:x@example.net>;tag=2"),
        ("Call-ID", "other@x"),
        ("CSeq", "2 INVITE"),
        ("Max-Forwards", "5"),
        ("Content-Type", "application/sdp"),
        ("Content-Length", "0"),
    ],
)
def test_repeated_single_value_headers(name: str, value: str) -> None:
    req = request()
    if name not in req.headers:
        req.headers.add(name, value)
    req.headers.add(name, value)
    rej = check_request(req)
    assert rej == Rejection(400, f"Multiple {name} headers", [])


@pytest.mark.parametrize(
    ("method", "cseq_method"),
    [("OPTIONS", "INVITE"), ("NEWMETHOD", "INVITE"), ("CANCEL", "INVITE"), ("BYE", "bye")],
)
def test_cseq_method_mismatch(method: str, cseq_method: str) -> None:
    rej = check_request(request(method, cseq_method=cseq_method))
    assert rej is not None and rej.status == 400
    assert "CSeq" in rej.reason


def test_ack_is_never_rejected() -> None:
    req = request("ACK", cseq_method="INVITE", body=b"junk")
    req.headers.remove("Via")
    req.uri = AbsoluteUri("foo", "bar")
    assert check_request(req) is None


def test_headers_in_request_uri() -> None:
    req = request()
    req.uri = SipUri(user="bob", host="example.com", headers={"Route": "%3Csip:x%3E"})
    rej = check_request(req)
    assert rej is not None and rej.status == 400 and "Request-URI" in rej.reason


def test_uri_scheme() -> None:
    req = request("OPTIONS")
    req.uri = AbsoluteUri("soap.beep", "//192.0.2.103:3002")
    assert check_request(req) == Rejection(416, "Unsupported URI Scheme", [])
    assert check_request(req, schemes=("sip", "SOAP.BEEP")) is None
    req.uri = SipUri(scheme="sips", host="example.com")
    assert check_request(req) is None
    assert check_request(req, schemes=("sip",)) is not None


def test_require_and_proxy_require() -> None:
    req = request(
        "OPTIONS",
        ("Require", "nothingSupportsThis, 100rel"),
        ("Proxy-Require", "noProxiesSupportThis, 100rel"),
    )
    rej = check_request(req, supported=("100REL",))
    assert rej == Rejection(
        420, "Bad Extension", [("Unsupported", "nothingSupportsThis, noProxiesSupportThis")]
    )
    assert (
        check_request(req, supported=("100rel", "nothingSupportsThis", "noproxiessupportthis"))
        is None
    )


def test_cancel_ignores_require() -> None:
    assert check_request(request("CANCEL", ("Require", "foo"))) is None


def test_unsupported_body_type() -> None:
    req = request("INVITE", ("Content-Type", "application/unknownformat"), body=b"<audio/>")
    assert check_request(req) == Rejection(
        415, "Unsupported Media Type", [("Accept", "application/sdp")]
    )
    assert check_request(req, accept=("application/sdp", "Application/UnknownFormat")) is None
    empty = request("INVITE", ("Content-Type", "application/unknownformat"))
    assert check_request(empty) is None  # no body, nothing to understand


def test_body_without_content_type() -> None:
    rej = check_request(request("INVITE", body=SDP))
    assert rej is not None and rej.status == 400 and "Content-Type" in rej.reason


def test_content_encoding() -> None:
    req = request("INVITE", ("Content-Type", "application/sdp"), ("e", "gzip"), body=SDP)
    assert check_request(req) == Rejection(
        415, "Unsupported Media Type", [("Accept-Encoding", "identity")]
    )
    req.headers.set("Content-Encoding", "identity")
    assert check_request(req) is None


def multipart(*types: str) -> bytes:
    parts = [f"--b1\r\nContent-Type: {t}\r\n\r\nbody {i}\r\n" for i, t in enumerate(types)]
    return ("".join(parts) + "--b1--\r\n").encode()


def test_multipart_with_an_acceptable_part() -> None:
    ok = request(
        "INVITE",
        ("Content-Type", 'multipart/mixed; boundary="b1"'),
        body=multipart("application/sdp", "application/isup"),
    )
    assert check_request(ok) is None
    bad = request(
        "INVITE",
        ("Content-Type", "multipart/mixed;boundary=b1"),
        body=multipart("text/plain", "application/octet-stream"),
    )
    rej = check_request(bad)
    assert rej is not None and rej.status == 415
    assert check_request(bad, accept=("text/plain",)) is None
    no_boundary = request(
        "INVITE", ("Content-Type", "multipart/mixed"), body=multipart("application/sdp")
    )
    assert check_request(no_boundary) is not None


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        ("text/nobodyKnowsThis", 406),
        ("application/sdp;q=0", 406),
        ("text/plain, application/sdp;q=0.0", 406),
        ("application/sdp", None),
        ("text/plain, Application/SDP;level=1", None),
        ("application/*", None),
        ("*/*", None),
        ("application/sdp;q=0.5", None),
        ("", None),
    ],
)
def test_accept_header(accept: str, status: int | None) -> None:
    for method in ("INVITE", "OPTIONS"):
        rej = check_request(request(method, ("Accept", accept)))
        assert (rej.status if rej else None) == status
    assert check_request(request("BYE", ("Accept", accept))) is None


def test_order_of_checks() -> None:
    # Everything wrong at once: the 400 comes first, then 416, 420, 415, 406.
    req = request("INVITE", ("Require", "x"), ("Accept", "text/x"), ("c", "text/y"), body=b"b")
    req.uri = AbsoluteUri("foo", "bar")
    req.headers.set("CSeq", "1 BYE")
    statuses = []
    for fix in (
        lambda r: r.headers.set("CSeq", "1 INVITE"),
        lambda r: setattr(r, "uri", SipUri(host="h")),
        lambda r: r.headers.remove("Require"),
        lambda r: r.headers.set("Content-Type", "application/sdp"),
        lambda r: r.headers.remove("Accept"),
    ):
        rej = check_request(req)
        statuses.append(rej.status if rej else None)
        fix(req)
    statuses.append(check_request(req))
    assert statuses == [400, 416, 420, 415, 406, None]
