"""SIP URIs and opaque absolute URIs."""

import ipaddress

import pytest

from sems_lite.sip.errors import SipParseError
from sems_lite.sip.uri import AbsoluteUri, SipUri, is_ipv6, parse_host_port, parse_uri


def test_full_sip_uri() -> None:
    uri = parse_uri(
        "SIPS:alice:secret@Example.COM:5061;Transport=TCP;lr?Subject=hi&Priority=urgent"
    )
    assert uri == SipUri(
        scheme="sips",
        user="alice",
        password="secret",
        host="Example.COM",
        port=5061,
        params={"transport": "TCP", "lr": None},
        headers={"Subject": "hi", "Priority": "urgent"},
    )
    assert (
        str(uri) == "sips:alice:secret@Example.COM:5061;transport=TCP;lr?Subject=hi&Priority=urgent"
    )


def test_minimal_uri() -> None:
    uri = parse_uri("sip:example.com")
    assert uri == SipUri(host="example.com")
    assert uri.user is None and uri.port is None and uri.params == {}
    assert uri.host_port == "example.com"
    assert str(uri) == "sip:example.com"


@pytest.mark.parametrize(
    ("text", "host", "port", "host_port"),
    [
        ("sip:[::1]", "::1", None, "[::1]"),
        ("sip:bob@[::1]:5060", "::1", 5060, "[::1]:5060"),
        ("sip:[2001:db8::10]:5070;transport=udp", "2001:db8::10", 5070, "[2001:db8::10]:5070"),
        ("sip:[::ffff:192.0.2.1]", "::ffff:192.0.2.1", None, "[::ffff:192.0.2.1]"),
        ("sip:1.2.3.4:5", "1.2.3.4", 5, "1.2.3.4:5"),
        ("sip:a.b", "a.b", None, "a.b"),
    ],
)
def test_hosts_and_ports(text: str, host: str, port: int | None, host_port: str) -> None:
    uri = parse_uri(text)
    assert isinstance(uri, SipUri)
    assert (uri.host, uri.port, uri.host_port) == (host, port, host_port)
    assert str(uri) == text


def test_escaped_user_is_kept_and_decodable() -> None:
    uri = parse_uri("sip:sips%3Auser%40example.com@example.net")
    assert isinstance(uri, SipUri)
    assert uri.user == "sips%3Auser%40example.com"
    assert uri.user_unescaped == "sips:user@example.com"
    assert uri.host == "example.net"
    nul = parse_uri("sip:null-%00-null@example.com")
    assert isinstance(nul, SipUri)
    assert nul.user_unescaped == "null-\x00-null"
    utf8 = parse_uri("sip:%C3%A9t%C3%A9@x")
    assert isinstance(utf8, SipUri)
    assert utf8.user_unescaped == "été"
    assert parse_uri("sip:100%zz@x").user_unescaped == "100%zz"  # type: ignore[union-attr]
    assert SipUri(host="x").user_unescaped is None


def test_user_may_hold_semicolons_question_marks_and_commas() -> None:
    uri = parse_uri("sip:user;par=u%40example.net@example.com")
    assert isinstance(uri, SipUri)
    assert uri.user == "user;par=u%40example.net"
    assert uri.host == "example.com"
    assert uri.params == {}
    weird = parse_uri(
        "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird@example.com"
    )
    assert isinstance(weird, SipUri)
    assert weird.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert weird.password == "&it+has=1,weird"


def test_escaped_params_are_not_decoded() -> None:
    uri = parse_uri("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
    assert isinstance(uri, SipUri)
    assert uri.params == {"%6c%72": None, "n%61me": "v%61lue%25%34%31"}


@pytest.mark.parametrize(
    ("text", "scheme", "opaque"),
    [
        ("tel:+1-201-555-0123", "tel", "+1-201-555-0123"),
        ("http://www.example.com", "http", "//www.example.com"),
        ("soap.beep://192.0.2.103:3002", "soap.beep", "//192.0.2.103:3002"),
        (
            "nobodyKnowsThisScheme:totallyopaquecontent",
            "nobodyknowsthisscheme",
            "totallyopaquecontent",
        ),
    ],
)
def test_absolute_uris(text: str, scheme: str, opaque: str) -> None:
    uri = parse_uri(text)
    assert uri == AbsoluteUri(scheme, opaque)
    assert str(uri) == f"{scheme}:{opaque}"


@pytest.mark.parametrize(
    "text",
    [
        "sip:user@example.com; lr",  # embedded LWS
        "sip:user@exa mple.com",
        "sip:user@example.com\t",
        "sip:user@example.com:65536",  # bad port
        "sip:user@example.com:-1",
        "sip:user@example.com:port",
        "sip:user@example.com:",
        "sip:[::1",  # bad IPv6 references
        "sip:[::1]x",
        "sip:[1:2:3]",
        "sip:[1::2::3]",
        "sip:[192.0.2.1]",
        "sip:[1:2:3:4:5:6:7:8:9]",
        "sip:[::ffff:1.2.3.256]",
        "sip:",  # empty host
        "sip:user@",
        "sip:user@;lr",
        "sip:@example.com",  # empty user
        "<sip:user@example.com>",
        "sip:a@b;;lr",  # empty parameter name
        "sip:a@b?=x",
        "sip:bad_host!@ex!ample.com",
        "no-scheme",
        "1sip:x",
        ":opaque",
        "tel:",
        'sip:"quoted"@x',
    ],
)
def test_bad_uris(text: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_uri(text)
    assert info.value.status == 400


@pytest.mark.parametrize(
    "text",
    [
        "::",
        "::1",
        "1::",
        "2001:db8::10",
        "2001:db8:0:0:0:0:0:1",
        "fe80::1:2:3:4:5",
        "::ffff:192.0.2.1",
        "1:2:3:4:5:6:192.0.2.1",
        "1:2:3:4:5:6:7::",
        "::2:3:4:5:6:7:8",
    ],
)
def test_is_ipv6_accepts(text: str) -> None:
    ipaddress.IPv6Address(text)  # the reference agrees
    assert is_ipv6(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        ":",
        ":1",
        "1:",
        ":::",
        "1:::2",
        "1::2::3",
        "12345::",
        "1:2:3:4:5:6:7",
        "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:7:8::",
        "::1.2.3",
        "1.2.3.4::",
        "g::1",
        "1.2.3.4",
        "::1:2:3:4:5:6:7:8",
    ],
)
def test_is_ipv6_refuses(text: str) -> None:
    assert not is_ipv6(text)


def test_parse_host_port() -> None:
    assert parse_host_port("[2001:db8::10]:5070") == ("2001:db8::10", 5070)
    assert parse_host_port("example.com") == ("example.com", None)
    assert parse_host_port("example.com:0") == ("example.com", 0)
    with pytest.raises(SipParseError):
        parse_host_port("[::1]5060")
