"""The media tick: every ptime, read every stream, then write every stream.

Reading all streams first gives a mixer all its inputs before anyone is sent a frame
(as SEMS does). Ticks are scheduled on an absolute grid (start + n * ptime): a late tick
is counted and the grid is kept, so timing never drifts. The engine only ticks while it
has streams, so an idle box does not wake 50 times a second.
"""

from __future__ import annotations

import logging
from typing import Protocol

from sems_lite.core.loop import Loop, TimerHandle

log = logging.getLogger("sems_lite.media")


class TickStream(Protocol):
    def receive(self, now: float) -> None: ...
    def transmit(self, tick: int) -> None: ...


class MediaEngine:
    def __init__(self, loop: Loop, ptime_ms: int = 20) -> None:
        self.loop = loop
        self.ptime_ms = ptime_ms
        self.period = ptime_ms / 1000.0
        self.streams: list[TickStream] = []
        self._timer: TimerHandle | None = None
        self._start = 0.0
        self._tick = 0
        self.ticks = 0
        self.late_ticks = 0
        self.max_lateness = 0.0

    def add(self, stream: TickStream) -> None:
        self.streams.append(stream)
        if self._timer is None:
            self._start = self.loop.time()
            self._tick = 0
            self._timer = self.loop.call_at(self._start, self._run)

    def remove(self, stream: TickStream) -> None:
        try:
            self.streams.remove(stream)
        except ValueError:
            return
        if not self.streams and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @property
    def tick_index(self) -> int:
        return self._tick

    def _run(self) -> None:
        now = self.loop.time()
        deadline = self._start + self._tick * self.period
        lateness = now - deadline
        if lateness > self.max_lateness:
            self.max_lateness = lateness
        if lateness >= self.period:
            # Skip the slots we missed rather than sending a burst; count them.
            missed = int(lateness / self.period)
            self.late_ticks += missed
            self._tick += missed
        streams = list(self.streams)
        for stream in streams:
            stream.receive(now)
        tick = self._tick
        for stream in streams:
            stream.transmit(tick)
        self.ticks += 1
        self._tick += 1
        if self.streams:
            self._timer = self.loop.call_at(self._start + self._tick * self.period, self._run)
        else:
            self._timer = None
