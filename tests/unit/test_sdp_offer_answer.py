"""Offer/answer (RFC 3264) against SDPs as real phones and tools send them."""

import pytest

from sems_lite.sdp import (
    DEFAULT_CODECS,
    CodecSpec,
    NotAcceptable,
    SessionDescription,
    make_answer,
    make_offer,
    parse_sdp,
    process_answer,
)

PCMU, PCMA, DTMF = DEFAULT_CODECS


def sdp(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


SIPP_OFFER = sdp(
    "v=0",
    "o=user1 53655765 2353687637 IN IP4 127.0.1.1",
    "s=-",
    "c=IN IP4 127.0.1.1",
    "t=0 0",
    "m=audio 6000 RTP/AVP 0",
    "a=rtpmap:0 PCMU/8000",
)

BARESIP_OFFER = sdp(
    "v=0",
    "o=- 1409412447 3361458937 IN IP4 192.168.1.23",
    "s=-",
    "c=IN IP4 192.168.1.23",
    "t=0 0",
    "m=audio 10368 RTP/AVP 111 9 0 8 101 102",
    "b=AS:96",
    "a=rtpmap:111 opus/48000/2",
    "a=fmtp:111 stereo=1;sprop-stereo=1",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:101 telephone-event/48000",
    "a=fmtp:101 0-15",
    "a=rtpmap:102 telephone-event/8000",
    "a=fmtp:102 0-15",
    "a=rtcp-rsize",
    "a=label:1",
    "a=ptime:20",
    "a=sendrecv",
    "a=ssrc:2742159842 cname:e9a4c8bc-2dd0-4b6b-a4b9-3b4f0b4d9a2c",
)

LINPHONE_IPV6_OFFER = sdp(
    "v=0",
    "o=alice 2253 3125 IN IP6 2001:db8::10",
    "s=Talk",
    "c=IN IP6 2001:db8::10",
    "t=0 0",
    "a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics",
    "a=record:off",
    "m=audio 7078 RTP/AVP 96 97 98 8 0 18 101 99 100",
    "a=rtpmap:96 opus/48000/2",
    "a=fmtp:96 useinbandfec=1",
    "a=rtpmap:97 speex/16000",
    "a=fmtp:97 vbr=on",
    "a=rtpmap:98 speex/8000",
    "a=fmtp:98 vbr=on",
    "a=fmtp:18 annexb=yes",
    "a=rtpmap:101 telephone-event/48000",
    "a=rtpmap:99 telephone-event/16000",
    "a=rtpmap:100 telephone-event/8000",
    "a=rtcp-mux",
    "a=rtcp-fb:* trr-int 1000",
    "a=rtcp-fb:* ccm tmmbr",
)

OLD_HOLD_OFFER = sdp(
    "v=0",
    "o=- 100 2 IN IP4 192.0.2.7",
    "s=-",
    "c=IN IP4 0.0.0.0",
    "t=0 0",
    "m=audio 16384 RTP/AVP 8 0 101",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-16",
)

SENDONLY_HOLD_OFFER = sdp(
    "v=0",
    "o=- 100 3 IN IP4 192.0.2.7",
    "s=-",
    "c=IN IP4 192.0.2.7",
    "t=0 0",
    "m=audio 16384 RTP/AVP 0 101",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=ptime:30",
    "a=sendonly",
)

VIDEO_AUDIO_OFFER = sdp(
    "v=0",
    "o=- 3 3 IN IP4 198.51.100.4",
    "s=-",
    "c=IN IP4 198.51.100.4",
    "t=0 0",
    "m=video 9078 RTP/AVP 96 34",
    "a=rtpmap:96 H264/90000",
    "a=fmtp:96 profile-level-id=42801F",
    "m=audio 7078 RTP/AVP 8 101",
    "c=IN IP4 198.51.100.5",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:101 telephone-event/8000",
)

G729_ONLY_OFFER = sdp(
    "v=0",
    "o=- 9 9 IN IP4 203.0.113.9",
    "s=-",
    "c=IN IP4 203.0.113.9",
    "t=0 0",
    "m=audio 20000 RTP/AVP 18 101",
    "a=rtpmap:18 G729/8000",
    "a=fmtp:18 annexb=no",
    "a=rtpmap:101 telephone-event/8000",
)

ALL_OFFERS = [
    SIPP_OFFER,
    BARESIP_OFFER,
    LINPHONE_IPV6_OFFER,
    OLD_HOLD_OFFER,
    SENDONLY_HOLD_OFFER,
    VIDEO_AUDIO_OFFER,
    G729_ONLY_OFFER,
]


def answer(offer: bytes, codecs=DEFAULT_CODECS, **kw):
    args = {
        "local_address": "192.0.2.100",
        "local_port": 30000,
        "session_id": "777",
        "session_version": 1,
        **kw,
    }
    desc, stream = make_answer(parse_sdp(offer), codecs, **args)
    # Whatever we produce must survive our own parser unchanged.
    assert parse_sdp(desc.serialize()) == desc
    return desc, stream


@pytest.mark.parametrize("raw", ALL_OFFERS)
def test_real_world_offers_round_trip(raw: bytes) -> None:
    assert parse_sdp(raw).serialize() == raw


def test_sipp_default_offer() -> None:
    desc, stream = answer(SIPP_OFFER)
    assert desc.serialize() == sdp(
        "v=0",
        "o=- 777 1 IN IP4 192.0.2.100",
        "s=-",
        "c=IN IP4 192.0.2.100",
        "t=0 0",
        "m=audio 30000 RTP/AVP 0",
        "a=rtpmap:0 PCMU/8000",
        "a=sendrecv",
    )
    assert stream.remote_address == "127.0.1.1"
    assert stream.remote_port == 6000
    assert stream.payload_type == 0
    assert stream.codec == PCMU
    assert stream.telephone_event_pt is None  # sipp offered no telephone-event
    assert stream.ptime == 20
    assert stream.direction == "sendrecv"
    assert stream.rtcp_mux is False
    assert stream.media_index == 0


def test_baresip_offer_follows_offerer_order_and_picks_8k_events() -> None:
    desc, stream = answer(BARESIP_OFFER)
    assert stream.codec == PCMU  # opus and G722 come first but we lack them
    assert stream.payload_type == 0
    assert stream.telephone_event_pt == 102  # the /8000 one, not the /48000 one
    assert stream.ptime == 20
    m = desc.media[0]
    assert m.formats == ["0", "102"]
    assert m.attributes == [
        ("rtpmap", "0 PCMU/8000"),
        ("rtpmap", "102 telephone-event/8000"),
        ("fmtp", "102 0-16"),
        ("ptime", "20"),
        ("sendrecv", None),
    ]


def test_offerer_order_wins_over_ours() -> None:
    # We prefer PCMU, the offer lists PCMA first: PCMA is taken.
    _, stream = answer(OLD_HOLD_OFFER)
    assert stream.codec == PCMA
    assert stream.payload_type == 8


def test_wideband_codec_gets_events_at_its_own_rate() -> None:
    opus = CodecSpec("OPUS", 48000, None, channels=2, fmtp="useinbandfec=1")
    events48 = CodecSpec("telephone-event", 48000, None, fmtp="0-15")
    desc, stream = answer(BARESIP_OFFER, codecs=[opus, PCMU, events48, DTMF])
    assert stream.codec == opus
    assert stream.payload_type == 111
    assert stream.telephone_event_pt == 101
    assert desc.media[0].attributes[:4] == [
        ("rtpmap", "111 OPUS/48000/2"),
        ("fmtp", "111 useinbandfec=1"),
        ("rtpmap", "101 telephone-event/48000"),
        ("fmtp", "101 0-15"),
    ]


def test_events_at_other_rates_are_passed_over() -> None:
    # We could take events at 48 kHz too, but PCMU runs at 8 kHz: only 102 fits.
    events48 = CodecSpec("telephone-event", 48000, None)
    _, stream = answer(BARESIP_OFFER, codecs=[PCMU, events48, DTMF])
    assert stream.telephone_event_pt == 102


def test_no_events_when_we_lack_them() -> None:
    desc, stream = answer(BARESIP_OFFER, codecs=[PCMA])
    assert stream.codec == PCMA
    assert stream.telephone_event_pt is None
    assert desc.media[0].formats == ["8"]


def test_linphone_ipv6_rtcp_mux() -> None:
    desc, stream = answer(LINPHONE_IPV6_OFFER, local_address="2001:db8::1")
    assert stream.remote_address == "2001:db8::10"
    assert stream.remote_port == 7078
    assert stream.codec == PCMA  # 8 is listed before 0
    assert stream.telephone_event_pt == 100
    assert stream.rtcp_mux is True
    assert stream.direction == "sendrecv"  # no attribute anywhere: the default
    raw = desc.serialize()
    assert b"o=- 777 1 IN IP6 2001:db8::1\r\n" in raw
    assert b"c=IN IP6 2001:db8::1\r\n" in raw
    assert b"a=rtcp-mux\r\n" in raw
    assert b"a=ptime" not in raw  # nothing to echo


def test_rtcp_mux_can_be_declined() -> None:
    desc, stream = answer(LINPHONE_IPV6_OFFER, accept_rtcp_mux=False)
    assert stream.rtcp_mux is False
    assert not desc.media[0].rtcp_mux


def test_old_style_hold_with_null_address() -> None:
    desc, stream = answer(OLD_HOLD_OFFER)
    assert stream.remote_address is None
    assert stream.direction == "recvonly"
    assert desc.media[0].direction == "recvonly"
    assert desc.media[0].port == 30000


def test_sendonly_hold_and_ptime_echo() -> None:
    desc, stream = answer(SENDONLY_HOLD_OFFER)
    assert stream.remote_address == "192.0.2.7"
    assert stream.direction == "recvonly"
    assert stream.ptime == 30
    assert desc.media[0].ptime == 30
    assert desc.media[0].direction == "recvonly"


@pytest.mark.parametrize(
    ("offered", "ours"),
    [
        ("sendrecv", "sendrecv"),
        ("sendonly", "recvonly"),
        ("recvonly", "sendonly"),
        ("inactive", "inactive"),
    ],
)
@pytest.mark.parametrize("level", ["media", "session"])
def test_direction_mirroring(offered: str, ours: str, level: str) -> None:
    lines = ["v=0", "o=- 1 1 IN IP4 192.0.2.7", "s=-", "c=IN IP4 192.0.2.7", "t=0 0"]
    if level == "session":
        lines.append(f"a={offered}")
    lines += ["m=audio 5000 RTP/AVP 0"]
    if level == "media":
        lines.append(f"a={offered}")
    desc, stream = answer(sdp(*lines))
    assert stream.direction == ours
    assert desc.media[0].direction == ours
    assert desc.attributes == []  # we always answer at media level


@pytest.mark.parametrize(
    ("offered", "ours"),
    [
        ("sendrecv", "recvonly"),
        ("sendonly", "recvonly"),
        ("recvonly", "inactive"),
        ("inactive", "inactive"),
    ],
)
def test_null_address_removes_our_sending(offered: str, ours: str) -> None:
    offer = sdp(
        "v=0",
        "o=- 1 1 IN IP4 h",
        "s=-",
        "c=IN IP4 0.0.0.0",
        "t=0 0",
        "m=audio 5000 RTP/AVP 0",
        f"a={offered}",
    )
    assert answer(offer)[1].direction == ours


def test_media_level_direction_overrides_session_level() -> None:
    offer = sdp(
        "v=0",
        "o=- 1 1 IN IP4 h",
        "s=-",
        "c=IN IP4 192.0.2.7",
        "t=0 0",
        "a=inactive",
        "m=audio 5000 RTP/AVP 0",
        "a=sendonly",
    )
    assert answer(offer)[1].direction == "recvonly"


def test_video_rejected_audio_taken_with_media_connection() -> None:
    desc, stream = answer(VIDEO_AUDIO_OFFER)
    video, audio = desc.media
    assert (video.media, video.port, video.proto, video.formats) == (
        "video",
        0,
        "RTP/AVP",
        ["96", "34"],
    )
    assert video.attributes == []
    assert (audio.media, audio.port, audio.formats) == ("audio", 30000, ["8", "101"])
    assert stream.media_index == 1
    assert stream.remote_address == "198.51.100.5"  # media-level c= beats session c=
    assert stream.remote_port == 7078


def test_g729_only_is_not_acceptable() -> None:
    with pytest.raises(NotAcceptable):
        answer(G729_ONLY_OFFER)


def test_telephone_event_alone_is_not_acceptable() -> None:
    offer = sdp(
        "v=0",
        "o=- 1 1 IN IP4 h",
        "s=-",
        "c=IN IP4 192.0.2.7",
        "t=0 0",
        "m=audio 5000 RTP/AVP 101",
        "a=rtpmap:101 telephone-event/8000",
    )
    with pytest.raises(NotAcceptable):
        answer(offer)


def test_no_media_is_not_acceptable() -> None:
    with pytest.raises(NotAcceptable):
        answer(sdp("v=0", "o=- 1 1 IN IP4 h", "s=-", "t=0 0"))


def test_savp_rejected_and_second_audio_line_used() -> None:
    offer = sdp(
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.7",
        "s=-",
        "c=IN IP4 192.0.2.7",
        "t=0 0",
        "m=audio 5000 RTP/SAVP 0",
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz",
        "m=audio 5002 RTP/AVP 0",
        "m=audio 5004 RTP/AVP 8",
    )
    desc, stream = answer(offer)
    assert [m.port for m in desc.media] == [0, 30000, 0]
    assert [m.proto for m in desc.media] == ["RTP/SAVP", "RTP/AVP", "RTP/AVP"]
    assert desc.media[2].formats == ["8"]  # second usable audio line: rejected, formats kept
    assert stream.remote_port == 5002
    assert stream.media_index == 1


def test_avpf_answered_with_avpf() -> None:
    offer = sdp(
        "v=0",
        "o=- 1 1 IN IP4 h",
        "s=-",
        "c=IN IP4 192.0.2.7",
        "t=0 0",
        "m=audio 5000 RTP/AVPF 0",
        "a=rtcp-fb:* nack",
    )
    desc, _ = answer(offer)
    assert desc.media[0].proto == "RTP/AVPF"
    assert desc.media[0].port == 30000


def test_rejected_offer_line_stays_rejected() -> None:
    offer = sdp(
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.7",
        "s=-",
        "c=IN IP4 192.0.2.7",
        "t=0 0",
        "m=audio 0 RTP/AVP 0",
        "m=audio 5000 RTP/AVP 0",
    )
    desc, stream = answer(offer)
    assert [m.port for m in desc.media] == [0, 30000]
    assert stream.media_index == 1


def test_case_insensitive_encoding_and_channel_match() -> None:
    offer = sdp(
        "v=0",
        "o=- 1 1 IN IP4 h",
        "s=-",
        "c=IN IP4 192.0.2.7",
        "t=0 0",
        "m=audio 5000 RTP/AVP 97 98 99",
        "a=rtpmap:97 l16/8000/2",
        "a=rtpmap:98 l16/8000",
        "a=rtpmap:99 TELEPHONE-EVENT/8000",
    )
    l16 = CodecSpec("L16", 8000, None)
    _, stream = answer(offer, codecs=[l16, DTMF])
    assert stream.payload_type == 98  # 97 is stereo, we asked for mono
    assert stream.codec == l16
    assert stream.telephone_event_pt == 99


# --- our own offers (late offer: INVITE without SDP) -------------------------------------


def offer(codecs=DEFAULT_CODECS, **kw) -> SessionDescription:
    args = {
        "local_address": "192.0.2.100",
        "local_port": 30000,
        "session_id": "555",
        "session_version": 2,
        **kw,
    }
    return make_offer(codecs, **args)


def test_default_offer_wire_format() -> None:
    assert offer().serialize() == sdp(
        "v=0",
        "o=- 555 2 IN IP4 192.0.2.100",
        "s=-",
        "c=IN IP4 192.0.2.100",
        "t=0 0",
        "m=audio 30000 RTP/AVP 0 8 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=ptime:20",
        "a=sendrecv",
    )


def test_offer_dynamic_payload_types_keep_101_for_events() -> None:
    dynamic = [CodecSpec(f"X{i}", 8000, None) for i in range(7)]
    events = CodecSpec("telephone-event", 16000, None)
    desc = offer([*dynamic, events, DTMF, PCMU])
    assert desc.media[0].formats == ["96", "97", "98", "99", "100", "102", "103", "101", "104", "0"]
    assert desc.media[0].rtpmaps()[101].clock_rate == 16000


def test_offer_ipv6_direction_and_ptime() -> None:
    desc = offer(local_address="2001:db8::5", direction="sendonly", ptime=40)
    assert desc.origin.addr_type == "IP6"
    assert desc.connection is not None and desc.connection.addr_type == "IP6"
    assert desc.media[0].direction == "sendonly"
    assert desc.media[0].ptime == 40


def test_offer_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="direction"):
        offer(direction="both")
    with pytest.raises(ValueError, match="codecs"):
        offer(codecs=[])
    with pytest.raises(ValueError, match="dynamic"):
        offer(codecs=[CodecSpec(f"X{i}", 8000, None) for i in range(40)])


def test_offer_then_answer_from_ourselves() -> None:
    ours = offer()
    theirs, their_stream = make_answer(
        parse_sdp(ours.serialize()),
        [PCMA, DTMF],
        local_address="198.51.100.1",
        local_port=4000,
        session_id="1",
        session_version=1,
    )
    stream = process_answer(ours, parse_sdp(theirs.serialize()), DEFAULT_CODECS)
    assert stream.codec == PCMA
    assert stream.payload_type == 8
    assert stream.telephone_event_pt == 101
    assert stream.remote_address == "198.51.100.1"
    assert stream.remote_port == 4000
    assert stream.direction == "sendrecv"
    assert stream.ptime == 20
    assert their_stream.codec == PCMA


def peer_answer(*media_lines: str, conn: str = "IN IP4 198.51.100.1") -> SessionDescription:
    return parse_sdp(sdp("v=0", "o=- 1 1 IN IP4 h", "s=-", f"c={conn}", "t=0 0", *media_lines))


def test_process_answer_picks_answers_order_and_its_payload_numbers() -> None:
    # The answerer renumbered telephone-event and lists PCMA first.
    ans = peer_answer(
        "m=audio 4000 RTP/AVP 8 0 110",
        "a=rtpmap:110 telephone-event/8000",
        "a=ptime:30",
        "a=rtcp-mux",
    )
    stream = process_answer(offer(), ans, DEFAULT_CODECS)
    assert stream.codec == PCMA
    assert stream.telephone_event_pt == 110
    assert stream.ptime == 30
    assert stream.rtcp_mux is False  # we did not offer it


def test_process_answer_uses_offer_mapping_when_answer_omits_rtpmap() -> None:
    ours = offer([CodecSpec("L16", 8000, None), DTMF])
    ans = peer_answer("m=audio 4000 RTP/AVP 96 101")
    stream = process_answer(ours, ans, [CodecSpec("L16", 8000, None), DTMF])
    assert stream.payload_type == 96
    assert stream.telephone_event_pt == 101


@pytest.mark.parametrize(
    ("we", "they", "result"),
    [
        ("sendrecv", "sendrecv", "sendrecv"),
        ("sendrecv", "recvonly", "sendonly"),
        ("sendrecv", "sendonly", "recvonly"),
        ("sendrecv", "inactive", "inactive"),
        ("sendonly", "recvonly", "sendonly"),
        ("recvonly", "sendonly", "recvonly"),
        ("sendonly", "sendrecv", "sendonly"),
    ],
)
def test_process_answer_directions(we: str, they: str, result: str) -> None:
    ans = peer_answer("m=audio 4000 RTP/AVP 0", f"a={they}")
    assert process_answer(offer(direction=we), ans, DEFAULT_CODECS).direction == result


def test_process_answer_null_address() -> None:
    ans = peer_answer("m=audio 4000 RTP/AVP 0", conn="IN IP4 0.0.0.0")
    stream = process_answer(offer(), ans, DEFAULT_CODECS)
    assert stream.remote_address is None
    assert stream.direction == "recvonly"


@pytest.mark.parametrize(
    "media_lines",
    [
        ("m=audio 0 RTP/AVP 0",),  # rejected
        ("m=audio 4000 RTP/AVP 18",),  # a codec we never offered
        ("m=audio 4000 RTP/AVP 101", "a=rtpmap:101 telephone-event/8000"),  # events only
        ("m=video 4000 RTP/AVP 0",),  # wrong media type on the line
        (),  # no m-line at all
    ],
)
def test_process_answer_not_acceptable(media_lines: tuple[str, ...]) -> None:
    with pytest.raises(NotAcceptable):
        process_answer(offer(), peer_answer(*media_lines), DEFAULT_CODECS)


def test_process_answer_rejects_codec_we_support_but_did_not_offer() -> None:
    ours = offer([PCMU])
    with pytest.raises(NotAcceptable):
        process_answer(ours, peer_answer("m=audio 4000 RTP/AVP 8"), DEFAULT_CODECS)
