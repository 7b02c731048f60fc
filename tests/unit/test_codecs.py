"""The codec registry: what SDP offers and how payloads are encoded."""

from __future__ import annotations

import struct
import sys

import pytest

from sems_lite.media import codecs
from sems_lite.sdp.model import parse_sdp
from sems_lite.sdp.offer_answer import make_answer


def test_capabilities_follow_the_configured_order() -> None:
    names = [(s.name, s.clock_rate) for s in codecs.codec_specs(["PCMA", "L16", "telephone-event"])]
    assert names == [
        ("PCMA", 8000),
        ("L16", 16000),
        ("L16", 8000),
        ("telephone-event", 8000),
        ("telephone-event", 16000),
    ]
    with pytest.raises(KeyError, match="G729"):
        codecs.codec_specs(["G729"])


def test_l16_is_network_byte_order_both_ways() -> None:
    pcm = struct.pack(f"={3}h", 1, -2, 0x1234)  # native order, as the engine holds PCM
    wire = codecs.L16_8K.encode(pcm)
    assert wire == struct.pack("!3h", 1, -2, 0x1234)
    assert codecs.L16_8K.decode(wire) == pcm
    assert codecs.L16_16K.encode(pcm) == wire


@pytest.mark.parametrize(("codec", "law"), [(codecs.PCMU, "ulaw"), (codecs.PCMA, "alaw")])
def test_g711_matches_the_kernels(codec: codecs.AudioCodec, law: str) -> None:
    from sems_lite import native

    pcm = struct.pack("=320h", *range(-16000, 16000, 100))
    assert codec.encode(pcm) == getattr(native, f"{law}_encode")(pcm)
    assert codec.decode(codec.encode(pcm)) == getattr(native, f"{law}_decode")(codec.encode(pcm))


def test_wideband_l16_offer_negotiates_16k_with_its_event_rate() -> None:
    offer = parse_sdp(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio 4000 RTP/AVP 96 0 97\r\na=rtpmap:96 L16/16000\r\n"
        "a=rtpmap:97 telephone-event/16000\r\n"
    )
    _answer, negotiated = make_answer(
        offer,
        codecs.codec_specs(["L16", "PCMU", "telephone-event"]),
        local_address="127.0.0.1",
        local_port=5000,
        session_id="1",
        session_version=1,
    )
    assert (negotiated.codec.name, negotiated.codec.clock_rate) == ("L16", 16000)
    assert negotiated.payload_type == 96 and negotiated.telephone_event_pt == 97
    assert codecs.audio_codec(negotiated.codec) is codecs.L16_16K


def test_byte_order_assumption_is_checked_on_this_host() -> None:
    # The swap is only applied on little-endian hosts; big-endian MIPS passes PCM through.
    assert (codecs._to_network is codecs._swap16) == (sys.byteorder == "little")
