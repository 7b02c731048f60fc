"""The RTP port pool: even RTP ports with RTCP on port+1, from a configured range.

A released pair goes to the back of the queue so a new call does not receive the last
packets of the previous one on the same port.
"""

from __future__ import annotations

import socket
from collections import deque


class RtpPortPool:
    def __init__(self, low: int, high: int) -> None:
        first = low + (low & 1)
        self._free: deque[int] = deque(range(first, high, 2))
        self._in_use: set[int] = set()
        self.size = len(self._free)

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    def allocate(self, host: str) -> tuple[socket.socket, socket.socket, int] | None:
        """Bind an RTP/RTCP socket pair on `host`; None when the range is exhausted."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        for _ in range(len(self._free)):
            port = self._free.popleft()
            rtp = socket.socket(family, socket.SOCK_DGRAM)
            rtcp = socket.socket(family, socket.SOCK_DGRAM)
            try:
                rtp.bind((host, port))
                rtcp.bind((host, port + 1))
            except OSError:
                # Someone else holds it: skip it for now, retry it later.
                rtp.close()
                rtcp.close()
                self._free.append(port)
                continue
            rtp.setblocking(False)
            rtcp.setblocking(False)
            self._in_use.add(port)
            return rtp, rtcp, port
        return None

    def release(self, port: int) -> None:
        if port in self._in_use:
            self._in_use.discard(port)
            self._free.append(port)
            if not self._in_use:
                self._in_use.clear()  # the table a load grew: give it back
