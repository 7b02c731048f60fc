"""The one event loop: selectors for sockets, a timer heap, signals through a wakeup fd.

Rules this module keeps:
- one thread; nothing here blocks except the selector wait;
- timers run on the monotonic clock at absolute deadlines, in deadline order (ties in the
  order they were scheduled); cancelled timers are skipped and purged lazily;
- an exception in a callback is contained: logged, counted, and the loop goes on;
- signals only set a flag in the C handler; their Python handlers run inside the loop.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import selectors
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("sems_lite.loop")

# Sockets we own are non-blocking; the selector is the only place we wait.
EVENT_READ = selectors.EVENT_READ
EVENT_WRITE = selectors.EVENT_WRITE
_FINE_WAIT = 0.001  # below this, a timer is waited for with a sleep, not the selector
_PURGE_MIN = 64  # cancelled timers tolerated in the heap before it may be rebuilt


class TimerHandle:
    """A scheduled callback; cancel() makes sure it will not run."""

    __slots__ = ("_loop", "args", "callback", "cancelled", "when")

    def __init__(
        self,
        when: float,
        callback: Callable[..., Any],
        args: tuple[Any, ...],
        loop: Loop | None = None,
    ) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False
        self._loop = loop  # told of a cancel while the handle waits in its heap

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            loop, self._loop = self._loop, None
            if loop is not None:
                loop._timer_cancelled()
        # Drop references early so a cancelled timer keeps no call object alive.
        self.callback = _noop
        self.args = ()


def _noop(*_args: Any) -> None:
    return None


class Loop:
    """A minimal single-threaded reactor."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._selector = selectors.DefaultSelector()
        self._timers: list[tuple[float, int, TimerHandle]] = []
        self._cancelled_timers = 0  # cancelled handles still in the heap
        self._seq = itertools.count()
        self._running = False
        self._signal_handlers: dict[int, Callable[[], None]] = {}
        self._wakeup_r: socket.socket | None = None
        self._wakeup_w: socket.socket | None = None
        self._old_wakeup_fd = -1
        self._between_turns: Callable[[], object] | None = None
        self.callback_errors = 0

    # -- time and timers -------------------------------------------------------------------
    def time(self) -> float:
        return self.clock()

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        handle = TimerHandle(when, callback, args, self)
        heapq.heappush(self._timers, (when, next(self._seq), handle))
        return handle

    def _timer_cancelled(self) -> None:
        # Cancelled timers leave the heap lazily, when they reach its top; a long one (a
        # 30 min session timer of a call that ended) would stay for its whole delay, and
        # hundreds of those left by a load pin memory the allocator could hand back. So
        # when they are most of the heap, rebuild it without them (in place: run_once
        # holds the list).
        self._cancelled_timers += 1
        if self._cancelled_timers > _PURGE_MIN and 2 * self._cancelled_timers > len(self._timers):
            self.purge_cancelled()

    def purge_cancelled(self) -> None:
        """Rebuild the timer heap without its cancelled timers (also before handing memory
        back when idle: the few left below the threshold would pin allocator arenas)."""
        if not self._cancelled_timers:
            return
        timers = self._timers
        timers[:] = [entry for entry in timers if not entry[2].cancelled]
        heapq.heapify(timers)
        self._cancelled_timers = 0

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        return self.call_at(self.clock() + delay, callback, *args)

    # -- file descriptors ------------------------------------------------------------------
    def add_reader(self, fileobj: Any, callback: Callable[[], None]) -> None:
        self._selector.register(fileobj, EVENT_READ, (callback, None))

    def set_writer(self, fileobj: Any, callback: Callable[[], None] | None) -> None:
        """Register or clear interest in writability, keeping any reader."""
        try:
            key = self._selector.get_key(fileobj)
        except KeyError:
            if callback is not None:
                self._selector.register(fileobj, EVENT_WRITE, (None, callback))
            return
        reader = key.data[0]
        events = (EVENT_READ if reader else 0) | (EVENT_WRITE if callback else 0)
        if events:
            self._selector.modify(fileobj, events, (reader, callback))
        else:
            self._selector.unregister(fileobj)

    def remove(self, fileobj: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(fileobj)

    # -- signals ---------------------------------------------------------------------------
    def add_signal_handler(self, signum: int, handler: Callable[[], None]) -> None:
        if self._wakeup_r is None:
            self._wakeup_r, self._wakeup_w = socket.socketpair()
            self._wakeup_r.setblocking(False)
            self._wakeup_w.setblocking(False)
            self._old_wakeup_fd = signal.set_wakeup_fd(self._wakeup_w.fileno())
            self.add_reader(self._wakeup_r, self._read_wakeup)
        self._signal_handlers[signum] = handler
        # The C-level handler only records the signal byte in the wakeup fd.
        signal.signal(signum, _signal_noop)

    def _read_wakeup(self) -> None:
        assert self._wakeup_r is not None
        try:
            data = self._wakeup_r.recv(512)
        except BlockingIOError:
            return
        for signum in data:
            handler = self._signal_handlers.get(signum)
            if handler is not None:
                self._run_callback(handler, ())

    def remove_signal_handlers(self) -> None:
        for signum in self._signal_handlers:
            signal.signal(signum, signal.SIG_DFL)
        self._signal_handlers.clear()
        if self._wakeup_r is not None:
            signal.set_wakeup_fd(self._old_wakeup_fd)
            self.remove(self._wakeup_r)
            self._wakeup_r.close()
            assert self._wakeup_w is not None
            self._wakeup_w.close()
            self._wakeup_r = self._wakeup_w = None

    # -- running ---------------------------------------------------------------------------
    def stop(self) -> None:
        self._running = False

    def call_between_turns(self, callback: Callable[[], object]) -> None:
        """Run `callback` once, after this turn of the loop and before the next one starts,
        when no object of a turn is alive. The idle memory release wants that: a number or
        list a turn still holds would go to an allocator free list after the release, stay
        there, and keep the allocator arena it was made in resident."""
        self._between_turns = callback

    def run_forever(self) -> None:
        self._running = True
        while self._running:
            if self._between_turns is not None:
                callback, self._between_turns = self._between_turns, None
                self._run_callback(callback, ())
                del callback
            # No timer, no wake-up: an idle box sleeps until a packet or a signal comes.
            self.run_once(max_wait=None)

    def run_once(self, max_wait: float | None = 1.0) -> None:
        timers = self._timers
        while timers and timers[0][2].cancelled:
            heapq.heappop(timers)
            self._cancelled_timers -= 1
        timeout = max_wait
        if timers:
            timeout = max(0.0, timers[0][0] - self.clock())
            if max_wait is not None:
                timeout = min(max_wait, timeout)
        # epoll waits in whole milliseconds, rounded up: a timer would fire 0-1 ms late,
        # a different amount every time (RTP inter-arrival jitter). So wait for I/O up to
        # a millisecond short, then sleep the rest precisely if nothing came.
        if timeout is None:
            events = self._selector.select(None)
        else:
            events = self._selector.select(timeout - _FINE_WAIT if timeout > _FINE_WAIT else 0.0)
        for key, mask in events:
            reader, writer = key.data
            if mask & EVENT_READ and reader is not None:
                self._run_callback(reader, ())
            if mask & EVENT_WRITE and writer is not None:
                self._run_callback(writer, ())
        if not events and timers and timeout:
            rest = timers[0][0] - self.clock()
            if 0.0 < rest <= 2 * _FINE_WAIT:  # (a float hair over 1 ms is still the rest)
                time.sleep(rest)
        now = self.clock()
        while timers and timers[0][0] <= now:
            handle = heapq.heappop(timers)[2]
            if handle.cancelled:
                self._cancelled_timers -= 1
            else:
                callback, args = handle.callback, handle.args
                handle._loop = None  # out of the heap: its cancel is not counted
                handle.cancel()
                self._run_callback(callback, args)

    def _run_callback(self, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            callback(*args)
        except Exception:
            self.callback_errors += 1
            log.exception("error in loop callback %r", callback)

    def pending_timers(self) -> int:
        return sum(1 for _, _, h in self._timers if not h.cancelled)

    def close(self) -> None:
        self.remove_signal_handlers()
        self._selector.close()


def _signal_noop(_signum: int, _frame: object) -> None:
    return None
