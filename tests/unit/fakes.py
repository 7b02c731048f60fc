"""Test doubles for the sans-IO layers: a manual clock with a timer queue."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any


class FakeTimer:
    def __init__(self, when: float, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """Implements `call_later`/`call_at`/`time`; `advance(dt)` fires due timers in order."""

    def __init__(self) -> None:
        self.now = 0.0
        self._queue: list[tuple[float, int, FakeTimer]] = []
        self._seq = itertools.count()
        self._between_turns: Callable[[], object] | None = None

    def time(self) -> float:
        return self.now

    def call_between_turns(self, callback: Callable[[], object]) -> None:
        self._between_turns = callback

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> FakeTimer:
        timer = FakeTimer(when, callback, args)
        heapq.heappush(self._queue, (when, next(self._seq), timer))
        return timer

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> FakeTimer:
        return self.call_at(self.now + delay, callback, *args)

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while self._queue and self._queue[0][0] <= end:
            when, _, timer = heapq.heappop(self._queue)
            self.now = max(self.now, when)
            if not timer.cancelled:
                timer.callback(*timer.args)
            if self._between_turns is not None:  # a turn is one timer here
                callback, self._between_turns = self._between_turns, None
                callback()
        self.now = end

    def pending(self) -> int:
        return sum(1 for *_, t in self._queue if not t.cancelled)

    def purge_cancelled(self) -> None:
        self._queue = [entry for entry in self._queue if not entry[2].cancelled]
        heapq.heapify(self._queue)
