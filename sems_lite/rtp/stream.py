"""One RTP stream: a socket pair, the negotiated codec, and the per-tick receive/transmit.

Hot path rules (DESIGN.md §7): no object per packet; `recvfrom_into` a preallocated
buffer; the header is walked with integer reads; decode/encode are single C calls.
Symmetric RTP: we send to where the peer's packets come from (NAT), starting with the
SDP address until the first packet arrives.
"""

from __future__ import annotations

import logging
import secrets
import socket
import struct
from typing import Protocol

from sems_lite.media.codecs import AudioCodec, audio_codec
from sems_lite.rtp.packet import payload_offset
from sems_lite.sdp.offer_answer import NegotiatedStream

log = logging.getLogger("sems_lite.rtp")

_HEADER = struct.Struct("!BBHII")
_MAX_PACKETS_PER_TICK = 16  # bounds the work one stream can cause in one tick


class AudioSink(Protocol):
    def write(self, pcm: bytes) -> None: ...


class AudioSource(Protocol):
    def read(self, nbytes: int) -> bytes | None: ...


class RtpStream:
    __slots__ = (
        "_buf",
        "_header",
        "codec",
        "frame_bytes",
        "last_rx",
        "latched",
        "local_port",
        "packets_in",
        "packets_out",
        "payload_type",
        "receiving",
        "remote",
        "rtcp_sock",
        "sending",
        "sequence",
        "sink",
        "sock",
        "source",
        "ssrc",
        "talking",
        "telephone_event_pt",
        "ts_base",
    )

    def __init__(self, sock: socket.socket, rtcp_sock: socket.socket, local_port: int) -> None:
        self.sock = sock
        self.rtcp_sock = rtcp_sock
        self.local_port = local_port
        self._buf = bytearray(2048)
        self._header = bytearray(12)
        self.ssrc = secrets.randbits(32)
        self.sequence = secrets.randbits(16)
        self.ts_base = secrets.randbits(32)
        self.codec: AudioCodec | None = None
        self.payload_type = 0
        self.telephone_event_pt: int | None = None
        self.frame_bytes = 320
        self.remote: tuple | None = None
        self.latched = False
        self.sending = True
        self.receiving = True
        self.talking = False
        self.last_rx = 0.0
        self.packets_in = 0
        self.packets_out = 0
        self.sink: AudioSink | None = None
        self.source: AudioSource | None = None

    def configure(self, negotiated: NegotiatedStream, engine_ptime_ms: int) -> None:
        """Apply an offer/answer result (initial, re-INVITE, codec change, hold)."""
        self.codec = audio_codec(negotiated.codec)
        self.payload_type = negotiated.payload_type
        self.telephone_event_pt = negotiated.telephone_event_pt
        self.frame_bytes = negotiated.codec.clock_rate * engine_ptime_ms // 1000 * 2
        direction = negotiated.direction
        self.sending = direction in ("sendrecv", "sendonly")
        self.receiving = direction in ("sendrecv", "recvonly")
        if negotiated.remote_address and negotiated.remote_port:
            sdp_remote = self._sockaddr(negotiated.remote_address, negotiated.remote_port)
            if not self.latched or sdp_remote != self.remote:
                # A new SDP address (re-INVITE) is taken until packets show otherwise.
                self.remote = sdp_remote
                self.latched = False
        elif not self.latched:
            self.remote = None

    def _sockaddr(self, host: str, port: int) -> tuple:
        if self.sock.family == socket.AF_INET6:
            if ":" not in host:
                host = "::ffff:" + host
            return (host, port, 0, 0)
        return (host, port)

    def receive(self, now: float) -> None:
        """Drain the socket: decode each audio packet into the sink."""
        sock = self.sock
        buf = self._buf
        codec = self.codec
        sink = self.sink
        pt_audio = self.payload_type
        for _ in range(_MAX_PACKETS_PER_TICK):
            try:
                length, addr = sock.recvfrom_into(buf)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                # ICMP port unreachable from a previous send surfaces here; keep going.
                continue
            start, end = payload_offset(buf, length)
            if start < 0:
                continue
            pt = buf[1] & 0x7F
            self.last_rx = now
            self.packets_in += 1
            if addr != self.remote:
                # Symmetric RTP: follow the source of the peer's packets.
                self.remote = addr
            self.latched = True
            if pt == pt_audio and codec is not None and sink is not None and self.receiving:
                sink.write(codec.decode(bytes(buf[start:end])))

    def drain_rtcp(self) -> None:
        try:
            while True:
                self.rtcp_sock.recv(2048)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return

    def transmit(self, tick: int) -> None:
        """Send one frame from the source, timestamped on the tick grid."""
        source = self.source
        remote = self.remote
        if source is None or remote is None or not self.sending or self.codec is None:
            self.talking = False
            return
        frame = source.read(self.frame_bytes)
        if not frame:
            self.talking = False
            return
        payload = self.codec.encode(frame)
        samples = self.frame_bytes >> 1
        timestamp = (self.ts_base + tick * samples) & 0xFFFFFFFF
        marker = 0 if self.talking else 0x80
        self.talking = True
        header = self._header
        _HEADER.pack_into(
            header, 0, 0x80, marker | self.payload_type, self.sequence, timestamp, self.ssrc
        )
        self.sequence = (self.sequence + 1) & 0xFFFF
        try:
            self.sock.sendto(header + payload, remote)
            self.packets_out += 1
        except OSError as exc:
            log.debug("RTP send to %s failed: %s", remote, exc)

    def close(self) -> None:
        self.sock.close()
        self.rtcp_sock.close()
