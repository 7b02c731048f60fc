"""Property tests: serialize/parse round trips and robustness against hostile bytes."""

import dataclasses
import string
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sems_lite.sip.address import Address, parse_address
from sems_lite.sip.errors import SipParseError
from sems_lite.sip.headers import Headers, canonical_name
from sems_lite.sip.message import Request, Response, frame_stream, parse_message
from sems_lite.sip.uri import SipUri, parse_uri
from sems_lite.sip.validate import check_request
from sems_lite.sip.via import Via, parse_via

SETTINGS = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
NOISE = settings(SETTINGS, max_examples=1000)  # cheap inputs: many more of them

TOKEN_CHARS = string.ascii_letters + string.digits + "-.!%*_+`'~"
LOWER_TOKEN_CHARS = string.ascii_lowercase + string.digits + "-.!%*_+`'~"
UNRESERVED = string.ascii_letters + string.digits + "-_.!~*'()"

tokens = st.text(TOKEN_CHARS, min_size=1, max_size=12)
lower_tokens = st.text(LOWER_TOKEN_CHARS, min_size=1, max_size=10)
escapes = st.integers(0, 255).map(lambda b: f"%{b:02X}")


def chars(alphabet: str, min_size: int = 1, max_size: int = 10) -> st.SearchStrategy[str]:
    pieces = st.one_of(st.sampled_from(list(alphabet)), escapes)
    return st.lists(pieces, min_size=min_size, max_size=max_size).map("".join)


hostnames = st.lists(
    st.text(string.ascii_letters + string.digits + "-", min_size=1, max_size=8),
    min_size=1,
    max_size=3,
).map(".".join)
hosts = st.one_of(
    hostnames,
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
)
ports = st.none() | st.integers(0, 65535)


@st.composite
def sip_uris(draw: st.DrawFn, with_headers: bool = True) -> SipUri:
    user = draw(st.none() | chars(UNRESERVED + "&=+$,;?/"))
    password = draw(st.none() | chars(UNRESERVED + "&=+$,", min_size=0)) if user else None
    params = draw(
        st.dictionaries(
            st.text(string.ascii_lowercase + string.digits + "-_.!~*'()", min_size=1, max_size=8),
            st.none() | chars(UNRESERVED + "[]/:&+$"),
            max_size=3,
        )
    )
    headers = {}
    if with_headers:
        headers = draw(
            st.dictionaries(
                st.text(string.ascii_letters + "-", min_size=1, max_size=8),
                chars(UNRESERVED + "[]/?:+$", min_size=0),
                max_size=2,
            )
        )
    return SipUri(
        scheme=draw(st.sampled_from(["sip", "sips"])),
        user=user,
        password=password,
        host=draw(hosts),
        port=draw(ports),
        params=params,
        headers=headers,
    )


text_no_breaks = st.text(
    st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=20
)
header_params = st.dictionaries(lower_tokens, st.none() | tokens, max_size=3)


@st.composite
def addresses(draw: st.DrawFn) -> Address:
    display = draw(
        st.none() | st.lists(tokens, min_size=1, max_size=3).map(" ".join) | text_no_breaks
    )
    return Address(draw(sip_uris()), display, draw(header_params))


@st.composite
def vias(draw: st.DrawFn) -> Via:
    params: dict[str, str | None] = {"branch": "z9hG4bK" + draw(tokens)}
    if draw(st.booleans()):
        params["rport"] = draw(st.none() | st.integers(1, 65535).map(str))
    if draw(st.booleans()):
        params["received"] = draw(st.ip_addresses(v=4).map(str))
    params.update(draw(header_params))
    transport = draw(st.sampled_from(["UDP", "TCP", "TLS", "SCTP", "WS"]) | tokens.map(str.upper))
    return Via(transport, draw(hosts), draw(ports), params)


# Headers whose values the parser reads itself (framing, response checks).
STRUCTURAL = {"Content-Length", "Via", "To", "From", "Call-ID", "CSeq"}
extra_names = tokens.filter(lambda n: canonical_name(n) not in STRUCTURAL)
extra_values = text_no_breaks.filter(lambda v: v == v.strip(" \t"))
methods = st.sampled_from(["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER"]) | tokens


@st.composite
def header_lists(draw: st.DrawFn, method: str) -> Headers:
    items = [("Via", str(v)) for v in draw(st.lists(vias(), min_size=1, max_size=3))]
    items += [
        ("To", str(draw(addresses()))),
        ("From", str(draw(addresses()))),
        ("Call-ID", draw(tokens) + "@" + draw(hostnames)),
        ("CSeq", f"{draw(st.integers(0, 2**31 - 1))} {method}"),
    ]
    items += draw(st.lists(st.tuples(extra_names, extra_values), max_size=5))
    return Headers(items)


bodies = st.binary(max_size=300)


@st.composite
def requests(draw: st.DrawFn) -> Request:
    method = draw(methods)
    headers = draw(header_lists(method))
    body = draw(bodies)
    headers.add("Content-Length", str(len(body)))
    return Request(method, draw(sip_uris()), headers, body)


@st.composite
def responses(draw: st.DrawFn) -> Response:
    headers = draw(header_lists(draw(methods)))
    body = draw(bodies)
    headers.add("Content-Length", str(len(body)))
    return Response(draw(st.integers(100, 699)), draw(text_no_breaks), headers, body)


messages = st.one_of(requests(), responses())


# -- round trips ------------------------------------------------------------------------


@SETTINGS
@given(sip_uris())
def test_uri_round_trip(uri: SipUri) -> None:
    assert parse_uri(str(uri)) == uri


@SETTINGS
@given(addresses())
def test_address_round_trip(addr: Address) -> None:
    assert parse_address(str(addr)) == addr


@SETTINGS
@given(vias())
def test_via_round_trip(via: Via) -> None:
    assert parse_via(str(via)) == via


@SETTINGS
@given(messages)
def test_message_round_trip(msg: Request | Response) -> None:
    data = msg.serialize()
    assert parse_message(data) == msg
    assert parse_message(b"\r\n" + data + b"trailing junk") == msg


@SETTINGS
@given(messages)
def test_typed_views_agree_with_what_was_built(msg: Request | Response) -> None:
    parsed = parse_message(msg.serialize())
    assert [str(v) for v in parsed.vias] == msg.headers.get_all("Via")
    assert str(parsed.to_addr) == msg.headers.get("To")
    assert str(parsed.from_addr) == msg.headers.get("From")
    assert str(parsed.cseq) == msg.headers.get("CSeq")


# -- robustness -------------------------------------------------------------------------


def _parse_or_refuse(data: bytes) -> None:
    try:
        msg = parse_message(data)
    except SipParseError as exc:
        assert 400 <= exc.status <= 505
        return
    # What parses must serialize, and the result must parse to the same thing again.
    once = msg.serialize()
    again = parse_message(once)
    assert again.serialize() == once
    headers = msg.headers.copy()
    headers.set("Content-Length", str(len(msg.body)))
    assert again == dataclasses.replace(msg, headers=headers)
    if isinstance(msg, Request):  # the UAS checks never crash on what parsed
        rejection = check_request(msg)
        assert rejection is None or 400 <= rejection.status < 500


@NOISE
@given(st.binary(max_size=1500))
def test_random_bytes_only_raise_sip_parse_error(data: bytes) -> None:
    _parse_or_refuse(data)


sip_ish = st.lists(
    st.sampled_from(
        [
            b"INVITE ",
            b"SIP/2.0",
            b" ",
            b"\r\n",
            b"\n",
            b":",
            b";",
            b",",
            b"<",
            b">",
            b'"',
            b"\\",
            b"sip:",
            b"@",
            b"[",
            b"]",
            b"Via",
            b"l",
            b"Content-Length",
            b"0",
            b"99",
            b"\t",
            b"=",
            b"%",
            b"\x00",
            b"\xff",
            b"tag",
            b"CSeq",
            b"To",
            b"SIP/2.0 200 OK",
        ]
    ),
    max_size=60,
).map(b"".join)


@NOISE
@given(sip_ish)
def test_sip_like_noise_only_raises_sip_parse_error(data: bytes) -> None:
    _parse_or_refuse(data)


def _samples() -> list[bytes]:
    base = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "rfc4475"
    return [p.read_bytes() for p in sorted(base.glob("*.dat"))] if base.is_dir() else []


SAMPLES = _samples()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    pool = [st.sampled_from(SAMPLES)] if SAMPLES else []
    data = bytearray(draw(st.one_of(messages.map(lambda m: m.serialize()), *pool)))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "dup"]))
        if op == "flip":
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(
                st.sampled_from([b" ", b"\r\n", b"\r\n ", b":", b";", b'"', b"<", b"\x80"])
            )
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[pos:]
        else:
            end = data.find(b"\n", pos)
            data[pos:pos] = data[pos : end + 1 if end >= 0 else len(data)]
    return bytes(data)


@SETTINGS
@given(mutated())
def test_mutated_messages_only_raise_sip_parse_error(data: bytes) -> None:
    _parse_or_refuse(data)


@SETTINGS
@given(st.one_of(st.binary(max_size=1500), sip_ish, mutated()), st.integers(16, 2048))
def test_frame_stream_only_raises_sip_parse_error(data: bytes, max_size: int) -> None:
    buffer = bytearray(data)
    for _ in range(len(data) + 1):
        before = len(buffer)
        try:
            out = frame_stream(buffer, max_size)
        except SipParseError:
            return
        if out is None:
            assert len(buffer) <= before
            return
        assert len(out) > 0 and len(buffer) + len(out) <= before


@settings(SETTINGS, max_examples=60)
@given(
    st.lists(messages, min_size=1, max_size=4),
    st.lists(st.sampled_from([b"", b"\r\n", b"\r\n\r\n"]), min_size=4, max_size=4),
    st.lists(st.integers(1, 400), min_size=1, max_size=20),
)
def test_frame_stream_reassembles_any_chunking(
    msgs: list[Request | Response], keepalives: list[bytes], cuts: list[int]
) -> None:
    wire = [m.serialize() for m in msgs]
    stream = b"".join(k + w for k, w in zip(keepalives, wire, strict=False))
    buffer = bytearray()
    got = []
    pos = 0
    for size in [*cuts, len(stream)]:
        buffer += stream[pos : pos + size]
        pos += size
        while (out := frame_stream(buffer)) is not None:
            got.append(out)
        if pos >= len(stream):
            break
    assert got == wire
    assert [parse_message(g) for g in got] == msgs
