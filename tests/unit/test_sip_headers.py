"""Header names, comma lists, parameters and the Headers multi-map."""

import pytest

from sems_lite.sip.errors import SipParseError
from sems_lite.sip.headers import (
    COMPACT_FORMS,
    Headers,
    canonical_name,
    format_params,
    parse_params,
    split_comma_list,
)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("v", "Via"),
        ("V", "Via"),
        ("f", "From"),
        ("t", "To"),
        ("i", "Call-ID"),
        ("I", "Call-ID"),
        ("m", "Contact"),
        ("l", "Content-Length"),
        ("c", "Content-Type"),
        ("e", "Content-Encoding"),
        ("s", "Subject"),
        ("k", "Supported"),
        ("o", "Event"),
        ("r", "Refer-To"),
        ("b", "Referred-By"),
        ("x", "Session-Expires"),
        ("u", "Allow-Events"),
        ("call-id", "Call-ID"),
        ("CALL-ID", "Call-ID"),
        ("cseq", "CSeq"),
        ("CSEQ", "CSeq"),
        ("www-authenticate", "WWW-Authenticate"),
        ("max-forwards", "Max-Forwards"),
        ("MaX-fOrWaRdS", "Max-Forwards"),
        ("content-length", "Content-Length"),
        ("record-route", "Record-Route"),
        ("x-my-header", "X-My-Header"),
        ("NewFangledHeader", "Newfangledheader"),
        ("z", "Z"),
    ],
)
def test_canonical_name(raw: str, canonical: str) -> None:
    assert canonical_name(raw) == canonical


def test_compact_forms_expand_to_their_own_canonical_spelling() -> None:
    for short, full in COMPACT_FORMS.items():
        assert canonical_name(short) == full
        assert canonical_name(full.upper()) == full


@pytest.mark.parametrize(
    ("value", "items"),
    [
        ("a, b ,c", ["a", "b", "c"]),
        ("INVITE,ACK", ["INVITE", "ACK"]),
        ('"Doe, John" <sip:j@x>, <sip:k@y>', ['"Doe, John" <sip:j@x>', "<sip:k@y>"]),
        (r'"a \", b" <sip:a@x>, <sip:b@x>', [r'"a \", b" <sip:a@x>', "<sip:b@x>"]),
        (r'"back\\", <sip:b@x>', [r'"back\\"', "<sip:b@x>"]),
        ("<sip:a@x;p=1,2>, <sip:b@x>", ["<sip:a@x;p=1,2>", "<sip:b@x>"]),
        ("a,,b, ,", ["a", "b"]),
        ("", []),
        ("*", ["*"]),
        ('"unterminated, <x>', ['"unterminated, <x>']),
    ],
)
def test_split_comma_list(value: str, items: list[str]) -> None:
    assert split_comma_list(value) == items


def test_parse_params_names_lowered_values_kept() -> None:
    params = parse_params(' ; Tag = AbC ;lr; Expires=60;x="a;b \\" c"', "test")
    assert params == {"tag": "AbC", "lr": None, "expires": "60", "x": '"a;b \\" c"'}
    assert parse_params("") == {}
    assert format_params({"tag": "1", "lr": None}) == ";tag=1;lr"


@pytest.mark.parametrize("text", [";;", ";", ";a=", ";a b", "junk", ";a=b c", ";=1"])
def test_parse_params_rejects(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_params(text)


def test_headers_lookup_is_case_insensitive_and_compact_aware() -> None:
    h = Headers([("v", "SIP/2.0/UDP a"), ("CALL-ID", "x@y"), ("to", "<sip:b@c>")])
    assert h.items() == [("Via", "SIP/2.0/UDP a"), ("Call-ID", "x@y"), ("To", "<sip:b@c>")]
    assert h.get("i") == "x@y"
    assert h.get("call-id") == "x@y"
    assert "VIA" in h
    assert "t" in h
    assert "From" not in h
    assert 5 not in h
    assert h.get("From") is None
    assert h.get("From", "dflt") == "dflt"


def test_get_all_splits_list_headers_only() -> None:
    h = Headers(
        [
            ("Via", "SIP/2.0/UDP a;branch=1, SIP/2.0/UDP b;branch=2"),
            ("Via", "SIP/2.0/TCP c"),
            ("Subject", "hello, world"),
            ("Contact", "*"),
            ("Allow", "INVITE, ACK,BYE"),
            ("Supported", ""),
        ]
    )
    assert h.get_all("via") == ["SIP/2.0/UDP a;branch=1", "SIP/2.0/UDP b;branch=2", "SIP/2.0/TCP c"]
    assert h.get("Via") == "SIP/2.0/UDP a;branch=1"
    assert h.get_all("Subject") == ["hello, world"]
    assert h.get("Subject") == "hello, world"
    assert h.get_all("m") == ["*"]
    assert h.get_all("Allow") == ["INVITE", "ACK", "BYE"]
    assert h.get_all("Supported") == []
    assert "Supported" in h
    assert h.count("Via") == 2
    assert h.get_all("Missing") == []


def test_set_replaces_all_in_place_of_the_first() -> None:
    h = Headers([("X-A", "1"), ("X-B", "2"), ("X-A", "3"), ("X-C", "4")])
    h.set("x-a", "9")
    assert h.items() == [("X-A", "9"), ("X-B", "2"), ("X-C", "4")]
    h.set("X-D", "5")
    assert h.items()[-1] == ("X-D", "5")


def test_add_remove_copy_eq() -> None:
    h = Headers()
    h.add("x-a", "1")
    h.add("X-A", "2")
    h.add("X-B", "3")
    assert h.get_all("X-A") == ["1", "2"]
    c = h.copy()
    assert c == h
    c.remove("x-a")
    assert c.items() == [("X-B", "3")]
    assert h.get_all("X-A") == ["1", "2"]  # the copy is independent
    assert c != h
    assert len(h) == 3
    assert "X-A" in repr(h)
    assert h != [("X-A", "1")]


def test_order_matters_for_equality() -> None:
    assert Headers([("X-A", "1"), ("X-B", "2")]) != Headers([("X-B", "2"), ("X-A", "1")])


@pytest.mark.parametrize("value", ["a\r\nVia: x", "a\nb", "a\rb"])
def test_values_with_line_breaks_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        Headers([("Subject", value)])
    with pytest.raises(ValueError):
        Headers().add("Subject", value)
    with pytest.raises(ValueError):
        Headers().set("Subject", value)


def test_known_names_are_cached_from_the_start() -> None:
    from sems_lite.sip import headers

    before = len(headers._name_cache)
    for wire in ("User-Agent", "Session-Expires", "Content-Length", "v", "Call-ID"):
        name = "".join(wire)  # a fresh string, as parsed from a packet
        assert canonical_name(name) == canonical_name(wire)
    # Nothing made from a packet was kept: such strings would outlive the load they came in.
    assert len(headers._name_cache) == before
