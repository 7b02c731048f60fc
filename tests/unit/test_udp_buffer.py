"""The SIP UDP socket gets a receive buffer big enough for a burst of calls."""

from __future__ import annotations

import socket
from pathlib import Path

from sems_lite.core.loop import Loop
from sems_lite.core.transport import UDP_RECEIVE_BUFFER, Transports, enlarge_receive_buffer


def _kernel_cap() -> int:
    # Linux grants at most net.core.rmem_max, and reports twice the usable size.
    return 2 * int(Path("/proc/sys/net/core/rmem_max").read_text())


def test_the_sip_udp_listener_asks_for_the_large_receive_buffer() -> None:
    loop = Loop()
    try:
        transports = Transports(loop, lambda data, peer: None)
        index = transports.listen("udp", "127.0.0.1", 0)
        sock = transports.listeners[index][3]
        granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        assert granted == min(2 * UDP_RECEIVE_BUFFER, _kernel_cap())
        sock.close()
    finally:
        loop.close()


def test_enlarging_reports_what_the_kernel_granted() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        default = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        granted = enlarge_receive_buffer(sock, 1 << 20)
        assert granted == sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        assert granted == min(2 << 20, _kernel_cap()) and granted >= default


def test_a_buffer_already_large_enough_is_left_alone() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        default = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        assert enlarge_receive_buffer(sock, 4096) == default
