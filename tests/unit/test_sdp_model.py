"""SDP model: parsing, serializing and the helpers the media layer reads."""

import pytest

from sems_lite.sdp import (
    Connection,
    MediaDescription,
    Origin,
    RtpMap,
    SdpError,
    SessionDescription,
    parse_sdp,
)


def sdp(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


# RFC 4566 §5's example, every session-level line type included.
RFC4566_EXAMPLE = sdp(
    "v=0",
    "o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5",
    "s=SDP Seminar",
    "i=A Seminar on the session description protocol",
    "u=http://www.example.com/seminars/sdp.pdf",
    "e=j.doe@example.com (Jane Doe)",
    "p=+1 617 555-6011",
    "c=IN IP4 224.2.17.12/127",
    "b=AS:2000",
    "t=2873397496 2873404696",
    "r=7d 1h 0 25h",
    "t=0 0",
    "z=2882844526 -1h 2898848070 0",
    "k=prompt",
    "a=recvonly",
    "m=audio 49170 RTP/AVP 0",
    "i=voice",
    "c=IN IP4 224.2.17.12/127",
    "b=AS:64",
    "k=clear:secret",
    "a=ptime:30",
    "m=video 51372/2 RTP/AVP 99",
    "a=rtpmap:99 h263-1998/90000",
)


def test_rfc4566_example_fields() -> None:
    desc = parse_sdp(RFC4566_EXAMPLE)
    assert desc.version == 0
    assert desc.origin == Origin("jdoe", "2890844526", "2890842807", "IN", "IP4", "10.47.16.5")
    assert desc.session_name == "SDP Seminar"
    assert desc.info == "A Seminar on the session description protocol"
    assert desc.uri == "http://www.example.com/seminars/sdp.pdf"
    assert desc.emails == ["j.doe@example.com (Jane Doe)"]
    assert desc.phones == ["+1 617 555-6011"]
    assert desc.connection == Connection("IN", "IP4", "224.2.17.12/127")
    assert desc.connection.host == "224.2.17.12"
    assert desc.bandwidth == ["AS:2000"]
    assert desc.times == ["2873397496 2873404696", "0 0"]
    assert desc.repeats == {0: ["7d 1h 0 25h"]}
    assert desc.timezones == "2882844526 -1h 2898848070 0"
    assert desc.key == "prompt"
    assert desc.attributes == [("recvonly", None)]
    audio, video = desc.media
    assert (audio.media, audio.port, audio.proto, audio.formats) == (
        "audio",
        49170,
        "RTP/AVP",
        ["0"],
    )
    assert audio.info == "voice"
    assert audio.bandwidth == ["AS:64"]
    assert audio.key == "clear:secret"
    assert audio.ptime == 30
    assert (video.port, video.port_count) == (51372, 2)
    assert video.rtpmaps() == {99: RtpMap(99, "H263-1998", 90000)}


def test_rfc4566_example_round_trips() -> None:
    assert parse_sdp(RFC4566_EXAMPLE).serialize() == RFC4566_EXAMPLE


def test_lf_only_and_trailing_whitespace_tolerated() -> None:
    text = (
        "v=0\no=- 1 2 IN IP4 192.0.2.1  \ns=-\nc=IN IP4 192.0.2.1\t\nt=0 0\n"
        "m=audio 4000 RTP/AVP 0 8   \na=sendonly \n"
    )
    desc = parse_sdp(text)
    assert desc.origin.address == "192.0.2.1"
    assert desc.connection == Connection("IN", "IP4", "192.0.2.1")
    assert desc.media[0].formats == ["0", "8"]
    assert desc.media[0].attributes == [("sendonly", None)]
    # Written back canonically.
    assert desc.serialize() == sdp(
        "v=0",
        "o=- 1 2 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "m=audio 4000 RTP/AVP 0 8",
        "a=sendonly",
    )


def test_single_space_session_name_survives() -> None:
    raw = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s= ", "t=0 0")
    desc = parse_sdp(raw)
    assert desc.session_name == " "
    assert desc.serialize() == raw


def test_lines_out_of_order_are_accepted_and_reordered() -> None:
    desc = parse_sdp(
        sdp("v=0", "s=x", "t=0 0", "c=IN IP4 192.0.2.9", "o=- 1 1 IN IP4 192.0.2.9", "a=foo")
    )
    assert desc.serialize() == sdp(
        "v=0", "o=- 1 1 IN IP4 192.0.2.9", "s=x", "c=IN IP4 192.0.2.9", "t=0 0", "a=foo"
    )


def test_unknown_line_types_are_kept() -> None:
    raw = sdp(
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.1",
        "s=-",
        "t=0 0",
        "y=vendor",
        "m=audio 1 RTP/AVP 0",
        "x=thing",
        "a=sendrecv",
    )
    desc = parse_sdp(raw)
    assert desc.extra_lines == [("y", "vendor")]
    assert desc.media[0].extra_lines == [("x", "thing")]
    assert desc.serialize() == raw


def test_attribute_flag_empty_value_and_colons() -> None:
    desc = parse_sdp(
        sdp(
            "v=0",
            "o=- 1 1 IN IP4 h",
            "s=-",
            "t=0 0",
            "a=flag",
            "a=empty:",
            "a=fingerprint:sha-256 AB:CD",
        )
    )
    assert desc.attributes == [("flag", None), ("empty", ""), ("fingerprint", "sha-256 AB:CD")]
    assert desc.get_attribute("FINGERPRINT") == "sha-256 AB:CD"
    assert desc.has_attribute("flag")
    assert not desc.has_attribute("nope")


def test_missing_t_line_defaults_to_permanent_session() -> None:
    desc = parse_sdp(sdp("v=0", "o=- 1 1 IN IP4 h", "s=-"))
    assert desc.times == ["0 0"]


def test_bytes_that_are_not_utf8_round_trip() -> None:
    raw = sdp("v=0", "o=- 1 1 IN IP4 h", "s=caf\xe9", "t=0 0").replace(b"\xc3\xa9", b"\xe9")
    assert parse_sdp(raw).serialize() == raw


def test_str_input_accepted() -> None:
    assert parse_sdp("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n").origin.address == "h"


@pytest.mark.parametrize(
    ("text", "line_no", "needle"),
    [
        ("o=- 1 1 IN IP4 h\r\nv=0\r\n", 1, "start with v="),
        ("v=zero\r\n", 1, "bad version"),
        ("v=0\r\no=- 1 IN IP4 h\r\n", 2, "o= needs 6"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4\r\n", 4, "c= needs 3"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 70000 RTP/AVP 0\r\n", 4, "bad port"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio x RTP/AVP 0\r\n", 4, "bad port"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 5/x RTP/AVP 0\r\n", 4, "port count"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 5\r\n", 4, "m= needs"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nthis is not sdp\r\n", 4, "<type>=<value>"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nA=upper\r\n", 4, "<type>=<value>"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\no=- 2 2 IN IP4 h\r\n", 3, "duplicate o="),
        ("v=0\n\nv=0\n", 3, "duplicate v="),
        ("v=0\r\no=- 1 1 IN IP4 h\r\nr=1d 1h 0\r\n", 3, "r= before"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\na=:x\r\n", 3, "attribute name"),
        ("v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 1 RTP/AVP 0\r\ni=a\r\ni=b\r\n", 5, "duplicate i="),
    ],
)
def test_errors_name_line_and_text(text: str, line_no: int, needle: str) -> None:
    with pytest.raises(SdpError, match=needle) as info:
        parse_sdp(text)
    assert info.value.line_no == line_no
    assert info.value.line == text.split("\n")[line_no - 1].rstrip("\r")
    assert f"line {line_no}" in str(info.value)


@pytest.mark.parametrize(
    ("text", "needle"),
    [("", "empty"), ("\r\n\r\n", "empty"), ("v=0\r\ns=-\r\n", "missing o=")],
)
def test_whole_document_errors(text: str, needle: str) -> None:
    with pytest.raises(SdpError, match=needle):
        parse_sdp(text)


def test_wrong_input_type_is_sdp_error() -> None:
    with pytest.raises(SdpError):
        parse_sdp(42)  # type: ignore[arg-type]


def test_huge_numbers_are_sdp_errors_not_crashes() -> None:
    with pytest.raises(SdpError):
        parse_sdp("v=" + "9" * 5000 + "\r\n")
    with pytest.raises(SdpError):
        parse_sdp("v=0\r\no=- 1 1 IN IP4 h\r\nm=audio " + "1" * 5000 + " RTP/AVP 0\r\n")


# --- media helpers -----------------------------------------------------------------------


def audio(*attrs: str, formats: str = "0 8 101", conn: str | None = None) -> MediaDescription:
    lines = ["v=0", "o=- 1 1 IN IP4 h", "s=-", "t=0 0", f"m=audio 4000 RTP/AVP {formats}"]
    if conn:
        lines.append(f"c={conn}")
    lines += [f"a={a}" for a in attrs]
    return parse_sdp(sdp(*lines)).media[0]


def test_rtpmaps_static_dynamic_and_order() -> None:
    m = audio(
        "rtpmap:101 telephone-event/8000", "rtpmap:96 opus/48000/2", formats="96 18 0 101 3 9 13"
    )
    maps = m.rtpmaps()
    assert list(maps) == [96, 18, 0, 101, 3, 9, 13]
    assert maps[96] == RtpMap(96, "opus", 48000, 2)
    assert maps[18] == RtpMap(18, "G729", 8000)
    assert maps[0] == RtpMap(0, "PCMU", 8000)
    assert maps[3] == RtpMap(3, "GSM", 8000)
    assert maps[9] == RtpMap(9, "G722", 8000)
    assert maps[13] == RtpMap(13, "CN", 8000)
    assert maps[101].encoding == "telephone-event"


def test_rtpmaps_skip_unknown_dynamic_malformed_and_unlisted() -> None:
    m = audio("rtpmap:97 speex", "rtpmap:98 L16/16000", "rtpmap:99 iLBC/8000", formats="97 98 100")
    # 97 malformed, 100 has no mapping, 99 is not listed in the m= line.
    assert m.rtpmaps() == {98: RtpMap(98, "L16", 16000)}


def test_rtpmap_written_mapping_overrides_static_table() -> None:
    m = audio("rtpmap:0 pcmu/8000", formats="0")
    assert m.rtpmaps()[0].encoding == "pcmu"


def test_rtpmap_equality_ignores_case_only_of_encoding() -> None:
    assert RtpMap(0, "pcmu", 8000) == RtpMap(0, "PCMU", 8000)
    assert hash(RtpMap(0, "pcmu", 8000)) == hash(RtpMap(0, "PCMU", 8000))
    assert RtpMap(0, "PCMU", 8000) != RtpMap(0, "PCMU", 16000)
    assert RtpMap(0, "PCMU", 8000) != RtpMap(8, "PCMU", 8000)
    assert RtpMap(96, "opus", 48000, 2) != RtpMap(96, "opus", 48000)
    assert RtpMap(96, "opus", 48000, 2).encoding == "opus"


def test_rtpmap_parse_and_str() -> None:
    assert RtpMap.parse("96 opus/48000/2") == RtpMap(96, "opus", 48000, 2)
    assert str(RtpMap(96, "opus", 48000, 2)) == "96 opus/48000/2"
    assert str(RtpMap(0, "PCMU", 8000)) == "0 PCMU/8000"
    for bad in ("x PCMU/8000", "0 PCMU", "0 /8000", "0 PCMU/fast", "0 a/1/2/3", "1000 a/8000"):
        with pytest.raises(SdpError):
            RtpMap.parse(bad)


def test_fmtp() -> None:
    m = audio("fmtp:101 0-16", "fmtp:96 stereo=1; sprop-stereo=1", "fmtp:bad x", formats="96 101")
    assert m.fmtp() == {101: "0-16", 96: "stereo=1; sprop-stereo=1"}


@pytest.mark.parametrize(
    ("attr", "expected"),
    [
        ("ptime:20", 20),
        ("ptime:30", 30),
        ("ptime:20.0", 20),
        ("ptime:abc", None),
        ("ptime:0", None),
        ("ptime", None),
        ("maxptime:40", None),
    ],
)
def test_ptime(attr: str, expected: int | None) -> None:
    assert audio(attr).ptime == expected


def test_direction_and_rtcp_mux() -> None:
    assert audio().direction == "sendrecv"
    assert audio("sendonly").direction == "sendonly"
    assert audio("INACTIVE").direction == "inactive"
    assert not audio().rtcp_mux
    assert audio("rtcp-mux").rtcp_mux


def test_session_level_fallbacks() -> None:
    desc = parse_sdp(
        sdp(
            "v=0",
            "o=- 1 1 IN IP4 h",
            "s=-",
            "c=IN IP4 192.0.2.1",
            "t=0 0",
            "a=sendonly",
            "m=audio 4000 RTP/AVP 0",
            "m=audio 4002 RTP/AVP 0",
            "c=IN IP4 192.0.2.2",
            "a=inactive",
        )
    )
    assert desc.media_connection(0) == Connection("IN", "IP4", "192.0.2.1")
    assert desc.media_connection(1) == Connection("IN", "IP4", "192.0.2.2")
    assert desc.media_direction(0) == "sendonly"
    assert desc.media_direction(1) == "inactive"
    assert desc.media[0].direction == "sendrecv"  # media level alone


def test_no_connection_anywhere() -> None:
    desc = parse_sdp(sdp("v=0", "o=- 1 1 IN IP4 h", "s=-", "t=0 0", "m=audio 4000 RTP/AVP 0"))
    assert desc.media_connection(0) is None
    assert desc.media_direction(0) == "sendrecv"


def test_connection_helpers() -> None:
    assert Connection.for_address("2001:db8::1") == Connection("IN", "IP6", "2001:db8::1")
    assert Connection.for_address("192.0.2.1") == Connection("IN", "IP4", "192.0.2.1")
    assert Connection("IN", "IP4", "0.0.0.0").is_null
    assert Connection("IN", "IP6", "::").is_null
    assert not Connection("IN", "IP4", "192.0.2.1").is_null
    assert str(Connection("IN", "IP6", "ff15::101/3")) == "IN IP6 ff15::101/3"


def test_built_from_objects_serializes() -> None:
    desc = SessionDescription(
        origin=Origin("-", "42", "1", "IN", "IP4", "192.0.2.5"),
        connection=Connection.for_address("192.0.2.5"),
        media=[
            MediaDescription(
                "audio",
                5004,
                "RTP/AVP",
                ["0"],
                attributes=[("rtpmap", "0 PCMU/8000"), ("sendrecv", None)],
            )
        ],
    )
    assert desc.serialize() == sdp(
        "v=0",
        "o=- 42 1 IN IP4 192.0.2.5",
        "s=-",
        "c=IN IP4 192.0.2.5",
        "t=0 0",
        "m=audio 5004 RTP/AVP 0",
        "a=rtpmap:0 PCMU/8000",
        "a=sendrecv",
    )


def test_payload_types_above_127_are_ignored() -> None:
    m = audio("rtpmap:200 PCMU/8000", "fmtp:200 x", formats="200 1000 0")
    assert m.rtpmaps() == {0: RtpMap(0, "PCMU", 8000)}
    assert m.fmtp() == {}
    with pytest.raises(SdpError):
        RtpMap.parse("128 PCMU/8000")
