"""DTMF in SIP INFO bodies: application/dtmf-relay and application/dtmf."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sems_lite.rtp.dtmf import EVENTS
from sems_lite.sip.dtmf_info import DEFAULT_DURATION_MS, parse_dtmf_body, parse_dtmf_relay


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"Signal=5\r\nDuration=160\r\n", ("5", 160)),
        (b"Signal=5\nDuration=160\n", ("5", 160)),
        (b"Signal=5\r\nDuration=160", ("5", 160)),  # no final line break
        (b"signal=5\r\nduration=160\r\n", ("5", 160)),
        (b"SIGNAL=5\r\nDURATION=160\r\n", ("5", 160)),
        (b"Signal = 5\r\nDuration = 160\r\n", ("5", 160)),
        (b"Signal= 5 \r\nDuration=\t160\t\r\n", ("5", 160)),
        (b"  Signal=5\r\n  Duration=160\r\n", ("5", 160)),
        (b"Duration=160\r\nSignal=5\r\n", ("5", 160)),  # order does not matter
        (b"Signal=*\r\nDuration=100\r\n", ("*", 100)),
        (b"Signal=#\r\nDuration=100\r\n", ("#", 100)),
        (b"Signal=10\r\nDuration=100\r\n", ("*", 100)),  # event-code spelling
        (b"Signal=11\r\nDuration=100\r\n", ("#", 100)),
        (b"Signal=12\r\n", ("A", DEFAULT_DURATION_MS)),
        (b"Signal=A\r\nDuration=250\r\n", ("A", 250)),
        (b"Signal=d\r\nDuration=250\r\n", ("D", 250)),
        (b"Signal=0\r\n", ("0", 250)),  # no Duration: the default
        (b"Signal=9\r\nDuration=abc\r\n", ("9", 250)),  # a bad Duration is not fatal
        (b"Signal=9\r\nDuration=-40\r\n", ("9", 250)),
        (b"Signal=7\r\nDuration=100\r\nVolume=10\r\nX-Foo: bar\r\n", ("7", 100)),
        (b"Signal=1\r\nSignal=2\r\nDuration=80\r\nDuration=90\r\n", ("1", 80)),  # first wins
        (b"\r\nSignal=3\r\n\r\nDuration=60\r\n\r\n", ("3", 60)),
    ],
)
def test_dtmf_relay_spellings(body: bytes, expected: tuple[str, int]) -> None:
    assert parse_dtmf_relay(body) == expected
    assert parse_dtmf_body("application/dtmf-relay", body) == expected


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"Duration=160\r\n",
        b"Signal=\r\nDuration=160\r\n",
        b"Signal=E\r\n",
        b"Signal=16\r\n",  # flash is not a digit
        b"Signal=55\r\n",
        b"Signal=12a\r\n",
        b"Signal=+\r\n",
        b"Signal 5\r\n",  # no '='
        b"Sig=5\r\n",
        "Signal=\u0661\u0660\r\n".encode(),  # non-ASCII digits
        b"Signal=\xff\r\n",
    ],
)
def test_dtmf_relay_without_a_valid_signal(body: bytes) -> None:
    assert parse_dtmf_relay(body) is None


@pytest.mark.parametrize("digit", list(EVENTS))
def test_every_digit(digit: str) -> None:
    assert parse_dtmf_relay(f"Signal={digit}\r\nDuration=100\r\n".encode()) == (digit, 100)
    assert parse_dtmf_body("application/dtmf", digit.encode()) == (digit, DEFAULT_DURATION_MS)


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("application/dtmf", b"5", ("5", 250)),
        ("application/dtmf", b"5\r\n", ("5", 250)),
        ("application/dtmf", b" # ", ("#", 250)),
        ("application/dtmf", b"b", ("B", 250)),
        ("application/dtmf", b"11", ("#", 250)),
        ("Application/DTMF", b"4", ("4", 250)),
        ("application/dtmf;charset=utf-8", b"4", ("4", 250)),
        ("application/dtmf", b"Signal=6\r\nDuration=90\r\n", ("6", 90)),  # relay form tolerated
        ("APPLICATION/DTMF-RELAY ; foo=bar", b"Signal=2\r\n", ("2", 250)),
        ("application/dtmf", b"", None),
        ("application/dtmf", b"55", None),
        ("application/dtmf", b"x", None),
        ("text/plain", b"Signal=5\r\n", None),
        ("application/sdp", b"5", None),
        ("", b"5", None),
    ],
)
def test_parse_dtmf_body_by_type(
    content_type: str, body: bytes, expected: tuple[str, int] | None
) -> None:
    assert parse_dtmf_body(content_type, body) == expected


@given(st.binary(max_size=200), st.sampled_from(["application/dtmf-relay", "application/dtmf"]))
def test_random_bodies_never_raise(body: bytes, content_type: str) -> None:
    got = parse_dtmf_body(content_type, body)
    assert got is None or (got[0] in EVENTS and got[1] >= 0)
