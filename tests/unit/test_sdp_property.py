"""Property tests: the parser only ever fails with SdpError; generated SDPs round-trip."""

import contextlib
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from sems_lite.sdp import (
    DEFAULT_CODECS,
    Connection,
    MediaDescription,
    NotAcceptable,
    Origin,
    SdpError,
    SessionDescription,
    make_answer,
    parse_sdp,
)

TOKEN = st.text(string.ascii_letters + string.digits + "-.:/+_*#", min_size=1, max_size=12)
# Free text: anything but line breaks, not ending in a blank (the parser trims those).
TEXT = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"), max_size=20
).filter(lambda s: s == s.rstrip(" \t"))
NONEMPTY_TEXT = TEXT.filter(bool)
NAME = st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=10)


@settings(deadline=None)  # timing is not the property; cold first runs are slow
@given(st.binary(max_size=400))
def test_random_bytes_only_raise_sdp_error(data: bytes) -> None:
    with contextlib.suppress(SdpError):
        parse_sdp(data)


# Real lines mixed with noise reach deeper than random text alone.
REAL_LINE = st.sampled_from(
    [
        "m=audio 4000 RTP/AVP 0 8 101",
        "m=audio 0 RTP/AVP 0",
        "m=video 4002 RTP/AVP 96",
        "m=audio 4004 RTP/SAVP 0",
        "m=audio 4006/2 RTP/AVP 999 128 abc 18 8",
        "c=IN IP4 192.0.2.1",
        "c=IN IP4 0.0.0.0",
        "c=IN IP6 ::",
        "c=IN IP4 224.2.1.1/127",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMU/16000",
        "a=rtpmap:101 telephone-event/8000",
        "a=rtpmap:999 PCMA/8000",
        "a=rtpmap:8 PCMA/99999999999",
        "a=fmtp:101 0-16",
        "a=ptime:20",
        "a=ptime:-5",
        "a=sendonly",
        "a=inactive",
        "a=rtcp-mux",
        "t=0 0",
        "b=AS:64",
    ]
)
NOISE_LINE = st.tuples(st.sampled_from("vosiuepcbtrzkamx="), st.text(max_size=30)).map(
    lambda t: f"{t[0]}={t[1]}"
)
ANY_LINE = st.text(max_size=10)
# Mostly real lines, so that some soups parse and reach offer/answer.
LINE = st.integers(0, 19).flatmap(
    lambda n: NOISE_LINE if n == 19 else ANY_LINE if n == 18 else REAL_LINE
)
DIRECTIONS = {"sendrecv", "sendonly", "recvonly", "inactive"}


@settings(max_examples=300, deadline=None)
@given(st.lists(LINE, max_size=15), st.sampled_from(["\r\n", "\n"]))
def test_random_line_soup_only_raises_sdp_error(lines: list[str], eol: str) -> None:
    # Starting with a valid header gets the fuzzing past the first checks.
    text = "v=0" + eol + "o=- 1 1 IN IP4 h" + eol + eol.join(lines)
    try:
        desc = parse_sdp(text)
    except SdpError:
        return
    # Helpers must cope with whatever the parser let through, and stay in range.
    for i, m in enumerate(desc.media):
        maps = m.rtpmaps()
        assert all(0 <= pt <= 127 for pt in maps) and len(maps) <= len(m.formats)
        assert all(0 <= pt <= 127 for pt in m.fmtp())
        assert m.ptime is None or m.ptime > 0
        assert m.direction in DIRECTIONS
        assert desc.media_direction(i) in DIRECTIONS
        assert isinstance(m.rtcp_mux, bool)
    try:
        _, stream = make_answer(
            desc,
            DEFAULT_CODECS,
            local_address="192.0.2.1",
            local_port=4000,
            session_id="1",
            session_version=1,
        )
    except NotAcceptable:
        return
    assert stream.direction in DIRECTIONS
    assert stream.payload_type in (0, 8)


connections = st.builds(Connection, st.just("IN"), st.sampled_from(["IP4", "IP6"]), TOKEN)
attributes = st.lists(st.tuples(NAME, st.none() | TEXT), max_size=5)


@st.composite
def media_descriptions(draw: st.DrawFn) -> MediaDescription:
    connection = draw(st.none() | connections)
    return MediaDescription(
        media=draw(st.sampled_from(["audio", "video", "application"])),
        port=draw(st.integers(0, 65535)),
        proto=draw(st.sampled_from(["RTP/AVP", "RTP/SAVP", "UDP/TLS/RTP/SAVPF"])),
        formats=draw(st.lists(st.integers(0, 127).map(str), max_size=6)),
        connection=connection,
        attributes=draw(attributes),
        bandwidth=draw(st.lists(TOKEN, max_size=2)),
        port_count=draw(st.none() | st.integers(1, 8)),
        info=draw(st.none() | TEXT),
        key=draw(st.none() | TEXT),
        # Extra c= lines only follow a first one (multicast layered encodings).
        extra_connections=draw(st.lists(connections, max_size=2)) if connection else [],
        extra_lines=draw(st.lists(st.tuples(st.sampled_from("wxy"), TEXT), max_size=2)),
    )


@st.composite
def session_descriptions(draw: st.DrawFn) -> SessionDescription:
    times = draw(
        st.lists(st.sampled_from(["0 0", "3034423619 3042462419"]), min_size=1, max_size=3)
    )
    repeat_keys = draw(st.sets(st.integers(0, len(times) - 1)))
    return SessionDescription(
        version=draw(st.integers(0, 9)),
        origin=Origin(*draw(st.tuples(TOKEN, TOKEN, TOKEN, TOKEN, TOKEN, TOKEN))),
        session_name=draw(NONEMPTY_TEXT | st.just(" ")),
        connection=draw(st.none() | connections),
        times=times,
        attributes=draw(attributes),
        media=draw(st.lists(media_descriptions(), max_size=4)),
        bandwidth=draw(st.lists(TOKEN, max_size=2)),
        info=draw(st.none() | TEXT),
        uri=draw(st.none() | TOKEN),
        emails=draw(st.lists(TEXT, max_size=2)),
        phones=draw(st.lists(TEXT, max_size=2)),
        repeats={k: draw(st.lists(TOKEN, min_size=1, max_size=2)) for k in repeat_keys},
        timezones=draw(st.none() | TEXT),
        key=draw(st.none() | TEXT),
        extra_lines=draw(st.lists(st.tuples(st.sampled_from("wxy"), TEXT), max_size=2)),
    )


@settings(max_examples=300, deadline=None)
@given(session_descriptions())
def test_generated_descriptions_round_trip(desc: SessionDescription) -> None:
    raw = desc.serialize()
    parsed = parse_sdp(raw)
    assert parsed == desc
    assert parsed.serialize() == raw
