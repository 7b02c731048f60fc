"""RTCP (RFC 3550 §6): compound packets as objects, and a sans-IO reporting session.

Rules this module keeps:

* `parse_compound()` raises only `RtcpError` on bad input. It checks version, lengths,
  padding and every count against the bytes present, and is liberal in what it accepts:
  any packet type may come first (reduced-size RTCP, RFC 5506) and unknown types
  (APP, feedback, XR) come back as `RtcpUnknown` with their body.
* Objects are frozen and built from tuples, so `parse_compound(serialize_compound(x)) == x`.
  `serialize()` raises `RtcpError` for values that do not fit their fields.
* SDES text is kept as bytes: the wire carries UTF-8 but a peer's bad bytes must not
  become a decoding exception.
* `RtcpSession` never reads a clock: callers pass `now` (monotonic seconds) and, when a
  sender report is built, `wallclock` (Unix seconds) for its NTP timestamp. Round-trip
  time is measured on the monotonic clock: we remember when each of our recent SRs left
  and subtract the peer's DLSR, so a wall-clock step cannot distort it.
"""

from __future__ import annotations

import random as _random
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

RTCP_VERSION = 2
PT_SR = 200
PT_RR = 201
PT_SDES = 202
PT_BYE = 203
PT_APP = 204

SDES_END = 0
SDES_CNAME = 1

NTP_UNIX_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01
RTCP_MIN_INTERVAL = 5.0  # seconds (RFC 3550 §6.2)
RTCP_BW_FRACTION = 0.05  # of the session bandwidth
RTCP_SENDER_BW_FRACTION = 0.25
UDP_IP_OVERHEAD = 28  # IPv4 + UDP octets counted into the average RTCP size

_HEADER = struct.Struct("!BBH")
_SR_INFO = struct.Struct("!IQIII")  # SSRC, NTP timestamp, RTP timestamp, packets, octets
_REPORT = struct.Struct("!IIIIII")  # SSRC, fraction|lost, highest seq, jitter, LSR, DLSR
_SSRC = struct.Struct("!I")
_MAX_COUNT = 31  # the 5-bit RC/SC field
_MAX_WORDS = 0xFFFF


class RtcpError(ValueError):
    """Bytes that are not a valid RTCP compound packet, or values that cannot be sent."""


def is_rtcp(first_two_bytes: bytes | bytearray | memoryview) -> bool:
    """RFC 5761 §4: on a muxed port, RTCP packet types 192–223 sit where RTP has M + PT."""
    return len(first_two_bytes) >= 2 and 192 <= first_two_bytes[1] <= 223


# -- NTP timestamps -------------------------------------------------------------------


def ntp_from_unix(seconds: float) -> int:
    """64-bit NTP timestamp (32.32 fixed point) for a Unix time."""
    whole = int(seconds // 1)
    frac = int((seconds - whole) * 4294967296.0)
    return (((whole + NTP_UNIX_OFFSET) & 0xFFFFFFFF) << 32) | (frac & 0xFFFFFFFF)


def ntp_to_unix(ntp: int) -> float:
    """Unix time of a 64-bit NTP timestamp; a clear top bit means era 1 (2036 on)."""
    secs = ntp >> 32
    if secs < 0x80000000:
        secs += 1 << 32
    return secs - NTP_UNIX_OFFSET + (ntp & 0xFFFFFFFF) / 4294967296.0


def ntp_middle32(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp: the LSR field's format (16.16 seconds)."""
    return (ntp >> 16) & 0xFFFFFFFF


# -- packet objects -------------------------------------------------------------------


def _check(value: int, bits: int, name: str) -> None:
    if not 0 <= value < (1 << bits):
        raise RtcpError(f"{name} {value} does not fit in {bits} bits")


def _header(b0_low: int, packet_type: int, body_len: int) -> bytes:
    if body_len % 4:
        raise RtcpError("RTCP packet body must be a multiple of 4 octets")
    words = body_len // 4
    if words > _MAX_WORDS:
        raise RtcpError("RTCP packet too long")
    return _HEADER.pack((RTCP_VERSION << 6) | b0_low, packet_type, words)


def _count(items: tuple, what: str) -> int:
    if len(items) > _MAX_COUNT:
        raise RtcpError(f"at most {_MAX_COUNT} {what} fit in one RTCP packet")
    return len(items)


@dataclass(frozen=True, slots=True)
class ReportBlock:
    ssrc: int
    fraction_lost: int  # lost/expected since the last report, as n/256
    cumulative_lost: int  # signed 24-bit: duplicates can make it negative
    highest_seq: int  # extended highest sequence number received
    jitter: int  # interarrival jitter, timestamp units
    lsr: int  # middle 32 bits of the last SR's NTP timestamp, 0 if none
    dlsr: int  # delay since that SR, 1/65536 s

    def serialize(self) -> bytes:
        _check(self.ssrc, 32, "SSRC")
        _check(self.fraction_lost, 8, "fraction lost")
        if not -0x800000 <= self.cumulative_lost <= 0x7FFFFF:
            raise RtcpError(f"cumulative lost {self.cumulative_lost} out of 24-bit range")
        for value, name in (
            (self.highest_seq, "highest seq"),
            (self.jitter, "jitter"),
            (self.lsr, "LSR"),
            (self.dlsr, "DLSR"),
        ):
            _check(value, 32, name)
        word = (self.fraction_lost << 24) | (self.cumulative_lost & 0xFFFFFF)
        return _REPORT.pack(self.ssrc, word, self.highest_seq, self.jitter, self.lsr, self.dlsr)

    @classmethod
    def parse_from(cls, data: bytes, offset: int) -> ReportBlock:
        ssrc, word, highest, jitter, lsr, dlsr = _REPORT.unpack_from(data, offset)
        lost = word & 0xFFFFFF
        if lost & 0x800000:
            lost -= 0x1000000
        return cls(ssrc, word >> 24, lost, highest, jitter, lsr, dlsr)


def _blocks(reports: tuple[ReportBlock, ...]) -> bytes:
    return b"".join(r.serialize() for r in reports)


@dataclass(frozen=True, slots=True)
class SenderReport:
    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""  # profile-specific, a multiple of 4 octets

    def serialize(self) -> bytes:
        _check(self.ssrc, 32, "SSRC")
        _check(self.ntp_timestamp, 64, "NTP timestamp")
        _check(self.rtp_timestamp, 32, "RTP timestamp")
        _check(self.packet_count, 32, "packet count")
        _check(self.octet_count, 32, "octet count")
        body = (
            _SR_INFO.pack(
                self.ssrc,
                self.ntp_timestamp,
                self.rtp_timestamp,
                self.packet_count,
                self.octet_count,
            )
            + _blocks(self.reports)
            + self.extension
        )
        return _header(_count(self.reports, "report blocks"), PT_SR, len(body)) + body


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""

    def serialize(self) -> bytes:
        _check(self.ssrc, 32, "SSRC")
        body = _SSRC.pack(self.ssrc) + _blocks(self.reports) + self.extension
        return _header(_count(self.reports, "report blocks"), PT_RR, len(body)) + body


@dataclass(frozen=True, slots=True)
class SdesChunk:
    ssrc: int
    items: tuple[tuple[int, bytes], ...] = ()  # (item type, text)

    @property
    def cname(self) -> bytes | None:
        for kind, text in self.items:
            if kind == SDES_CNAME:
                return text
        return None

    def serialize(self) -> bytes:
        _check(self.ssrc, 32, "SSRC")
        parts = [_SSRC.pack(self.ssrc)]
        size = 0
        for kind, text in self.items:
            if not 1 <= kind <= 255:
                raise RtcpError(f"SDES item type {kind} invalid")
            if len(text) > 255:
                raise RtcpError("SDES item longer than 255 octets")
            parts.append(bytes((kind, len(text))) + text)
            size += 2 + len(text)
        # One null octet ends the list, more pad the chunk to a 32-bit boundary.
        parts.append(bytes(4 - size % 4))
        return b"".join(parts)


@dataclass(frozen=True, slots=True)
class SourceDescription:
    chunks: tuple[SdesChunk, ...] = ()

    def serialize(self) -> bytes:
        body = b"".join(c.serialize() for c in self.chunks)
        return _header(_count(self.chunks, "SDES chunks"), PT_SDES, len(body)) + body


@dataclass(frozen=True, slots=True)
class Bye:
    ssrcs: tuple[int, ...] = ()
    reason: bytes = b""

    def serialize(self) -> bytes:
        for ssrc in self.ssrcs:
            _check(ssrc, 32, "SSRC")
        body = b"".join(_SSRC.pack(s) for s in self.ssrcs)
        if self.reason:
            if len(self.reason) > 255:
                raise RtcpError("BYE reason longer than 255 octets")
            reason = bytes((len(self.reason),)) + self.reason
            body += reason + bytes(-len(reason) % 4)
        return _header(_count(self.ssrcs, "BYE sources"), PT_BYE, len(body)) + body


@dataclass(frozen=True, slots=True)
class RtcpUnknown:
    """A packet type this module does not interpret (APP, feedback, XR, ...)."""

    packet_type: int
    count: int  # the 5-bit field after V and P
    body: bytes  # everything after the 4-octet header, padding removed

    def serialize(self) -> bytes:
        _check(self.count, 5, "count")
        _check(self.packet_type, 8, "packet type")
        return _header(self.count, self.packet_type, len(self.body)) + self.body


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Bye | RtcpUnknown


# -- parsing --------------------------------------------------------------------------


def parse_compound(data: bytes | bytearray | memoryview) -> list[RtcpPacket]:
    """All packets of a compound RTCP datagram, in order."""
    data = bytes(data)
    n = len(data)
    if n < 4:
        raise RtcpError(f"RTCP packet too short: {n} bytes")
    packets: list[RtcpPacket] = []
    offset = 0
    while offset < n:
        if n - offset < 4:
            raise RtcpError("RTCP header truncated")
        b0, packet_type, words = _HEADER.unpack_from(data, offset)
        if b0 >> 6 != RTCP_VERSION:
            raise RtcpError(f"RTCP version {b0 >> 6}, expected 2")
        end = offset + 4 * (words + 1)
        if end > n:
            raise RtcpError("RTCP length field exceeds the datagram")
        body_end = end
        if b0 & 0x20:
            pad = data[end - 1]
            if pad == 0 or pad > end - offset - 4:
                raise RtcpError("RTCP padding length invalid")
            body_end -= pad
        packets.append(_parse_one(packet_type, b0 & 0x1F, data, offset + 4, body_end))
        offset = end
    return packets


def _parse_one(packet_type: int, count: int, data: bytes, start: int, end: int) -> RtcpPacket:
    if packet_type == PT_SR:
        if end - start < _SR_INFO.size + _REPORT.size * count:
            raise RtcpError("RTCP SR shorter than its report count")
        ssrc, ntp, rtp_ts, packets, octets = _SR_INFO.unpack_from(data, start)
        pos = start + _SR_INFO.size
        reports = _parse_blocks(data, pos, count)
        pos += _REPORT.size * count
        return SenderReport(ssrc, ntp, rtp_ts, packets, octets, reports, data[pos:end])
    if packet_type == PT_RR:
        if end - start < 4 + _REPORT.size * count:
            raise RtcpError("RTCP RR shorter than its report count")
        (ssrc,) = _SSRC.unpack_from(data, start)
        pos = start + 4
        reports = _parse_blocks(data, pos, count)
        pos += _REPORT.size * count
        return ReceiverReport(ssrc, reports, data[pos:end])
    if packet_type == PT_SDES:
        return _parse_sdes(count, data, start, end)
    if packet_type == PT_BYE:
        return _parse_bye(count, data, start, end)
    return RtcpUnknown(packet_type, count, data[start:end])


def _parse_blocks(data: bytes, pos: int, count: int) -> tuple[ReportBlock, ...]:
    return tuple(ReportBlock.parse_from(data, pos + _REPORT.size * k) for k in range(count))


def _parse_sdes(count: int, data: bytes, pos: int, end: int) -> SourceDescription:
    chunks = []
    for _ in range(count):
        if end - pos < 4:
            raise RtcpError("RTCP SDES chunk truncated")
        (ssrc,) = _SSRC.unpack_from(data, pos)
        pos += 4
        items = []
        while True:
            if pos >= end:
                raise RtcpError("RTCP SDES item list not terminated")
            kind = data[pos]
            if kind == SDES_END:
                # Skip the terminator and the null octets up to the next 32-bit boundary
                # (packets, hence chunks, start 32-bit aligned in the datagram).
                pos = (pos + 4) & ~3
                if pos > end:
                    raise RtcpError("RTCP SDES chunk padding truncated")
                break
            if end - pos < 2 or end - pos < 2 + data[pos + 1]:
                raise RtcpError("RTCP SDES item truncated")
            length = data[pos + 1]
            items.append((kind, data[pos + 2 : pos + 2 + length]))
            pos += 2 + length
        chunks.append(SdesChunk(ssrc, tuple(items)))
    if any(data[pos:end]):
        raise RtcpError("RTCP SDES has data after its chunks")
    return SourceDescription(tuple(chunks))


def _parse_bye(count: int, data: bytes, pos: int, end: int) -> Bye:
    if end - pos < 4 * count:
        raise RtcpError("RTCP BYE shorter than its source count")
    ssrcs = tuple(_SSRC.unpack_from(data, pos + 4 * k)[0] for k in range(count))
    pos += 4 * count
    reason = b""
    if pos < end:
        length = data[pos]
        if pos + 1 + length > end:
            raise RtcpError("RTCP BYE reason truncated")
        reason = data[pos + 1 : pos + 1 + length]
    return Bye(ssrcs, reason)


def serialize_compound(packets: Iterable[RtcpPacket]) -> bytes:
    return b"".join(p.serialize() for p in packets)


# -- building the usual compounds ----------------------------------------------------


def build_sr_sdes(
    ssrc: int,
    ntp_timestamp: int,
    rtp_timestamp: int,
    packet_count: int,
    octet_count: int,
    cname: bytes,
    reports: tuple[ReportBlock, ...] = (),
) -> bytes:
    """SR + SDES(CNAME): what a participant that sent media reports."""
    sr = SenderReport(
        ssrc,
        ntp_timestamp,
        rtp_timestamp,
        packet_count & 0xFFFFFFFF,
        octet_count & 0xFFFFFFFF,
        reports,
    )
    return sr.serialize() + _sdes(ssrc, cname).serialize()


def build_rr_sdes(ssrc: int, cname: bytes, reports: tuple[ReportBlock, ...] = ()) -> bytes:
    """RR + SDES(CNAME): what a participant that only received reports."""
    return ReceiverReport(ssrc, reports).serialize() + _sdes(ssrc, cname).serialize()


def _sdes(ssrc: int, cname: bytes) -> SourceDescription:
    return SourceDescription((SdesChunk(ssrc, ((SDES_CNAME, cname),)),))


# -- transmission interval (RFC 3550 §6.3.1, A.7) ------------------------------------


def rtcp_interval(
    members: int,
    senders: int,
    rtcp_bw: float,
    we_sent: bool,
    avg_rtcp_size: float,
    initial: bool,
    rand: float,
) -> float:
    """Seconds until the next report. `rtcp_bw` in octets/s, `rand` uniform in [0, 1).

    No timer reconsideration (a call has two members), hence no e − 3/2 compensation:
    the result is max(5 s (2.5 s initially), n × size / bw) scaled by 0.5–1.5.
    """
    t_min = RTCP_MIN_INTERVAL / 2 if initial else RTCP_MIN_INTERVAL
    n = members
    if senders <= members * RTCP_SENDER_BW_FRACTION:
        if we_sent:
            rtcp_bw *= RTCP_SENDER_BW_FRACTION
            n = senders
        else:
            rtcp_bw *= 1 - RTCP_SENDER_BW_FRACTION
            n -= senders
    t = avg_rtcp_size * n / rtcp_bw if rtcp_bw > 0 else t_min
    if t < t_min:
        t = t_min
    return t * (rand + 0.5)


# -- session --------------------------------------------------------------------------


class ReceptionSource(Protocol):
    """What the jitter buffer offers: see `JitterBuffer.reception_report`."""

    def reception_report(self) -> tuple[int, int, int, int] | None: ...


_SR_MEMORY = 4  # our recent SRs remembered for round-trip time


class RtcpSession:
    """When to send RTCP for one RTP stream, what to put in it, and what the peer said.

    Call `poll()` every tick (or from a timer at `next_send`); it returns a compound
    packet when one is due. Feed received RTCP to `receive()`.
    """

    __slots__ = (
        "_rand",
        "_sent_history",
        "_sr_received",
        "_sr_sent",
        "avg_rtcp_size",
        "closed",
        "cname",
        "next_send",
        "remote_bye",
        "remote_ssrc",
        "rtcp_bw",
        "rtt",
        "ssrc",
        "we_sent",
    )

    def __init__(
        self,
        ssrc: int,
        cname: str | bytes,
        session_bandwidth: float = 80000.0,
        random: Callable[[], float] = _random.random,
    ) -> None:
        """`session_bandwidth` in bit/s (G.711 with headers is about 80 kbit/s)."""
        self.ssrc = ssrc
        self.cname = cname.encode() if isinstance(cname, str) else cname
        self.rtcp_bw = session_bandwidth * RTCP_BW_FRACTION / 8
        self._rand = random
        self.avg_rtcp_size = 100.0  # a guess at our first packet's size, as A.7 suggests
        self.next_send: float | None = None
        self.remote_ssrc: int | None = None
        self.remote_bye = False
        self.closed = False
        self.rtt: float | None = None
        self._sr_received: tuple[int, float] | None = None  # (LSR, monotonic arrival)
        self._sr_sent: dict[int, float] = {}  # our SR's middle-32 NTP -> monotonic send
        self._sent_history = [0, 0]  # packets sent at the last two reports
        self.we_sent = False  # whether the last report was an SR

    def _interval(self, initial: bool, we_sent: bool) -> float:
        remote = self.remote_ssrc is not None
        members = 2 if remote else 1
        senders = int(we_sent) + int(remote)
        return rtcp_interval(
            members, senders, self.rtcp_bw, we_sent, self.avg_rtcp_size, initial, self._rand()
        )

    def poll(
        self,
        now: float,
        wallclock: float,
        packets_sent: int,
        octets_sent: int,
        rtp_timestamp: int,
        reception: ReceptionSource | None = None,
        remote_ssrc: int | None = None,
    ) -> bytes | None:
        """The compound packet to send now, or None. The first call schedules the first
        report half the minimum interval away; `rtp_timestamp` must correspond to `now`."""
        if self.closed:
            return None
        if self.next_send is None:
            self.next_send = now + self._interval(initial=True, we_sent=False)
            return None
        if now < self.next_send:
            return None
        data = self.build(
            now, wallclock, packets_sent, octets_sent, rtp_timestamp, reception, remote_ssrc
        )
        self.next_send = now + self._interval(initial=False, we_sent=self.we_sent)
        return data

    def build(
        self,
        now: float,
        wallclock: float,
        packets_sent: int,
        octets_sent: int,
        rtp_timestamp: int,
        reception: ReceptionSource | None = None,
        remote_ssrc: int | None = None,
    ) -> bytes:
        """SR+SDES if we sent media in the last two intervals, else RR+SDES."""
        if remote_ssrc is not None:
            self.remote_ssrc = remote_ssrc
        reports: tuple[ReportBlock, ...] = ()
        stats = reception.reception_report() if reception is not None else None
        if stats is not None and remote_ssrc is not None:
            lsr, dlsr = self._lsr_dlsr(now)
            fraction, cumulative, highest, jitter = stats
            reports = (ReportBlock(remote_ssrc, fraction, cumulative, highest, jitter, lsr, dlsr),)
        # RFC 3550 §6.4: a participant is a sender if it sent RTP in the last two intervals.
        sender = packets_sent != self._sent_history[0]
        self._sent_history = [self._sent_history[1], packets_sent]
        self.we_sent = sender
        if sender:
            ntp = ntp_from_unix(wallclock)
            self._remember_sr(ntp_middle32(ntp), now)
            data = build_sr_sdes(
                self.ssrc,
                ntp,
                rtp_timestamp & 0xFFFFFFFF,
                packets_sent,
                octets_sent,
                self.cname,
                reports,
            )
        else:
            data = build_rr_sdes(self.ssrc, self.cname, reports)
        self._account(len(data))
        return data

    def bye(
        self,
        now: float,
        wallclock: float,
        packets_sent: int,
        octets_sent: int,
        rtp_timestamp: int,
        reception: ReceptionSource | None = None,
        remote_ssrc: int | None = None,
        reason: bytes = b"",
    ) -> bytes:
        """A final report with BYE appended; the session sends nothing after it."""
        data = self.build(
            now, wallclock, packets_sent, octets_sent, rtp_timestamp, reception, remote_ssrc
        )
        self.closed = True
        self.next_send = None
        return data + Bye((self.ssrc,), reason).serialize()

    def receive(self, data: bytes | bytearray | memoryview, now: float) -> list[RtcpPacket]:
        """Take a received compound packet: note the peer's SR for LSR/DLSR and measure
        round-trip time from report blocks about us. Raises RtcpError on bad input."""
        packets = parse_compound(data)
        self._account(len(data))
        for packet in packets:
            if isinstance(packet, SenderReport):
                if packet.ssrc != self.ssrc:
                    self._sr_received = (ntp_middle32(packet.ntp_timestamp), now)
                    self.remote_ssrc = packet.ssrc
                self._take_reports(packet.reports, now)
            elif isinstance(packet, ReceiverReport):
                if packet.ssrc != self.ssrc:
                    self.remote_ssrc = packet.ssrc
                self._take_reports(packet.reports, now)
            elif isinstance(packet, Bye) and self.remote_ssrc in packet.ssrcs:
                self.remote_bye = True
        return packets

    def _take_reports(self, reports: tuple[ReportBlock, ...], now: float) -> None:
        for block in reports:
            if block.ssrc != self.ssrc or block.lsr == 0:
                continue
            sent = self._sr_sent.get(block.lsr)
            if sent is None:
                continue
            rtt = now - sent - block.dlsr / 65536.0
            if rtt >= 0:
                self.rtt = rtt

    def _lsr_dlsr(self, now: float) -> tuple[int, int]:
        if self._sr_received is None:
            return 0, 0
        lsr, arrived = self._sr_received
        return lsr, min(0xFFFFFFFF, max(0, int((now - arrived) * 65536)))

    def _remember_sr(self, middle: int, now: float) -> None:
        sent = self._sr_sent
        sent[middle] = now
        if len(sent) > _SR_MEMORY:
            del sent[next(iter(sent))]

    def _account(self, size: int) -> None:
        # RFC 3550 §6.3.3: a running average of compound sizes, including UDP/IP headers.
        self.avg_rtcp_size += (size + UDP_IP_OVERHEAD - self.avg_rtcp_size) / 16
