"""Fuzz target: media-plane parsers fed straight from the network, plus SDP offer/answer.

Every input goes through all of them (they are cheap on bytes they reject):
RtpPacket.parse and the media path's payload_offset (which must agree), parse_compound,
a fresh TelephoneEventReceiver fed 8-byte records, and parse_sdp + make_answer. ValueError
subclasses (RtpError, RtcpError, SdpError) and NotAcceptable are the documented "no";
anything else, a disagreement, or an answer that does not parse back is a crash.

    python fuzz/fuzz_rtp.py -max_total_time=60 fuzz/corpus/rtp     (atheris)
    python fuzz/fuzz_rtp.py --smoke 20000 fuzz/corpus/rtp          (no atheris)
"""

from __future__ import annotations

import contextlib
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness  # fuzz/ is not a package: imported from its folder

with _harness.instrumented(__name__):
    from sems_lite.rtp.dtmf import EVENTS, TelephoneEventReceiver
    from sems_lite.rtp.packet import RtpError, RtpPacket, payload_offset
    from sems_lite.rtp.rtcp import RtcpError, parse_compound, serialize_compound
    from sems_lite.sdp import DEFAULT_CODECS, NotAcceptable, SdpError, make_answer, parse_sdp

_TIMESTAMP = struct.Struct("!I")


def _rtp(data: bytes) -> None:
    start, end = payload_offset(data, len(data))
    try:
        packet = RtpPacket.parse(data)
    except RtpError:
        # The header walk may be more lenient than parse() (a padding count of 0 passes)
        # but must never point outside the packet.
        assert start == -1 or 12 <= start <= end <= len(data), (start, end)
        return
    end_expected = len(data) - packet.padding
    start_expected = end_expected - len(packet.payload)
    assert (start, end) == (start_expected, end_expected), ("payload_offset disagrees", start, end)
    assert RtpPacket.parse(packet.serialize()) == packet


def _rtcp(data: bytes) -> None:
    try:
        packets = parse_compound(data)
    except RtcpError:
        return
    # What we parsed must serialize (RTCP reports go back into stats and logs).
    with contextlib.suppress(RtcpError):
        serialize_compound(packets)


def _dtmf(data: bytes) -> None:
    # Records of 8 bytes: RTP timestamp, then a 4-byte telephone-event payload.
    receiver = TelephoneEventReceiver()
    now = 0.0
    for offset in range(0, len(data) - 7, 8):
        timestamp = _TIMESTAMP.unpack_from(data, offset)[0]
        payload = data[offset + 4 : offset + 8]
        now += 0.02
        digit = receiver.packet(payload, timestamp, bool(timestamp & 1), now)
        assert digit is None or (digit[0] in EVENTS and digit[1] >= 0), digit
    digit = receiver.expire(now + 1.0)
    assert digit is None or (digit[0] in EVENTS and digit[1] >= 0), digit


def _sdp(data: bytes) -> None:
    try:
        offer = parse_sdp(data)
    except SdpError:
        return
    offer.serialize()
    try:
        answer, stream = make_answer(
            offer,
            DEFAULT_CODECS,
            local_address="192.0.2.1",
            local_port=40000,
            session_id="1",
            session_version=1,
        )
    except NotAcceptable:
        return
    # We send this answer: it must be valid SDP whatever the offer held.
    parse_sdp(answer.serialize())
    assert 0 <= stream.payload_type <= 127


def test_one_input(data: bytes) -> None:
    _rtp(data)
    _rtcp(data)
    _dtmf(data)
    _sdp(data)


if __name__ == "__main__":
    _harness.main(test_one_input, "rtp", _harness.HERE / "corpus" / "rtp")
