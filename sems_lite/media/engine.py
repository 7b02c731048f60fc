"""The media tick: every ptime, read every stream, then write every stream.

Reading all streams first gives a mixer all its inputs before anyone is sent a frame
(as SEMS does). Ticks are scheduled on an absolute grid (start + n * ptime): a late tick
is counted and the grid is kept, so timing never drifts. The engine only ticks while it
has streams, so an idle box does not wake 50 times a second.

One `epoll` call per tick says which RTP sockets hold packets, so a stream with nothing
to read (an announcement's silent caller) costs no receive syscall and no exception.

Streams playing stored audio lease their frames to the batched send (rtp/tx_batch.py):
one C call per tick sends all of them, before the other streams transmit from Python.
Echo streams lend themselves to the batched echo (rtp/echo_batch.py): one C call per
tick, before anything else, receives and sends back all of them.
"""

from __future__ import annotations

import contextlib
import logging
import select
from array import array
from typing import Protocol

from sems_lite import memory
from sems_lite.core.counters import Counters
from sems_lite.core.loop import Loop, TimerHandle
from sems_lite.rtp.echo_batch import EchoBatch
from sems_lite.rtp.tx_batch import TxBatch

log = logging.getLogger("sems_lite.media")


class TickStream(Protocol):
    def receive(self, now: float, readable: bool = True) -> None: ...
    def transmit(self, tick: int) -> None: ...


_HAVE_EPOLL = hasattr(select, "epoll")  # Linux, OpenWRT included; elsewhere read all


def _fileno(stream: TickStream) -> int | None:
    """The stream's RTP socket, if it has one (test doubles need not)."""
    fileno = getattr(stream, "fileno", None)
    return fileno() if fileno is not None else None


class MediaEngine:
    def __init__(self, loop: Loop, ptime_ms: int = 20) -> None:
        self.loop = loop
        self.ptime_ms = ptime_ms
        self.period = ptime_ms / 1000.0
        self.streams: list[TickStream] = []
        # stream -> fd polled for readability; streams without one are always read.
        self._fds: dict[TickStream, int] = {}
        # Made with the first stream and closed with the last: an idle box (or one that
        # forks workers) holds no epoll instance to share.
        self._poller: select.epoll | None = None
        self._timer: TimerHandle | None = None
        # None on the pure-Python kernels (or with SEMS_LITE_TX_BATCH=0).
        self._batch = TxBatch.create()
        self._echo = EchoBatch.create()
        self._start = 0.0
        self._tick = 0
        # Kept in place, not as new number objects (see core/counters.py).
        self._counts = Counters("ticks", "late_ticks")
        self._max_lateness = array("d", [0.0])

    def add(self, stream: TickStream) -> None:
        self.streams.append(stream)
        attach = getattr(stream, "attach_batch", None)
        if attach is not None:
            attach(self._batch, self._echo)
        fd = _fileno(stream) if _HAVE_EPOLL else None
        if fd is not None and fd >= 0:
            if self._poller is None:
                self._poller = select.epoll()
            try:
                self._poller.register(fd, select.EPOLLIN)
            except FileExistsError:  # fd number reused after a close we did not see
                self._poller.modify(fd, select.EPOLLIN)
            self._fds[stream] = fd
        if self._timer is None:
            self._start = self.loop.time()
            self._tick = 0
            self._timer = self.loop.call_at(self._start, self._run)

    def remove(self, stream: TickStream) -> None:
        try:
            self.streams.remove(stream)
        except ValueError:
            return
        detach = getattr(stream, "attach_batch", None)
        if detach is not None:
            detach(None)
        fd = self._fds.pop(stream, None)
        if fd is not None and self._poller is not None and fd not in self._fds.values():
            with contextlib.suppress(OSError):  # closed already: the kernel dropped it
                self._poller.unregister(fd)
        if not self.streams:
            if self._poller is not None:
                self._poller.close()
                self._poller = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._stopped()

    def _stopped(self) -> None:
        # The load's last numbers and the containers' grown storage would outlive it
        # (see core/counters.py); add() sets the numbers afresh.
        self._start = 0.0
        self._tick = 0
        memory.drop_empty_storage(self.streams, self._fds)

    @property
    def tick_index(self) -> int:
        return self._tick

    @property
    def ticks(self) -> int:
        """Ticks run."""
        return self._counts["ticks"]

    @property
    def late_ticks(self) -> int:
        """Tick slots skipped because the loop came too late for them."""
        return self._counts["late_ticks"]

    @property
    def max_lateness(self) -> float:
        """The latest a tick has run, in seconds."""
        return self._max_lateness[0]

    def _run(self) -> None:
        now = self.loop.time()
        deadline = self._start + self._tick * self.period
        lateness = now - deadline
        if lateness > self._max_lateness[0]:
            self._max_lateness[0] = lateness
        if lateness >= self.period:
            # Skip the slots we missed rather than sending a burst; count them.
            missed = int(lateness / self.period)
            self._counts["late_ticks"] += missed
            self._tick += missed
        tick = self._tick
        echo = self._echo
        if echo is not None and echo.in_use:
            for held in echo.run(tick, now):
                held.end_lease(now)  # a packet needs Python: the stream is Python's again
        streams = list(self.streams)
        fds = self._fds
        if fds and self._poller is not None:
            ready = {fd for fd, _ in self._poller.poll(0, len(fds) + 1)}
            for stream in streams:
                fd = fds.get(stream)
                if fd is None or fd in ready:
                    stream.receive(now)
                else:
                    stream.receive(now, False)
        else:
            for stream in streams:
                stream.receive(now)
        batch = self._batch
        if batch is not None and batch.in_use:
            for spent in batch.run(tick):
                spent.end_lease()  # its stored frames ran out: Python sends this one
        for stream in streams:
            stream.transmit(tick)
        self._counts["ticks"] += 1
        self._tick += 1
        if self.streams:
            self._timer = self.loop.call_at(self._start + self._tick * self.period, self._run)
        else:
            self._timer = None
            self._stopped()
