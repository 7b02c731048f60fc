"""name-addr / addr-spec parsing (RFC 3261 §20.10)."""

import pytest

from sems_lite.sip.address import Address, parse_address
from sems_lite.sip.errors import SipParseError
from sems_lite.sip.uri import AbsoluteUri, SipUri


def test_name_addr_with_quoted_display_name() -> None:
    addr = parse_address('"Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423')
    assert addr.display_name == "Bell, Alexander"
    assert addr.uri == SipUri(user="a.g.bell", host="example.com")
    assert addr.params == {"tag": "433423"}
    assert addr.tag == "433423"
    assert str(addr) == '"Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423'


def test_escaped_quotes_and_backslashes_in_display_name() -> None:
    addr = parse_address(r'"J Rosenberg \\\""  <sip:jdrosen@example.com> ; tag = 98asjd8')
    assert addr.display_name == 'J Rosenberg \\"'
    assert addr.tag == "98asjd8"
    assert str(addr) == r'"J Rosenberg \\\"" <sip:jdrosen@example.com>;tag=98asjd8'
    assert parse_address(str(addr)) == addr


def test_control_characters_survive_a_round_trip() -> None:
    addr = parse_address('"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:x@example.com>')
    assert addr.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert parse_address(str(addr)) == addr


@pytest.mark.parametrize(
    ("text", "display"),
    [
        ("caller<sip:caller@example.com>", "caller"),
        ("A. Bell <sip:a.g.bell@example.com>", "A. Bell"),
        ("token1~` token2'+_ token3*%!.- <sip:m@example.com>", "token1~` token2'+_ token3*%!.-"),
        ("<sip:x@example.com>", None),
        ('"" <sip:x@example.com>', ""),
    ],
)
def test_token_display_names(text: str, display: str | None) -> None:
    assert parse_address(text).display_name == display


def test_addr_spec_params_belong_to_the_header() -> None:
    addr = parse_address("sip:+19725552222@gw1.example.net;unknownparam")
    assert addr.uri == SipUri(user="+19725552222", host="gw1.example.net")
    assert addr.params == {"unknownparam": None}
    assert str(addr) == "<sip:+19725552222@gw1.example.net>;unknownparam"


def test_name_addr_params_inside_brackets_belong_to_the_uri() -> None:
    addr = parse_address("<sip:+19725552222@gw1.example.net;unknownparam>")
    assert isinstance(addr.uri, SipUri)
    assert addr.uri.params == {"unknownparam": None}
    assert addr.params == {}


def test_addr_spec_with_whitespace_before_params() -> None:
    addr = parse_address("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n")
    assert addr.tag == "1918181833n"
    assert addr.uri == SipUri(user="vivekg", host="chair-dnrc.example.com")


def test_other_schemes() -> None:
    assert parse_address("isbn:2983792873").uri == AbsoluteUri("isbn", "2983792873")
    addr = parse_address("<http://www.example.com>;tag=3234233")
    assert addr.uri == AbsoluteUri("http", "//www.example.com")
    assert addr.tag == "3234233"


def test_params_with_quoted_values_and_case() -> None:
    addr = parse_address('<sip:a@b>;Expires=60;+sip.instance="<urn:uuid:1;2>";Q=0.5')
    assert addr.params == {"expires": "60", "+sip.instance": '"<urn:uuid:1;2>"', "q": "0.5"}


def test_str_quotes_only_when_needed() -> None:
    uri = SipUri(user="a", host="b")
    assert str(Address(uri)) == "<sip:a@b>"
    assert str(Address(uri, "Alice Smith")) == "Alice Smith <sip:a@b>"
    assert str(Address(uri, "Smith, Alice")) == '"Smith, Alice" <sip:a@b>'
    assert str(Address(uri, "two  spaces")) == '"two  spaces" <sip:a@b>'
    assert str(Address(uri, 'say "hi"')) == r'"say \"hi\"" <sip:a@b>'
    assert str(Address(uri, "")) == '"" <sip:a@b>'
    assert str(Address(uri, None, {"tag": "x", "lr": None})) == "<sip:a@b>;tag=x;lr"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        '"Mr. J. User <sip:j.user@example.com>',  # unterminated quoted string
        "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",  # non-token display name
        "Watson, Thomas <sip:t.watson@example.org>",
        "< sip:t.watson@example.org >",  # spaces inside <>
        "<sip:t.watson@example.org >",
        "sip:user@example.com?Route=%3Csip:sip.example.com%3E",  # '?' needs <>
        "sip:a@b,sip:c@d",
        "sip:user@exa mple.com",  # spaces in addr-spec
        "sip:user@example.com junk",
        "<sip:a@b",
        '"name" sip:a@b',
        "<sip:a@b>junk",
        "<sip:a@b>;;;;",
        "<sip:a@b>;tag=",
        "<>",
    ],
)
def test_bad_addresses(text: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_address(text)
    assert info.value.status == 400
