"""RFC 4475 torture messages: each of the 49 gets the outcome the RFC asks for.

Outcomes:
- "parse": a valid request; it parses and `check_request` lets it through (methods the
  server does not implement, like intmeth's, get 405/501 later: not this layer's job).
- ("parse_error", status): `parse_message` raises SipParseError with that status.
- ("reject", status): it parses, and `check_request` returns that status.
- "response": a valid response; it parses as a Response (bcast: dropping it is the
  transaction layer's business, the message itself is well-formed).
- "drop": an invalid response; `parse_message` raises SipParseError (nobody to tell).
"""

import dataclasses
import os
from pathlib import Path

import pytest

from sems_lite.sip.errors import SipParseError
from sems_lite.sip.message import Request, Response, parse_message
from sems_lite.sip.validate import check_request

REPO_ROOT = Path(__file__).resolve().parents[2]


def _data_dir() -> Path | None:
    candidates = [REPO_ROOT.parent / "shared" / "testdata" / "rfc4475"]
    if os.environ.get("SEMS_LITE_RFC4475"):
        candidates.append(Path(os.environ["SEMS_LITE_RFC4475"]))
    for path in candidates:
        if (path / "wsinv.dat").is_file():
            return path
    return None


DATA = _data_dir()
needs_data = pytest.mark.skipif(
    DATA is None,
    reason="RFC 4475 messages not found in ../shared/testdata/rfc4475 nor $SEMS_LITE_RFC4475",
)

EXPECTED: dict[str, object] = {
    # 3.1.1 valid messages
    "wsinv.dat": "parse",
    "intmeth.dat": "parse",  # unknown method: 405/501 is the server's answer
    "esc01.dat": "parse",
    "escnull.dat": "parse",
    "esc02.dat": "parse",
    "lwsdisp.dat": "parse",
    "longreq.dat": "parse",
    "dblreq.dat": "parse",
    "semiuri.dat": "parse",
    "transports.dat": "parse",
    # A MESSAGE with text/plain + octet-stream parts: RFC 4475 asks that it be framed
    # and parsed; a media server accepting only SDP then owes it a 415 (or a 405 first).
    "mpart01.dat": ("reject", 415),
    "unreason.dat": "response",
    "noreason.dat": "response",
    # 3.1.2 invalid messages
    "badinv01.dat": ("reject", 400),
    "clerr.dat": ("parse_error", 400),
    "ncl.dat": ("parse_error", 400),
    "scalar02.dat": ("reject", 400),
    "scalarlg.dat": "drop",
    "quotbal.dat": ("reject", 400),
    "ltgtruri.dat": ("parse_error", 400),
    "lwsruri.dat": ("parse_error", 400),
    "lwsstart.dat": ("parse_error", 400),
    "trws.dat": ("parse_error", 400),  # strict: trailing SP is not in the grammar
    "escruri.dat": ("reject", 400),
    "baddate.dat": "parse",  # Date is never interpreted, so tolerated
    "regbadct.dat": ("reject", 400),
    "badaspec.dat": ("reject", 400),
    "baddn.dat": ("reject", 400),
    "badvers.dat": ("parse_error", 505),
    "mismatch01.dat": ("reject", 400),
    "mismatch02.dat": ("reject", 400),
    "bigcode.dat": "drop",
    # 3.2 transaction layer
    "badbranch.dat": "parse",
    # 3.3 application layer
    "insuf.dat": ("reject", 400),
    "unkscm.dat": ("reject", 416),
    "novelsc.dat": ("reject", 416),
    "unksm2.dat": "parse",
    "bext01.dat": ("reject", 420),
    "invut.dat": ("reject", 415),
    "regaut01.dat": "parse",
    "multi01.dat": ("reject", 400),
    "mcl01.dat": ("parse_error", 400),
    "bcast.dat": "response",
    "zeromf.dat": "parse",
    "cparam01.dat": "parse",
    "cparam02.dat": "parse",
    "regescrt.dat": "parse",
    "sdp01.dat": ("reject", 406),
    # 3.4 backward compatibility
    "inv2543.dat": "parse",
}


def load(name: str) -> bytes:
    assert DATA is not None
    return (DATA / name).read_bytes()


def test_table_covers_the_49_messages() -> None:
    assert len(EXPECTED) == 49
    if DATA is not None:
        assert sorted(p.name for p in DATA.glob("*.dat")) == sorted(EXPECTED)


@needs_data
@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED.items()))
def test_torture_message(name: str, expected: object) -> None:
    data = load(name)
    if expected == "drop":
        with pytest.raises(SipParseError):
            parse_message(data)
        return
    if isinstance(expected, tuple) and expected[0] == "parse_error":
        with pytest.raises(SipParseError) as info:
            parse_message(data)
        assert info.value.status == expected[1]
        partial = info.value.partial
        # Enough survives to answer: the 400/505 copies Via, From, To, Call-ID, CSeq.
        assert isinstance(partial, Request)
        assert partial.vias and partial.call_id and partial.cseq
        return
    msg = parse_message(data)
    if expected == "response":
        assert isinstance(msg, Response)
        assert msg.vias and msg.cseq
        return
    assert isinstance(msg, Request)
    rejection = check_request(msg)
    if expected == "parse":
        assert rejection is None, rejection
    else:
        assert isinstance(expected, tuple) and expected[0] == "reject"
        assert rejection is not None and rejection.status == expected[1], rejection


@needs_data
def test_wsinv_details() -> None:
    req = parse_message(load("wsinv.dat"))
    assert isinstance(req, Request)
    assert req.to_addr.tag == "1918181833n"
    assert req.from_addr.display_name == 'J Rosenberg \\"'
    assert req.from_addr.tag == "98asjd8"
    assert req.max_forwards == 68
    assert (req.cseq.number, req.cseq.method) == (9, "INVITE")
    assert [(v.transport, v.host, v.branch) for v in req.vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    (contact,) = req.contacts
    assert contact.display_name == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert req.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert req.headers.get("Subject") == ""
    assert len(req.body) == 150


@needs_data
def test_framing_details() -> None:
    dbl = parse_message(load("dblreq.dat"))
    assert isinstance(dbl, Request) and dbl.method == "REGISTER" and dbl.body == b""
    mpart = parse_message(load("mpart01.dat"))
    assert len(mpart.body) == 553 and b"\x00" in mpart.body
    assert check_request(mpart, accept=("text/plain",)) is None  # a part is acceptable
    inv = parse_message(load("inv2543.dat"))  # no Content-Length: the rest of the datagram
    assert inv.body.startswith(b"v=0") and inv.body.endswith(b"RTP/AVP 0\r\n")


@needs_data
def test_escapes_and_schemes() -> None:
    esc = parse_message(load("esc01.dat"))
    assert isinstance(esc, Request)
    assert esc.uri.user_unescaped == "sips:user@example.com"  # type: ignore[union-attr]
    assert esc.from_addr.uri.user_unescaped == "I have spaces"  # type: ignore[union-attr]
    null = parse_message(load("escnull.dat"))
    assert [c.uri.user_unescaped for c in null.contacts] == ["\x00", "\x00\x00"]  # type: ignore[union-attr]
    esc02 = parse_message(load("esc02.dat"))
    assert isinstance(esc02, Request) and esc02.method == "RE%47IST%45R"
    assert len(esc02.contacts) == 2  # C%6Fntact is another header
    novel = parse_message(load("novelsc.dat"))
    assert isinstance(novel, Request)
    assert check_request(novel, schemes=("sip", "sips", "soap.beep")) is None


@needs_data
def test_rejection_headers() -> None:
    bext = check_request(parse_message(load("bext01.dat")))  # type: ignore[arg-type]
    assert bext is not None
    assert bext.headers == [
        (
            "Unsupported",
            "nothingSupportsThis, nothingSupportsThisEither, "
            "noProxiesSupportThis, norDoAnyProxiesSupportThis",
        )
    ]
    invut = check_request(parse_message(load("invut.dat")))  # type: ignore[arg-type]
    assert invut is not None and invut.headers == [("Accept", "application/sdp")]


@needs_data
def test_responses() -> None:
    bcast = parse_message(load("bcast.dat"))
    assert isinstance(bcast, Response)
    assert [v.host for v in bcast.vias] == ["192.0.2.198", "255.255.255.255"]
    unreason = parse_message(load("unreason.dat"))
    assert isinstance(unreason, Response)
    assert unreason.reason.startswith("= 2**3 * 5**2 ")
    assert "простое" in unreason.reason
    noreason = parse_message(load("noreason.dat"))
    assert isinstance(noreason, Response) and noreason.reason == ""


@needs_data
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_serialize_of_what_parses_parses_again(name: str) -> None:
    try:
        msg = parse_message(load(name))
    except SipParseError:
        return
    again = parse_message(msg.serialize())
    headers = msg.headers.copy()
    headers.set("Content-Length", str(len(msg.body)))  # what serialize writes
    assert again == dataclasses.replace(msg, headers=headers)
    assert again.serialize() == msg.serialize()
