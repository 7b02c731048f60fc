"""RtpStream on loopback sockets: symmetric latching, strict after learning."""

from __future__ import annotations

import socket
import struct

from sems_lite.core.ports import RtpPortPool
from sems_lite.media.codecs import PCMU
from sems_lite.rtp.stream import RtpStream
from sems_lite.sdp.offer_answer import NegotiatedStream


class Sink:
    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def write(self, pcm: bytes) -> None:
        self.frames.append(pcm)


# The SDP says port 9; the packets come from another port.
PCMU_FROM_PORT_9 = NegotiatedStream(
    remote_address="127.0.0.1",
    remote_port=9,
    payload_type=0,
    codec=PCMU.spec,
    telephone_event_pt=None,
    ptime=20,
    direction="sendrecv",
    rtcp_mux=False,
)


def packet(seq: int, payload: bytes, ssrc: int = 0x1234) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc) + payload


def test_latches_to_first_source_and_drops_others() -> None:
    rtp, rtcp, port = RtpPortPool(35000, 35099).allocate("127.0.0.1") or (None, None, 0)
    assert rtp is not None and rtcp is not None
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    intruder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    intruder.bind(("127.0.0.1", 0))
    stream = RtpStream(rtp, rtcp, port, jitter_min_frames=0, jitter_max_frames=0)
    sink = Sink()
    stream.sink = sink
    negotiated = PCMU_FROM_PORT_9
    stream.configure(negotiated, 20)
    try:
        peer.sendto(packet(1, b"\x11" * 160), ("127.0.0.1", port))
        intruder.sendto(packet(2, b"\x22" * 160, ssrc=0x9999), ("127.0.0.1", port))
        peer.sendto(packet(2, b"\x33" * 160), ("127.0.0.1", port))
        stream.receive(1.0)
        assert stream.remote == peer.getsockname()
        assert stream.foreign_packets == 1
        assert stream.packets_in == 2
        assert [f == PCMU.decode(b"\x11" * 160) for f in sink.frames] == [True, False]
        assert sink.frames[1] == PCMU.decode(b"\x33" * 160)
        # A new SDP address (re-INVITE) opens learning again.
        stream.configure(NegotiatedStream(**{**negotiated.__dict__, "remote_port": 11}), 20)
        intruder.sendto(packet(3, b"\x44" * 160, ssrc=0x9999), ("127.0.0.1", port))
        stream.receive(2.0)
        assert stream.remote == intruder.getsockname()
    finally:
        stream.close()
        peer.close()
        intruder.close()


def test_a_stream_the_engine_saw_empty_leaves_its_socket_alone() -> None:
    rtp, rtcp, port = RtpPortPool(35100, 35199).allocate("127.0.0.1") or (None, None, 0)
    assert rtp is not None and rtcp is not None
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stream = RtpStream(rtp, rtcp, port, jitter_min_frames=0, jitter_max_frames=0)
    stream.sink = Sink()
    stream.configure(PCMU_FROM_PORT_9, 20)
    try:
        for seq in range(20):  # more than one tick may take (16): the rest stays queued
            peer.sendto(packet(seq, b"\x11" * 160), ("127.0.0.1", port))
        stream.receive(1.0, readable=False)
        assert stream.packets_in == 0
        stream.receive(1.02)
        assert stream.packets_in == 16
        stream.receive(1.04)
        assert stream.packets_in == 20
    finally:
        stream.close()
        peer.close()
