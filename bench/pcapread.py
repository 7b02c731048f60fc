"""A small reader for classic pcap files (what `tcpdump -w` writes): UDP datagrams only.

Rules it keeps:
- Both byte orders and both time resolutions (magic a1b2c3d4 = µs, a1b23c4d = ns);
  times come out as integer ns since the epoch (CLOCK_REALTIME, as the kernel stamped).
- Link types: Ethernet (1, what tcpdump gives for `lo`), Linux cooked v1 (113) and
  v2 (276), raw IP (101). IPv4 and IPv6 without extension headers. Anything else,
  fragments and truncated frames are skipped, never raised on: a capture cut short by
  SIGINT still yields every complete record before the cut.
- pcapng is not read (tcpdump writes classic pcap unless told otherwise).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import NamedTuple

MAGIC_US = 0xA1B2C3D4
MAGIC_NS = 0xA1B23C4D
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_VLAN = 0x8100
IPPROTO_UDP = 17

_PORTS = struct.Struct("!HH")


class PcapError(ValueError):
    """Not a classic pcap file (or not one this reader understands)."""


class Datagram(NamedTuple):
    ts_ns: int
    src_port: int
    dst_port: int
    payload: bytes  # as much of the UDP payload as the snap length kept


class PcapHeader(NamedTuple):
    endian: str  # '<' or '>'
    ns_resolution: bool
    snaplen: int
    linktype: int


def read_header(data: bytes) -> PcapHeader:
    if len(data) < 24:
        raise PcapError("shorter than a pcap global header")
    for endian in ("<", ">"):
        (magic,) = struct.unpack_from(endian + "I", data)
        if magic in (MAGIC_US, MAGIC_NS):
            _major, _minor, _zone, _sigfigs, snaplen, linktype = struct.unpack_from(
                endian + "HHiIII", data, 4
            )
            return PcapHeader(endian, magic == MAGIC_NS, snaplen, linktype & 0xFFFF)
    raise PcapError(f"unknown pcap magic {data[:4].hex()} (pcapng is not supported)")


def _network_offset(frame: bytes, linktype: int) -> tuple[int, int] | None:
    """(ethertype, offset of the IP header) for one link-layer frame, None if not IP."""
    if linktype == LINKTYPE_ETHERNET:
        if len(frame) < 14:
            return None
        ethertype, off = int.from_bytes(frame[12:14], "big"), 14
        if ethertype == ETHERTYPE_VLAN and len(frame) >= 18:
            ethertype, off = int.from_bytes(frame[16:18], "big"), 18
        return ethertype, off
    if linktype == LINKTYPE_LINUX_SLL:
        return (int.from_bytes(frame[14:16], "big"), 16) if len(frame) >= 16 else None
    if linktype == LINKTYPE_LINUX_SLL2:
        return (int.from_bytes(frame[0:2], "big"), 20) if len(frame) >= 20 else None
    if linktype == LINKTYPE_RAW and frame:
        version = frame[0] >> 4
        return ({4: ETHERTYPE_IPV4, 6: ETHERTYPE_IPV6}.get(version, 0), 0)
    return None


def udp_of(frame: bytes, linktype: int) -> tuple[int, int, bytes] | None:
    """(src port, dst port, payload) of a UDP frame, or None for anything else."""
    found = _network_offset(frame, linktype)
    if found is None:
        return None
    ethertype, off = found
    if ethertype == ETHERTYPE_IPV4:
        if len(frame) < off + 20 or frame[off + 9] != IPPROTO_UDP:
            return None
        if int.from_bytes(frame[off + 6 : off + 8], "big") & 0x3FFF:
            return None  # a fragment: ports (if any) belong to the first piece only
        udp = off + (frame[off] & 0x0F) * 4
    elif ethertype == ETHERTYPE_IPV6:
        if len(frame) < off + 40 or frame[off + 6] != IPPROTO_UDP:
            return None
        udp = off + 40
    else:
        return None
    if len(frame) < udp + 8:
        return None
    src, dst = _PORTS.unpack_from(frame, udp)
    length = int.from_bytes(frame[udp + 4 : udp + 6], "big")
    end = min(len(frame), udp + max(length, 8))
    return src, dst, frame[udp + 8 : end]


def iter_udp(data: bytes) -> Iterator[Datagram]:
    """Every UDP datagram of a pcap file's bytes, in file order."""
    head = read_header(data)
    record = struct.Struct(head.endian + "IIII")
    scale = 1 if head.ns_resolution else 1000
    pos, size = 24, len(data)
    while pos + 16 <= size:
        sec, frac, incl, _orig = record.unpack_from(data, pos)
        pos += 16
        if pos + incl > size:
            return  # cut short mid-record (the writer was killed)
        found = udp_of(data[pos : pos + incl], head.linktype)
        pos += incl
        if found is not None:
            yield Datagram(sec * 1_000_000_000 + frac * scale, *found)
