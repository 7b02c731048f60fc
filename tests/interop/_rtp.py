"""The test's own RTP endpoint: pack/unpack (RFC 3550 §5.1), a paced sender that records
what comes back, and the analysis that matches the echo to what was sent.

Written with struct only, not with sems_lite's RTP code, so the test stays independent.
"""

from __future__ import annotations

import math
import select
import socket
import statistics
import struct
import time
from dataclasses import dataclass, field

from . import _audio

RTP_VERSION = 2
_HEADER = struct.Struct("!BBHII")
PT_PCMU = 0
PT_PCMA = 8
PTIME = 0.020


def pack_rtp(pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool = False) -> bytes:
    """A plain RTP packet: V=2, no padding, no extension, no CSRC."""
    return _HEADER.pack(RTP_VERSION << 6, (marker << 7) | pt, seq & 0xFFFF, ts, ssrc) + payload


@dataclass
class RtpPacket:
    pt: int
    seq: int
    ts: int
    ssrc: int
    marker: bool
    payload: bytes


def unpack_rtp(data: bytes) -> RtpPacket | None:
    """Parse an RTP packet (CSRCs, extension and padding skipped); None if it is not RTP."""
    if len(data) < _HEADER.size:
        return None
    b0, b1, seq, ts, ssrc = _HEADER.unpack_from(data)
    if b0 >> 6 != RTP_VERSION:
        return None
    offset = _HEADER.size + 4 * (b0 & 0x0F)
    if b0 & 0x10:  # header extension: 16-bit profile, 16-bit length in words
        if len(data) < offset + 4:
            return None
        offset += 4 + 4 * struct.unpack_from("!H", data, offset + 2)[0]
    end = len(data)
    if b0 & 0x20:  # padding: last octet counts the padding octets
        end -= data[-1]
    if offset > end:
        return None
    return RtpPacket(b1 & 0x7F, seq, ts, ssrc, bool(b1 & 0x80), data[offset:end])


@dataclass
class Arrival:
    mono: float  # time.monotonic() at receipt, for delays
    wall: float  # time.time() at receipt, to compare with sipp's [timestamp]
    source: tuple
    packet: RtpPacket | None
    raw: bytes


@dataclass
class StreamRecord:
    """What a paced RTP run sent and what came back."""

    send_mono: list[float] = field(default_factory=list)
    send_wall: list[float] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    arrivals: list[Arrival] = field(default_factory=list)

    def rtp(self, pt: int | None = None) -> list[Arrival]:
        """Arrivals that parsed as RTP (of one payload type if given)."""
        return [a for a in self.arrivals if a.packet and (pt is None or a.packet.pt == pt)]


def stream(
    sock: socket.socket,
    dest: tuple,
    payloads: list[bytes],
    *,
    pt: int = PT_PCMU,
    ssrc: int = 0x5E55_7E57,
    seq0: int = 4711,
    ts0: int = 160_000,
    tail: float = 0.3,
    record: StreamRecord | None = None,
) -> StreamRecord:
    """Send one packet per 20 ms on absolute deadlines and record every datagram received.

    Bounded: returns `tail` seconds after the last packet. Arrivals are read between
    sends, so the receive timestamps are good to well under a millisecond on loopback.
    """
    rec = record or StreamRecord()
    start = time.monotonic() + 0.005
    deadline_end = start + len(payloads) * PTIME + tail
    i = 0
    while True:
        now = time.monotonic()
        if i < len(payloads) and now >= start + i * PTIME:
            pkt = pack_rtp(pt, seq0 + i, ts0 + i * _audio.FRAME, ssrc, payloads[i], i == 0)
            rec.send_mono.append(time.monotonic())
            rec.send_wall.append(time.time())
            rec.payloads.append(payloads[i])
            try:
                sock.sendto(pkt, dest)
            except ConnectionRefusedError:  # a queued ICMP error surfaced here; send again
                sock.sendto(pkt, dest)
            i += 1
            continue
        if now >= deadline_end:
            return rec
        wake = start + i * PTIME if i < len(payloads) else deadline_end
        ready, _, _ = select.select([sock], [], [], max(0.0, wake - now))
        if ready:
            _drain(sock, rec)


def _drain(sock: socket.socket, rec: StreamRecord) -> None:
    while True:
        try:
            data, source = sock.recvfrom(2048, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except ConnectionRefusedError:  # ICMP after a send to a closed port; keep going
            continue
        rec.arrivals.append(Arrival(time.monotonic(), time.time(), source, unpack_rtp(data), data))


def listen(sock: socket.socket, seconds: float, rec: StreamRecord | None = None) -> StreamRecord:
    """Only record arrivals for a while (nothing sent)."""
    rec = rec or StreamRecord()
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        ready, _, _ = select.select([sock], [], [], left)
        if ready:
            _drain(sock, rec)
    return rec


@dataclass
class EchoReport:
    sent: int
    received: int
    matched: int
    delays_ms: list[float]
    correlation: float
    snr_db: float
    payload_types: set[int]
    ssrcs: set[int]
    # (index of the newest sent frame the packet carries, arrival wall-clock time)
    frames: list[tuple[int, float]] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.delays_ms) if self.delays_ms else float("inf")

    @property
    def p95_ms(self) -> float:
        return _audio.percentile(self.delays_ms, 95) if self.delays_ms else float("inf")

    def summary(self) -> str:
        return (
            f"sent={self.sent} received={self.received} matched={self.matched} "
            f"median={self.median_ms:.1f}ms p95={self.p95_ms:.1f}ms "
            f"corr={self.correlation:.5f} snr={self.snr_db:.1f}dB "
            f"pts={sorted(self.payload_types)} ssrcs={len(self.ssrcs)}"
        )


def _normalise_ulaw(payload: bytes) -> bytes:
    # 0x7F and 0xFF both decode to zero; a decode/encode pass may swap one for the other.
    return payload.replace(b"\x7f", b"\xff")


def _extended(seqs: list[int]) -> list[int]:
    """Unwrap 16-bit sequence numbers (in arrival order) to a monotone scale."""
    out: list[int] = []
    for s in seqs:
        if not out:
            out.append(s)
            continue
        last = out[-1]
        delta = (s - last) & 0xFFFF
        out.append(last + delta if delta < 0x8000 else last - ((last - s) & 0xFFFF))
    return out


def analyse_echo(rec: StreamRecord, *, pt: int = PT_PCMU) -> EchoReport:
    """Match each echoed PCMU packet to the frame it carries and measure the echo.

    Matching is by content: exact payload first, else the best least-squares fit of the
    decoded packet anywhere in the sent signal (a box that re-cuts frames still matches).
    A packet's delay is its arrival minus the send time of the newest sample it carries.
    The echo stream (in its own RTP sequence order, between the first and last matched
    packet) is then aligned with the G.711-round-tripped original and compared.
    """
    if pt != PT_PCMU:
        raise ValueError("analyse_echo handles PCMU only")
    frame_of = {_normalise_ulaw(p): i for i, p in enumerate(rec.payloads)}
    sent_lin = _audio.from_ulaw(b"".join(rec.payloads))  # the round-tripped original
    echoes = rec.rtp(pt)
    delays: list[float] = []
    matched: list[tuple[int, float]] = []
    matched_seq: set[int] = set()
    frame_bytes = _audio.FRAME * _audio.WIDTH
    for arr in echoes:
        payload = arr.packet.payload
        index = frame_of.get(_normalise_ulaw(payload))
        if index is not None:
            newest = index
        elif len(payload) == _audio.FRAME and len(sent_lin) >= frame_bytes:
            lin = _audio.from_ulaw(payload)
            off = _audio.findfit(sent_lin, lin)
            corr, _ = _audio.compare(sent_lin[off * 2 : off * 2 + len(lin)], lin)
            if corr < 0.99:
                continue
            newest = (off + _audio.FRAME - 1) // _audio.FRAME
        else:
            continue
        if newest < len(rec.send_mono):
            delays.append((arr.mono - rec.send_mono[newest]) * 1000.0)
            matched.append((newest, arr.wall))
            matched_seq.add(arr.packet.seq)
    corr, snr = 0.0, -math.inf
    if matched_seq:
        corr, snr = _stream_quality(echoes, matched_seq, sent_lin)
    return EchoReport(
        sent=len(rec.payloads),
        received=len(echoes),
        matched=len(delays),
        delays_ms=delays,
        correlation=corr,
        snr_db=snr,
        payload_types={a.packet.pt for a in rec.rtp()},
        ssrcs={a.packet.ssrc for a in echoes},
        frames=matched,
    )


def _stream_quality(
    echoes: list[Arrival], matched_seq: set[int], sent_lin: bytes
) -> tuple[float, float]:
    ext = _extended([a.packet.seq for a in echoes])
    by_ext = dict(zip(ext, (a.packet.payload for a in echoes), strict=True))
    matched_ext = {e for e, a in zip(ext, echoes, strict=True) if a.packet.seq in matched_seq}
    lo, hi = min(matched_ext), max(matched_ext)
    # Missing sequence numbers become silence, so a lost frame shows up as error.
    silence = b"\xff" * _audio.FRAME
    ulaw = b"".join(by_ext.get(s, silence) for s in range(lo, hi + 1))
    echo_lin = _audio.from_ulaw(ulaw)
    trim = 2 * _audio.FRAME * _audio.WIDTH  # the first/last frames may be cut
    ref = echo_lin[trim:-trim] if len(echo_lin) > 3 * trim else echo_lin
    if len(ref) > len(sent_lin):
        return 0.0, -math.inf
    off = _audio.findfit(sent_lin, ref)
    return _audio.compare(sent_lin[off * 2 : off * 2 + len(ref)], ref)
