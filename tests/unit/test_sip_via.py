"""Via header values (RFC 3261 §20.42, RFC 3581)."""

import pytest

from sems_lite.sip.errors import SipParseError
from sems_lite.sip.via import Via, parse_via


def test_basic_via() -> None:
    via = parse_via("SIP/2.0/UDP pc33.example.com:5060;branch=z9hG4bK776asdhds")
    assert via == Via("UDP", "pc33.example.com", 5060, {"branch": "z9hG4bK776asdhds"})
    assert via.branch == "z9hG4bK776asdhds"
    assert via.received is None
    assert via.rport is None and not via.has_rport
    assert str(via) == "SIP/2.0/UDP pc33.example.com:5060;branch=z9hG4bK776asdhds"


def test_rport_and_received() -> None:
    request_form = parse_via("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx;rport")
    assert request_form.has_rport and request_form.rport == 0
    response_form = parse_via(
        "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx;received=198.51.100.7;rport=4711"
    )
    assert response_form.rport == 4711
    assert response_form.received == "198.51.100.7"
    assert str(response_form).endswith(";received=198.51.100.7;rport=4711")
    v6 = parse_via("SIP/2.0/UDP [2001:db8::1];received=2001:db8::9")
    assert v6.received == "2001:db8::9"


def test_whitespace_around_separators() -> None:
    via = parse_via("SIP  /   2.0 /UDP    192.0.2.2;branch=390skdjuw")
    assert (via.protocol, via.version, via.transport, via.host) == (
        "SIP",
        "2.0",
        "UDP",
        "192.0.2.2",
    )
    via = parse_via("SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8  ")
    assert via.transport == "TCP"
    assert via.host == "spindle.example.com"
    assert via.branch == "z9hG4bK9ikj8"
    assert parse_via("SIP/2.0/UDP host : 5070").port == 5070


def test_transport_is_upper_cased_and_unknown_kept() -> None:
    assert parse_via("sip/2.0/tls h").transport == "TLS"
    assert parse_via("sip/2.0/tls h").protocol == "SIP"
    assert parse_via("SIP/2.0/UNKNOWN t4.example.com").transport == "UNKNOWN"
    assert parse_via("SIP/2.0/SCTP t2.example.com").transport == "SCTP"


def test_ipv6_sent_by() -> None:
    via = parse_via("SIP/2.0/TCP [2001:db8::10]:5070;branch=z9hG4bK1")
    assert via.host == "2001:db8::10"
    assert via.port == 5070
    assert via.host_port == "[2001:db8::10]:5070"
    assert str(via) == "SIP/2.0/TCP [2001:db8::10]:5070;branch=z9hG4bK1"


def test_round_trip_of_str() -> None:
    via = Via("TCP", "::1", 5061, {"branch": "z9hG4bKa", "rport": None, "alias": None})
    assert parse_via(str(via)) == via


@pytest.mark.parametrize(
    "text",
    [
        "",
        "SIP/2.0/UDP",
        "SIP/2.0 UDP host",
        "SIP/2.0/UDP 192.0.2.15;;",  # empty parameters (RFC 4475 badinv01)
        ";",
        "SIP/2.0/UDP host;branch=",
        "SIP/2.0/UDP host:99999",
        "SIP/2.0/UDP host:port",
        "SIP/2.0/UDP [::1",
        "SIP/2.0/UDP [1::2::3]",
        "SIP/2.0/UDP host;rport=abc",
        "SIP/2.0/UDP host;rport=70000",
        "SIP/2.0/UDP ho st",
    ],
)
def test_bad_vias(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_via(text)
