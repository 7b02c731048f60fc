"""RTP packets (RFC 3550 §5.1) as objects, for the control path and tests.

The media path does not build these objects: it reads the fixed header with
`struct.unpack_from` into locals (see rtp.stream). This module is the readable reference
both are tested against.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

RTP_VERSION = 2
FIXED_HEADER = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, sequence, timestamp, SSRC
HEADER_SIZE = FIXED_HEADER.size


class RtpError(ValueError):
    """A datagram that is not a usable RTP packet."""


@dataclass(slots=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: list[int] = field(default_factory=list)
    extension: tuple[int, bytes] | None = None  # (profile id, data)
    padding: int = 0  # number of padding octets, 0 for none

    @classmethod
    def parse(cls, data: bytes | memoryview) -> RtpPacket:
        if len(data) < HEADER_SIZE:
            raise RtpError(f"RTP packet too short: {len(data)} bytes")
        b0, b1, seq, ts, ssrc = FIXED_HEADER.unpack_from(data)
        if b0 >> 6 != RTP_VERSION:
            raise RtpError(f"RTP version {b0 >> 6}, expected 2")
        offset = HEADER_SIZE
        cc = b0 & 0x0F
        if len(data) < offset + 4 * cc:
            raise RtpError("RTP CSRC list truncated")
        csrcs = list(struct.unpack_from(f"!{cc}I", data, offset))
        offset += 4 * cc
        extension = None
        if b0 & 0x10:
            if len(data) < offset + 4:
                raise RtpError("RTP extension header truncated")
            profile, words = struct.unpack_from("!HH", data, offset)
            offset += 4
            if len(data) < offset + 4 * words:
                raise RtpError("RTP extension truncated")
            extension = (profile, bytes(data[offset : offset + 4 * words]))
            offset += 4 * words
        end = len(data)
        padding = 0
        if b0 & 0x20:
            padding = data[-1]
            if padding == 0 or offset + padding > end:
                raise RtpError("RTP padding length invalid")
            end -= padding
        return cls(
            payload_type=b1 & 0x7F,
            sequence=seq,
            timestamp=ts,
            ssrc=ssrc,
            payload=bytes(data[offset:end]),
            marker=bool(b1 & 0x80),
            csrcs=csrcs,
            extension=extension,
            padding=padding,
        )

    def serialize(self) -> bytes:
        b0 = (RTP_VERSION << 6) | len(self.csrcs)
        if self.extension is not None:
            b0 |= 0x10
        if self.padding:
            b0 |= 0x20
        b1 = (0x80 if self.marker else 0) | (self.payload_type & 0x7F)
        parts = [FIXED_HEADER.pack(b0, b1, self.sequence, self.timestamp, self.ssrc)]
        if self.csrcs:
            parts.append(struct.pack(f"!{len(self.csrcs)}I", *self.csrcs))
        if self.extension is not None:
            profile, data = self.extension
            if len(data) % 4:
                raise RtpError("RTP extension data must be a multiple of 4 octets")
            parts.append(struct.pack("!HH", profile, len(data) // 4))
            parts.append(data)
        parts.append(self.payload)
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes([self.padding]))
        return b"".join(parts)


def payload_offset(data: bytes | bytearray | memoryview, length: int) -> tuple[int, int]:
    """(start, end) of the payload in a raw packet of `length` bytes; (-1, -1) if invalid.

    The media path's header walk: CSRCs, extension and padding are skipped without
    building objects.
    """
    if length < HEADER_SIZE:
        return -1, -1
    b0 = data[0]
    if b0 >> 6 != RTP_VERSION:
        return -1, -1
    start = HEADER_SIZE + 4 * (b0 & 0x0F)
    if b0 & 0x10:
        if length < start + 4:
            return -1, -1
        start += 4 + 4 * ((data[start + 2] << 8) | data[start + 3])
    end = length
    if b0 & 0x20:
        end -= data[length - 1]
    if start > end:
        return -1, -1
    return start, end
