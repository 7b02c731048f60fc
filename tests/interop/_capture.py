"""Capture UDP on the loopback interface with an AF_PACKET socket (root only).

Each datagram comes with the kernel's receive timestamp (SO_TIMESTAMPNS), so the times
are those of the wire, not of when Python got round to reading them.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4  # on lo every packet shows up twice: as sent and as received
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@ll")


@dataclass
class UdpDatagram:
    time: float  # kernel timestamp, seconds since the epoch
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes


def _parse(frame: bytes, stamp: float) -> UdpDatagram | None:
    if len(frame) < 14:
        return None
    ethertype = int.from_bytes(frame[12:14], "big")
    ip = frame[14:]
    if ethertype == 0x0800 and len(ip) >= 20 and ip[9] == socket.IPPROTO_UDP:
        ihl = (ip[0] & 0x0F) * 4
        src = socket.inet_ntop(socket.AF_INET, ip[12:16])
        dst = socket.inet_ntop(socket.AF_INET, ip[16:20])
        udp = ip[ihl:]
    elif ethertype == 0x86DD and len(ip) >= 40 and ip[6] == socket.IPPROTO_UDP:
        src = socket.inet_ntop(socket.AF_INET6, ip[8:24])
        dst = socket.inet_ntop(socket.AF_INET6, ip[24:40])
        udp = ip[40:]
    else:
        return None
    if len(udp) < 8:
        return None
    sport, dport, length = struct.unpack_from("!HHH", udp)
    return UdpDatagram(stamp, (src, sport), (dst, dport), bytes(udp[8:length]))


class LoopbackCapture:
    """All UDP datagrams on lo while it runs; raises PermissionError without CAP_NET_RAW."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
            self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            self.sock.bind(("lo", 0))
        except BaseException:
            self.sock.close()
            raise
        self.datagrams: list[UdpDatagram] = []

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> LoopbackCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, done: Callable[[], bool], timeout: float) -> None:
        """Read until done() or timeout, then drain what the kernel still holds."""
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:
            ready, _, _ = select.select([self.sock], [], [], 0.05)
            if ready:
                self._drain()
        self._drain()

    def _drain(self) -> None:
        space = socket.CMSG_SPACE(_TIMESPEC.size)
        while True:
            try:
                frame, ancdata, _flags, addr = self.sock.recvmsg(65600, space, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            if addr[2] == PACKET_OUTGOING:
                continue
            stamp = time.time()
            for level, kind, data in ancdata:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = _TIMESPEC.unpack(data[: _TIMESPEC.size])
                    stamp = sec + nsec / 1e9
            datagram = _parse(frame, stamp)
            if datagram is not None:
                self.datagrams.append(datagram)

    def between(self, src_port: int, dst_port: int) -> list[UdpDatagram]:
        return [d for d in self.datagrams if d.src[1] == src_port and d.dst[1] == dst_port]


def capture_or_skip() -> LoopbackCapture:
    """A capture, or skip the test when this process may not open packet sockets."""
    try:
        return LoopbackCapture()
    except OSError as exc:
        pytest.skip(f"no AF_PACKET capture on lo ({exc}); it needs root or CAP_NET_RAW")
