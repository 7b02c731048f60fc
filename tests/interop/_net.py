"""Loopback port helpers for the interop tests.

Ports come from the kernel (bind to port 0) so parallel runs do not collide; a port is
only "probably free" once the probe socket is closed, which is good enough on loopback.
"""

from __future__ import annotations

import os
import socket

_PROBE_TRIES = 200


def family_of(host: str) -> socket.AddressFamily:
    """AF_INET6 for an IPv6 literal (with or without brackets), else AF_INET."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def bare_host(host: str) -> str:
    """'[::1]' -> '::1'; IPv4 literals pass through."""
    return host[1:-1] if host.startswith("[") else host


def host_port(host: str, port: int) -> str:
    """Format host:port the way SIP and sipp want it ('[::1]:5060')."""
    host = bare_host(host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bindable(host: str, port: int, kind: socket.SocketKind) -> bool:
    with socket.socket(family_of(host), kind) as sock:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((bare_host(host), port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1", *, tcp_too: bool = True) -> int:
    """A port free for UDP (and TCP too, by default) on host."""
    for _ in range(_PROBE_TRIES):
        with socket.socket(family_of(host), socket.SOCK_DGRAM) as sock:
            sock.bind((bare_host(host), 0))
            port = sock.getsockname()[1]
        if not tcp_too or _bindable(host, port, socket.SOCK_STREAM):
            return port
    raise RuntimeError(f"no free UDP+TCP port on {host}")


def free_port_block(count: int, host: str = "127.0.0.1") -> int:
    """First port of `count` consecutive free UDP ports, the first one even (RTP style)."""
    for _ in range(_PROBE_TRIES):
        with socket.socket(family_of(host), socket.SOCK_DGRAM) as sock:
            sock.bind((bare_host(host), 0))
            start = sock.getsockname()[1] & ~1
        if start + count > 65535:
            continue
        if all(_bindable(host, p, socket.SOCK_DGRAM) for p in range(start, start + count)):
            return start
    raise RuntimeError(f"no block of {count} free UDP ports on {host}")


def worker_index() -> int:
    """pytest-xdist worker number (gw3 -> 3), 0 when not running under xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    digits = "".join(ch for ch in name if ch.isdigit())
    return int(digits) if digits else 0


def rtp_range_for_worker(size: int = 100, host: str = "127.0.0.1") -> tuple[int, int]:
    """An even-based RTP port range below the ephemeral range, one per xdist worker.

    Worker k gets 20000 + k*size; if the first ports are taken (another program on the
    machine) it moves up in steps of 16 ranges, so up to 16 workers never overlap.
    """
    k = worker_index()
    preferred = range(20000 + k * size, 32000 - size + 1, 16 * size)
    # Then any other slice: other sessions on the machine may hold the preferred ones.
    others = range(20000, 32000 - size + 1, size)
    for low in [*preferred, *others]:
        if all(_bindable(host, p, socket.SOCK_DGRAM) for p in (low, low + 1, low + 2)):
            return low, low + size - 1
    raise RuntimeError("no free RTP port range between 20000 and 32000")
