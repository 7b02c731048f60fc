"""The server profile: N single-threaded workers behind one SIP address.

The master process binds the SIP UDP sockets, forks the workers and relays each datagram
to a worker chosen by a hash of its Call-ID. Every request and response of a dialog
carries the same Call-ID, so in-dialog requests (and CANCEL, ACK, retransmissions, the
answers to the box's own requests) reach the worker that owns the call, and calls spread
evenly even when they all come from one proxy address (SO_REUSEPORT would hash by source
and put them all on one worker). Workers send from the same sockets (inherited), so
replies leave from the SIP address; each worker owns a slice of the RTP port range and a
share of `max_calls`, so media never crosses processes. TCP is served by worker 0.

A worker that dies is restarted in its slot: only its own calls are lost. SIGTERM/SIGINT
go to every worker (they drain: BYE, exit 0) while the master keeps relaying their
answers; SIGHUP is passed on (each worker reloads).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import os
import re
import selectors
import signal
import socket
import time
import zlib
from dataclasses import dataclass

from sems_lite.config import Config
from sems_lite.core.transport import MAX_DATAGRAM, enlarge_receive_buffer, family_of

log = logging.getLogger("sems_lite")

_CALL_ID = re.compile(rb"\r\n(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)
RESTART_PAUSE = 1.0  # seconds between restarts of a worker that keeps dying
INBOX_BUFFER = 4 << 20  # bytes queued per worker while it is busy or restarting


def worker_for(datagram: bytes, count: int) -> int:
    """The worker owning this SIP message: by Call-ID, worker 0 when there is none."""
    found = _CALL_ID.search(datagram)
    if found is None:
        return 0
    return zlib.crc32(found.group(1).strip()) % count


def worker_config(config: Config, index: int, count: int) -> Config:
    """Worker `index`'s share: an RTP port slice, max_calls / count, control port + index."""
    low, high = config.rtp.port_low, config.rtp.port_high
    pairs = (high - low + 1) // 2
    share = pairs // count
    if share < 1:
        raise ValueError(f"RTP range {low}-{high} is too small for {count} workers")
    start = low + 2 * share * index
    rtp = dataclasses.replace(config.rtp, port_low=start, port_high=start + 2 * share - 1)
    max_calls = max(1, -(-config.limits.max_calls // count))
    limits = dataclasses.replace(config.limits, max_calls=max_calls)
    control = config.control
    if control.host is not None and control.port:
        control = dataclasses.replace(control, port=control.port + index)
    return dataclasses.replace(config, rtp=rtp, limits=limits, control=control)


def default_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass
class WorkerSockets:
    """What a worker inherits: the SIP UDP sockets (send only) and its inbox."""

    index: int
    udp: list[socket.socket]
    inbox: socket.socket
    count: int = 1  # workers in all: a reload takes the same share of the new config


class Master:
    def __init__(self, config: Config, overrides: dict[str, object], count: int) -> None:
        self.config = config
        self.overrides = overrides
        self.count = count
        self.udp: list[socket.socket] = []
        self.inboxes: list[tuple[socket.socket, socket.socket]] = []  # (master end, worker end)
        self.pids: list[int] = [0] * count
        self.started: list[float] = [0.0] * count
        self.stopping = False
        self.exit_codes: dict[int, int] = {}
        self._signals: list[int] = []

    def run(self) -> int:
        for addr in self.config.sip.listen:
            if addr.transport == "udp":
                sock = socket.socket(family_of(addr.host), socket.SOCK_DGRAM)
                enlarge_receive_buffer(sock)
                if sock.family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((addr.host, addr.port))
                sock.setblocking(False)
                self.udp.append(sock)
                log.info("listening on udp:%s:%d for %d workers", addr.host, addr.port, self.count)
        for _ in range(self.count):
            mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
            mine.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, INBOX_BUFFER)
            theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, INBOX_BUFFER)
            mine.setblocking(False)
            self.inboxes.append((mine, theirs))
        for index in range(self.count):
            self._spawn(index)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(signum, self._on_signal)
        try:
            self._relay()
        finally:
            for sock in self.udp:
                sock.close()
        failed = [code for code in self.exit_codes.values() if code != 0]
        return 1 if failed else 0

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._signals.append(signum)

    def _spawn(self, index: int) -> None:
        pid = os.fork()
        if pid:
            self.pids[index] = pid
            self.started[index] = time.monotonic()
            log.info("worker %d started (pid %d)", index, pid)
            return
        code = 1
        try:
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
                signal.signal(signum, signal.SIG_DFL)
            for mine, _theirs in self.inboxes:
                mine.close()
            code = _run_worker(self, index)
        except BaseException:  # a child must never return into the master's code
            log.exception("worker %d failed", index)
        finally:
            logging.shutdown()
            os._exit(code)

    def _relay(self) -> None:
        selector = selectors.DefaultSelector()
        for listener, sock in enumerate(self.udp):
            selector.register(sock, selectors.EVENT_READ, listener)
        buf = bytearray(MAX_DATAGRAM)
        while any(self.pids):
            for key, _events in selector.select(timeout=0.5):
                self._relay_batch(key.fileobj, key.data, buf)  # type: ignore[arg-type]
            self._handle_signals()
            self._reap()
        selector.close()

    def _relay_batch(self, sock: socket.socket, listener: int, buf: bytearray) -> None:
        for _ in range(64):
            try:
                length, addr = sock.recvfrom_into(buf)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue
            data = bytes(buf[:length])
            head = f"{listener} {addr[0]} {addr[1]}\n".encode("ascii")
            target = self.inboxes[worker_for(data, self.count)][0]
            try:
                target.send(head + data)
            except OSError as exc:  # a full inbox: drop, as UDP would; the peer retransmits
                if exc.errno not in (errno.EAGAIN, errno.ENOBUFS):
                    log.warning("relay to a worker failed: %s", exc)

    def _handle_signals(self) -> None:
        while self._signals:
            signum = self._signals.pop(0)
            if signum in (signal.SIGTERM, signal.SIGINT):
                if not self.stopping:
                    log.info("stopping: the workers drain their calls")
                self.stopping = True
                self._signal_workers(signal.SIGTERM)
            elif signum == signal.SIGHUP:
                self._signal_workers(signal.SIGHUP)

    def _signal_workers(self, signum: int) -> None:
        for pid in self.pids:
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid not in self.pids:
                continue
            index = self.pids.index(pid)
            self.pids[index] = 0
            code = os.waitstatus_to_exitcode(status)
            if self.stopping:
                self.exit_codes[index] = code
                log.info("worker %d exited (%d)", index, code)
                continue
            log.error("worker %d (pid %d) died (%d): restarting it", index, pid, code)
            if time.monotonic() - self.started[index] < RESTART_PAUSE:
                time.sleep(RESTART_PAUSE)  # a worker that dies at once: do not spin
            self._spawn(index)


def _run_worker(master: Master, index: int) -> int:
    from sems_lite.server import Server

    for handler in logging.getLogger().handlers:
        fmt = getattr(handler.formatter, "_fmt", None) or "%(message)s"
        handler.setFormatter(logging.Formatter(f"w{index} {fmt}"))
    config = worker_config(master.config, index, master.count)
    sockets = WorkerSockets(index, master.udp, master.inboxes[index][1], master.count)
    return Server(config, master.overrides, workers=sockets).run()
