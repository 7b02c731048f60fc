"""How the loop waits for its next timer: the selector (whole milliseconds, rounded up) is
asked to wait up to a millisecond short, and the rest is slept precisely, so media ticks
fire on their deadline instead of 0-1 ms after it."""

from __future__ import annotations

import pytest

from sems_lite.core import loop as loop_module
from sems_lite.core.loop import Loop


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Selector:
    """Stands in for the selector: records the timeouts, lets the clock run, no events."""

    def __init__(self, clock: Clock, events: list | None = None) -> None:
        self.clock = clock
        self.timeouts: list[float] = []
        self.events = events or []

    def select(self, timeout: float | None) -> list:
        self.timeouts.append(timeout)
        if timeout is not None:
            self.clock.now += timeout
        return self.events

    def close(self) -> None:
        pass


@pytest.fixture
def setup(monkeypatch: pytest.MonkeyPatch):
    clock = Clock()
    loop = Loop(clock)
    selector = Selector(clock)
    loop._selector.close()
    loop._selector = selector  # type: ignore[assignment]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    monkeypatch.setattr(loop_module.time, "sleep", sleep)
    return clock, loop, selector, slept


def test_a_timer_is_waited_for_by_the_selector_then_a_precise_sleep(setup) -> None:
    clock, loop, selector, slept = setup
    fired: list[float] = []
    loop.call_at(clock.now + 0.0073, lambda: fired.append(clock.now))
    loop.run_once()
    assert selector.timeouts == [pytest.approx(0.0063)]
    assert slept == [pytest.approx(0.001)]
    assert fired == [pytest.approx(100.0073)]


def test_under_a_millisecond_the_selector_only_polls(setup) -> None:
    clock, loop, selector, slept = setup
    fired: list[float] = []
    loop.call_at(clock.now + 0.0004, lambda: fired.append(clock.now))
    loop.run_once()
    assert selector.timeouts == [0.0]
    assert slept == [pytest.approx(0.0004)]
    assert fired == [pytest.approx(100.0004)]


def test_no_sleep_when_io_arrived_or_no_timer_is_near(setup) -> None:
    clock, loop, selector, slept = setup
    loop.run_once(max_wait=0.5)  # nothing scheduled: the selector waits, no sleep after
    assert selector.timeouts == [pytest.approx(0.499)] and slept == []
    loop.call_at(clock.now + 0.0073, lambda: None)
    selector.events = [(_Key(), 1)]
    loop.run_once()
    assert slept == []  # I/O came first: it is handled, the timer waits for the next round


class _Key:
    data = (lambda: None, None)


def test_cancelled_timers_do_not_pile_up_in_the_heap(setup) -> None:
    _clock, loop, _selector, _slept = setup
    far = [loop.call_later(1800.0, lambda: None) for _ in range(300)]  # session timers
    fired: list[int] = []
    near = [loop.call_later(0.01 * (n + 1), fired.append, n) for n in range(5)]
    for handle in far[:250]:
        handle.cancel()  # their calls ended
    assert len(loop._timers) < 120  # rebuilt without them, long before 30 minutes
    assert loop.pending_timers() == 55
    for _ in range(10):
        loop.run_once()
    assert fired == [0, 1, 2, 3, 4] and all(h.cancelled for h in near)
    assert loop.pending_timers() == 50


def test_the_few_cancelled_timers_below_the_threshold_go_on_request(setup) -> None:
    _clock, loop, _selector, _slept = setup
    far = [loop.call_later(1800.0, lambda: None) for _ in range(40)]
    for handle in far[:30]:
        handle.cancel()
    assert len(loop._timers) == 40  # below the automatic purge
    loop.purge_cancelled()  # as the UA does before handing memory back when idle
    assert len(loop._timers) == 10 and loop.pending_timers() == 10
    assert not any(entry[2].cancelled for entry in loop._timers)


def test_a_callback_cancelling_timers_mid_run_rebuilds_the_heap_in_place(setup) -> None:
    clock, loop, _selector, _slept = setup
    later = [loop.call_at(clock.now + 10.0, lambda: None) for _ in range(200)]
    fired: list[str] = []

    def cancel_them() -> None:
        fired.append("first")
        for handle in later:
            handle.cancel()

    loop.call_at(clock.now + 0.005, cancel_them)
    loop.call_at(clock.now + 0.005, fired.append, "second")  # same deadline, same round
    loop.run_once()
    assert fired == ["first", "second"]
    assert loop.pending_timers() == 0 and len(loop._timers) <= 64  # the rest: below the purge


class _StopKey:
    """An event whose reader stops the loop (a signal handler does that in the box)."""

    def __init__(self, loop: Loop) -> None:
        self.data = (loop.stop, None)


def test_with_no_timer_the_running_loop_waits_without_a_timeout(setup) -> None:
    _clock, loop, selector, _slept = setup
    selector.events = [(_StopKey(loop), 1)]
    loop.run_forever()
    assert selector.timeouts == [None]  # no wake-up every second on an idle box


def test_the_running_loop_still_wakes_for_its_next_timer(setup) -> None:
    clock, loop, selector, _slept = setup
    loop.call_at(clock.now + 2.5, loop.stop)
    loop.run_forever()
    assert selector.timeouts == [pytest.approx(2.499)]


def test_a_callback_between_turns_runs_once_after_the_turn_that_asked(setup) -> None:
    clock, loop, selector, _slept = setup
    order: list[str] = []

    def asks() -> None:
        order.append("timer")
        loop.call_between_turns(lambda: order.append(f"between, {len(selector.timeouts)} waits"))
        order.append("timer done")

    loop.call_at(clock.now + 0.5, asks)
    loop.call_at(clock.now + 1.0, loop.stop)
    loop.run_forever()
    # After the turn that scheduled it, before the second turn's wait; then never again.
    assert order == ["timer", "timer done", "between, 1 waits"]
    assert len(selector.timeouts) == 2


def test_an_error_between_turns_is_contained(setup) -> None:
    clock, loop, _selector, _slept = setup

    def fails() -> None:
        raise RuntimeError("boom")

    loop.call_at(clock.now + 0.5, loop.call_between_turns, fails)
    loop.call_at(clock.now + 1.0, loop.stop)
    loop.run_forever()
    assert loop.callback_errors == 1
