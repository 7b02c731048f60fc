"""CSeq (RFC 3261 §20.16)."""

import pytest

from sems_lite.sip.cseq import MAX_CSEQ, CSeq, parse_cseq
from sems_lite.sip.errors import SipParseError


def test_parse_and_str() -> None:
    assert parse_cseq("314159 INVITE") == CSeq(314159, "INVITE")
    assert parse_cseq(" 0009   INVITE ") == CSeq(9, "INVITE")
    assert parse_cseq("0 ACK") == CSeq(0, "ACK")
    assert parse_cseq(f"{MAX_CSEQ} BYE").number == 2**31 - 1
    assert str(CSeq(1, "INVITE")) == "1 INVITE"
    assert parse_cseq("29344 RE%47IST%45R").method == "RE%47IST%45R"


def test_frozen() -> None:
    cseq = CSeq(1, "INVITE")
    with pytest.raises(AttributeError):
        cseq.number = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "INVITE",
        "1",
        "-1 INVITE",
        "1INVITE",
        f"{2**31} INVITE",
        "36893488147419103232 REGISTER",
        "9" * 5000 + " INVITE",
        "1 INV ITE",
        "1.5 INVITE",
        "١ INVITE",  # a non-ASCII digit
    ],
)
def test_bad_cseq(text: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_cseq(text)
    assert info.value.status == 400
