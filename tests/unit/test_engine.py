"""The media tick: read-all-then-write-all, absolute grid, late ticks counted."""

from __future__ import annotations

import socket

from sems_lite.media.buffers import EchoBuffer
from sems_lite.media.engine import MediaEngine
from tests.unit.fakes import FakeClock


class Probe:
    def __init__(self, name: str, events: list[tuple[str, str, float]], clock: FakeClock) -> None:
        self.name = name
        self.events = events
        self.clock = clock
        self.ticks: list[int] = []

    def receive(self, now: float) -> None:
        self.events.append(("read", self.name, now))

    def transmit(self, tick: int) -> None:
        self.events.append(("write", self.name, self.clock.now))
        self.ticks.append(tick)


def test_reads_every_stream_before_writing_any() -> None:
    clock = FakeClock()
    engine = MediaEngine(clock, 20)  # type: ignore[arg-type]
    events: list[tuple[str, str, float]] = []
    a, b = Probe("a", events, clock), Probe("b", events, clock)
    engine.add(a)
    engine.add(b)
    clock.advance(0.0)
    assert [(kind, name) for kind, name, _ in events] == [
        ("read", "a"),
        ("read", "b"),
        ("write", "a"),
        ("write", "b"),
    ]


def test_ticks_stay_on_the_absolute_grid() -> None:
    clock = FakeClock()
    engine = MediaEngine(clock, 20)  # type: ignore[arg-type]
    events: list[tuple[str, str, float]] = []
    probe = Probe("a", events, clock)
    engine.add(probe)
    clock.advance(1.0)
    times = [t for kind, _, t in events if kind == "write"]
    assert len(times) == 51
    assert all(abs(t - i * 0.02) < 1e-9 for i, t in enumerate(times))
    assert engine.late_ticks == 0


def test_late_tick_is_counted_and_grid_kept() -> None:
    clock = FakeClock()
    engine = MediaEngine(clock, 20)  # type: ignore[arg-type]
    events: list[tuple[str, str, float]] = []
    probe = Probe("a", events, clock)
    engine.add(probe)
    clock.advance(0.0)
    # The loop was blocked for 75 ms: the next tick runs late, once, and skips the slots.
    clock.now = 0.075
    clock.advance(0.0)
    assert engine.late_ticks == 2
    assert probe.ticks == [0, 3]
    clock.advance(0.01)  # next slot is 4 * 20 ms = 80 ms
    assert probe.ticks == [0, 3, 4]


def test_engine_stops_ticking_without_streams() -> None:
    clock = FakeClock()
    engine = MediaEngine(clock, 20)  # type: ignore[arg-type]
    probe = Probe("a", [], clock)
    engine.add(probe)
    clock.advance(0.1)
    engine.remove(probe)
    assert clock.pending() == 0


class SocketProbe:
    """A stream with a real UDP socket: records whether the engine said it was readable."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.readable: list[bool] = []

    def fileno(self) -> int:
        return self.sock.fileno()

    def receive(self, now: float, readable: bool = True) -> None:
        self.readable.append(readable)
        if readable:
            self.sock.recv(2048)  # BlockingIOError if the engine was wrong

    def transmit(self, tick: int) -> None:
        pass


def test_only_streams_with_packets_waiting_are_told_to_read() -> None:
    clock = FakeClock()
    engine = MediaEngine(clock, 20)  # type: ignore[arg-type]
    quiet, busy = SocketProbe(), SocketProbe()
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        engine.add(quiet)
        engine.add(busy)
        peer.sendto(b"rtp", busy.sock.getsockname())
        clock.advance(0.0)
        assert quiet.readable == [False]
        assert busy.readable == [True]
        clock.advance(0.02)  # drained last tick: now both are quiet
        assert busy.readable == [True, False]
        engine.remove(busy)
        peer.sendto(b"rtp", quiet.sock.getsockname())
        clock.advance(0.02)
        assert quiet.readable == [False, False, True]
        assert busy.readable == [True, False]
    finally:
        for sock in (quiet.sock, busy.sock, peer):
            sock.close()


def test_echo_buffer_is_fifo_and_bounded() -> None:
    buf = EchoBuffer(max_bytes=640)
    assert buf.read(320) is None
    buf.write(b"\x01" * 320)
    buf.write(b"\x02" * 320)
    buf.write(b"\x03" * 320)  # over the bound: the oldest frame goes
    assert buf.dropped_bytes == 320
    assert buf.read(320) == b"\x02" * 320
    assert buf.read(320) == b"\x03" * 320
    assert buf.read(320) is None
