"""SIP transports on the loop: UDP sockets and TCP listeners with their connections.

Incoming data is handed up as (bytes, Peer); the UA answers through `send(data, peer)`.
TCP framing uses `sip.message.frame_stream`; a connection that sends garbage that cannot
be framed is closed. Writes are non-blocking with a bounded per-connection queue.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass

from sems_lite.core.loop import Loop
from sems_lite.sip.errors import SipParseError
from sems_lite.sip.message import frame_stream

log = logging.getLogger("sems_lite.transport")

MAX_DATAGRAM = 65535
MAX_TCP_CONNECTIONS = 1024
MAX_TCP_OUTPUT = 1 << 20  # a peer that does not read gets disconnected past this
TCP_IDLE_TIMEOUT = 600.0  # seconds without traffic before an idle connection is closed
# The kernel's default UDP receive buffer (208 KiB) holds about a hundred queued SIP
# datagrams; a burst of 1000 calls/s overflowed it and lost 7 % of the ACKs.
# A limit, not an allocation: memory is only used while datagrams wait.
UDP_RECEIVE_BUFFER = 4 << 20


def enlarge_receive_buffer(sock: socket.socket, size: int = UDP_RECEIVE_BUFFER) -> int:
    """Ask for a receive buffer of `size` octets; returns what the kernel granted (it caps
    the request at net.core.rmem_max, and reports twice the usable size)."""
    if sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) < size:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    if granted < size:
        log.info(
            "UDP receive buffer: %d KiB granted of %d (raise net.core.rmem_max)",
            granted >> 10,
            size >> 10,
        )
    return granted


@dataclass(frozen=True, slots=True)
class Peer:
    """Where a message came from, or goes to."""

    transport: str  # 'udp' or 'tcp'
    host: str
    port: int
    listener: int = 0  # index of the local listener (socket) involved
    conn_id: int | None = None  # TCP connection the message arrived on

    @property
    def reliable(self) -> bool:
        return self.transport != "udp"


def family_of(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class _TcpConnection:
    __slots__ = ("id", "idle_timer", "inbuf", "listener", "outbuf", "remote", "sock")

    def __init__(self, conn_id: int, sock: socket.socket, remote: tuple, listener: int) -> None:
        self.id = conn_id
        self.sock = sock
        self.remote = remote
        self.listener = listener
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.idle_timer = None


Handler = Callable[[bytes, Peer], None]


class Transports:
    def __init__(self, loop: Loop, handler: Handler) -> None:
        self.loop = loop
        self.handler = handler
        self.listeners: list[tuple[str, str, int, socket.socket]] = []  # transport, host, port
        self._conns: dict[int, _TcpConnection] = {}
        self._conn_by_remote: dict[tuple[str, int], int] = {}
        self._ids = itertools.count(1)
        self._udp_buf = bytearray(MAX_DATAGRAM)

    # -- set-up ----------------------------------------------------------------------------
    def listen(self, transport: str, host: str, port: int) -> int:
        family = family_of(host)
        if transport == "udp":
            sock = socket.socket(family, socket.SOCK_DGRAM)
            enlarge_receive_buffer(sock)
        else:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        index = len(self.listeners)
        if transport == "udp":
            self.loop.add_reader(sock, lambda: self._read_udp(sock, index))
        else:
            sock.listen(128)
            self.loop.add_reader(sock, lambda: self._accept(sock, index))
        self.listeners.append((transport, host, sock.getsockname()[1], sock))
        return index

    def adopt_udp(self, sock: socket.socket) -> int:
        """A bound UDP socket another process reads (server profile): used to send only."""
        host, port = sock.getsockname()[:2]
        self.listeners.append(("udp", host, port, sock))
        return len(self.listeners) - 1

    def relay_from(self, inbox: socket.socket) -> None:
        """Datagrams relayed by the server profile's master: b"LISTENER HOST PORT\n" + data."""
        inbox.setblocking(False)
        self.loop.add_reader(inbox, lambda: self._read_relay(inbox))

    def _read_relay(self, inbox: socket.socket) -> None:
        for _ in range(64):
            try:
                packet = inbox.recv(MAX_DATAGRAM + 128)
            except (BlockingIOError, InterruptedError):
                return
            head, _, data = packet.partition(b"\n")
            try:
                listener, host, port = head.split(b" ")
                peer = Peer("udp", host.decode("ascii"), int(port), int(listener))
            except (ValueError, UnicodeDecodeError):
                continue
            if data:
                self.handler(data, peer)

    def listener_for(self, transport: str, host: str) -> int | None:
        """A listener of that transport in the family of `host` (for requests we send)."""
        family = family_of(host)
        for index, (kind, _lhost, _lport, sock) in enumerate(self.listeners):
            if kind == transport and sock.family == family:
                return index
        return None

    def close(self) -> None:
        for conn in list(self._conns.values()):
            self._close_conn(conn)
        for *_rest, sock in self.listeners:
            self.loop.remove(sock)
            sock.close()
        self.listeners.clear()

    # -- UDP -------------------------------------------------------------------------------
    def _read_udp(self, sock: socket.socket, index: int) -> None:
        buf = self._udp_buf
        for _ in range(64):  # bounded batch per wake-up keeps other sockets served
            try:
                length, addr = sock.recvfrom_into(buf)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("UDP receive error: %s", exc)
                continue
            if length == 0:
                continue
            self.handler(bytes(buf[:length]), Peer("udp", addr[0], addr[1], index))

    # -- TCP -------------------------------------------------------------------------------
    def _accept(self, lsock: socket.socket, index: int) -> None:
        for _ in range(32):
            try:
                sock, addr = lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("TCP accept failed: %s", exc)
                return
            if len(self._conns) >= MAX_TCP_CONNECTIONS:
                sock.close()
                continue
            self._add_conn(sock, addr, index)

    def _add_conn(self, sock: socket.socket, addr: tuple, index: int) -> _TcpConnection:
        sock.setblocking(False)
        conn = _TcpConnection(next(self._ids), sock, addr, index)
        self._conns[conn.id] = conn
        self._conn_by_remote[(addr[0], addr[1])] = conn.id
        self.loop.add_reader(sock, lambda: self._read_tcp(conn))
        self._touch(conn)
        return conn

    def _touch(self, conn: _TcpConnection) -> None:
        if conn.idle_timer is not None:
            conn.idle_timer.cancel()
        conn.idle_timer = self.loop.call_later(TCP_IDLE_TIMEOUT, self._close_conn, conn)

    def _read_tcp(self, conn: _TcpConnection) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close_conn(conn)
            return
        if not data:
            self._close_conn(conn)
            return
        self._touch(conn)
        conn.inbuf += data
        peer = Peer("tcp", conn.remote[0], conn.remote[1], conn.listener, conn.id)
        while conn.id in self._conns:
            try:
                message = frame_stream(conn.inbuf)
            except SipParseError as exc:
                log.info("closing TCP connection from %s: %s", conn.remote, exc.reason)
                self._close_conn(conn)
                return
            if message is None:
                return
            self.handler(message, peer)

    def _close_conn(self, conn: _TcpConnection) -> None:
        if self._conns.pop(conn.id, None) is None:
            return
        if self._conn_by_remote.get((conn.remote[0], conn.remote[1])) == conn.id:
            del self._conn_by_remote[(conn.remote[0], conn.remote[1])]
        if conn.idle_timer is not None:
            conn.idle_timer.cancel()
        self.loop.remove(conn.sock)
        conn.sock.close()

    def _flush(self, conn: _TcpConnection) -> None:
        while conn.outbuf:
            try:
                sent = conn.sock.send(conn.outbuf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._close_conn(conn)
                return
            del conn.outbuf[:sent]
        if conn.id in self._conns:
            self.loop.set_writer(conn.sock, (lambda: self._flush(conn)) if conn.outbuf else None)

    def _connect(self, host: str, port: int, listener: int) -> _TcpConnection | None:
        sock = socket.socket(family_of(host), socket.SOCK_STREAM)
        sock.setblocking(False)
        err = sock.connect_ex((host, port))
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            return None
        return self._add_conn(sock, (host, port), listener)

    # -- sending ---------------------------------------------------------------------------
    def send(self, data: bytes, peer: Peer) -> bool:
        if peer.transport == "udp":
            sock = self.listeners[peer.listener][3]
            addr: tuple = (peer.host, peer.port)
            try:
                sock.sendto(data, addr)
                return True
            except OSError as exc:
                log.debug("UDP send to %s:%s failed: %s", peer.host, peer.port, exc)
                return False
        conn = self._conns.get(peer.conn_id) if peer.conn_id is not None else None
        if conn is None:
            conn_id = self._conn_by_remote.get((peer.host, peer.port))
            conn = self._conns.get(conn_id) if conn_id is not None else None
        if conn is None:
            conn = self._connect(peer.host, peer.port, peer.listener)
            if conn is None:
                return False
        if len(conn.outbuf) + len(data) > MAX_TCP_OUTPUT:
            log.warning("TCP peer %s does not read: closing", conn.remote)
            self._close_conn(conn)
            return False
        conn.outbuf += data
        self._flush(conn)
        return True
