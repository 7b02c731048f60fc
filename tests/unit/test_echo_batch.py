"""The batched echo (rtp/echo_batch.py, native/rtp_echo.c): an echo stream lent to C
sends back, through one C call per tick, exactly the packets Python would send, and
hands back the same statistics.

Every case runs the same caller twice over loopback, once with the batched echo and once
without (SEMS_LITE_ECHO_BATCH=0), and compares what the caller received, octet for octet
and tick by tick, and the stream's counters and RFC 3550 reception statistics. The
packets that need Python (RFC 4733 events, duplicates, reordering, a new SSRC, another
frame size, foreign sources) and the changes to the stream (hold, a new sink) come in the
middle of a lend.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from dataclasses import replace

import pytest

from apps.echo import ECHO_BUFFER_FRAMES
from sems_lite import native
from sems_lite.media.buffers import EchoBuffer
from sems_lite.media.player import TonePlayer
from tests.unit._engine_run import Run, drain

needs_c = pytest.mark.skipif(native.IMPLEMENTATION == "fallback", reason="C kernels not built")

CALLER_SSRC = 0xC0FFEE


def ramp(start: int, size: int = 160) -> bytes:
    """Distinct µ-law octets; 0x7F (the other zero, which a decode and encode in Python
    turns into 0xFF while C sends octets back as they came) is left out."""
    return bytes(b if b != 0x7F else 0x7E for b in ((start + i) % 256 for i in range(size)))


class Caller:
    """The far end: sends RTP to the stream from the address the SDP named."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.seq = 40000
        self.ts = 7777
        self.ssrc = CALLER_SSRC
        self.sent: list[bytes] = []

    def packet(self, payload: bytes, pt: int = 0, marker: bool = False, **fields: int) -> bytes:
        seq = fields.get("seq", self.seq)
        ts = fields.get("ts", self.ts)
        b1 = pt | (0x80 if marker else 0)
        return struct.pack("!BBHII", 0x80, b1, seq, ts, fields.get("ssrc", self.ssrc)) + payload

    def audio(self, count: int = 1, size: int = 160, marker: bool = False) -> None:
        for _ in range(count):
            payload = ramp(self.seq, size)
            self.send(self.packet(payload, marker=marker))
            self.sent.append(payload)
            self.seq = (self.seq + 1) & 0xFFFF
            self.ts = (self.ts + 160) & 0xFFFFFFFF
            marker = False

    def send(self, data: bytes, sock: socket.socket | None = None) -> None:
        (sock or self.run.peer).sendto(data, ("127.0.0.1", self.run.port))


def echo_run(batched: bool, monkeypatch: pytest.MonkeyPatch, port: int) -> Run:
    run = Run(batched, monkeypatch, port, "SEMS_LITE_ECHO_BATCH", jitter_frames=(0, 0))
    stream = run.stream
    stream.want_inband_dtmf(False)  # as the echo app: it takes no digits
    buffer = EchoBuffer(ECHO_BUFFER_FRAMES * 320)
    stream.sink = buffer
    stream.source = buffer
    return run


Script = Callable[[Run, Caller], None]


def lent(run: Run) -> bool:
    return run.stream._echo_slot is not None


def observed(run: Run, digits: list[tuple[str, int]]) -> dict[str, object]:
    """What the caller and the stream's owner can see, after the stream is Python's."""
    stream = run.stream
    stream.end_lease()
    jitter = stream.jitter
    assert jitter is not None
    sink = stream.sink
    assert isinstance(sink, EchoBuffer)
    return {
        "got": run.got,
        "digits": digits,
        "packets_in": stream.packets_in,
        "packets_out": stream.packets_out,
        "octets_out": stream.octets_out,
        "foreign": stream.foreign_packets,
        "last_rx": stream.last_rx,
        "last_ts": stream.last_ts,
        "sequence": stream.sequence,
        "talking": stream.talking,
        "received": jitter.received,
        "report": jitter.reception_report(),
        "jitter": jitter.jitter,
        "dropped_bytes": sink.dropped_bytes,
        "queued": len(sink),
    }


def both_ways(monkeypatch: pytest.MonkeyPatch, script: Script, port: int) -> dict[str, object]:
    seen = []
    for batched in (True, False):
        run = echo_run(batched, monkeypatch, port + (0 if batched else 10))
        digits: list[tuple[str, int]] = []
        run.stream.on_dtmf = lambda digit, ms, digits=digits: digits.append((digit, ms))
        try:
            script(run, Caller(run))
            seen.append(observed(run, digits))
        finally:
            run.close()
        assert run.batched == batched
    with_c, python = seen
    assert with_c["got"], "the caller heard nothing"
    for key in with_c:
        assert with_c[key] == python[key], key
    return with_c


@needs_c
def test_plain_echo_goes_back_as_python_would_send_it(monkeypatch) -> None:
    lent_ticks: list[int] = []

    def script(run: Run, caller: Caller) -> None:
        for tick in range(40):
            caller.audio()
            run.tick()
            if lent(run):
                lent_ticks.append(tick)
                live = (run.stream.packets_in, run.stream.packets_out, run.stream.octets_out)
                assert live == (tick + 1, tick + 1, 160 * (tick + 1))  # counted in C, live
        assert caller.sent == [data[12:] for _, data in run.got]

    seen = both_ways(monkeypatch, script, 36500)
    assert lent_ticks == list(range(40)) or lent_ticks == []  # lent from the first tick
    got = seen["got"]
    assert [tick for tick, _ in got] == list(range(40))  # back in the tick it came
    assert got[0][1][1] == 0x80 and all(data[1] == 0 for _, data in got[1:])  # one spurt
    seqs = [int.from_bytes(data[2:4], "big") for _, data in got]
    assert seqs == [(65530 + n) & 0xFFFF for n in range(40)]
    stamps = [int.from_bytes(data[4:8], "big") for _, data in got]
    assert stamps == [(0xFFFFF000 + n * 160) & 0xFFFFFFFF for n in range(40)]
    assert seen["report"] == (0, 0, 40000 + 39, 0)  # no loss, steady arrival: no jitter


@needs_c
def test_lent_from_the_first_tick(monkeypatch) -> None:
    run = echo_run(True, monkeypatch, 36520)
    try:
        caller = Caller(run)
        caller.audio()
        run.tick()
        assert lent(run)
        assert run.engine._echo.in_use == 1
    finally:
        run.close()
    assert run.engine._echo.in_use == 0  # removed from the engine: slot freed


@needs_c
def test_packets_that_need_python_come_back_as_python_would_handle_them(monkeypatch) -> None:
    intruder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    intruder.bind(("127.0.0.1", 0))
    lent_after: list[bool] = []

    def script(run: Run, caller: Caller) -> None:
        def step(send: Callable[[], None] | None = None) -> None:
            if send is not None:
                send()
            run.tick()
            if run.batched:
                lent_after.append(lent(run))

        for _ in range(5):
            step(caller.audio)
        # an RFC 4733 digit: three event packets, the last with the end bit
        for duration, end in ((160, 0), (320, 0), (480, 0x80)):
            payload = bytes([5, end | 10]) + duration.to_bytes(2, "big")
            first = duration == 160
            step(lambda p=payload, m=first: caller.send(caller.packet(p, pt=101, marker=m)))
        for _ in range(3):
            step(caller.audio)
        # a duplicate of the last packet, then the next
        previous = caller.packet(caller.sent[-1], seq=(caller.seq - 1) & 0xFFFF)
        step(lambda: (caller.send(previous), caller.audio()))
        # two packets the wrong way round
        caller.seq, caller.ts = caller.seq + 1, caller.ts + 160
        late = caller.packet(bytes(160), seq=caller.seq - 1, ts=caller.ts - 160)
        step(lambda: (caller.audio(), caller.send(late)))
        # another source's packet, then the caller's: dropped, and counted
        step(lambda: (caller.send(caller.packet(b"\x55" * 160), intruder), caller.audio()))
        # a burst of four: the oldest goes (three frames at most), then nothing
        step(lambda: caller.audio(4))
        step()
        for _ in range(5):  # silence, then a new talk spurt: marked on the way back
            step()
        step(lambda: caller.audio(marker=True))
        step(caller.audio)
        caller.ssrc = 0xBEEF  # the caller restarts with a new SSRC and sequence
        caller.seq = 100
        for _ in range(3):
            step(caller.audio)
        step(lambda: caller.audio(size=80))  # a 10 ms frame
        for _ in range(3):
            step(caller.audio)
        caller.seq = (caller.seq + 5000) & 0xFFFF  # a jump: RFC 3550 A.1 waits for the next
        for _ in range(3):
            step(caller.audio)
        run.stream.configure(replace(run.negotiated, direction="recvonly"), 20)  # hold
        for _ in range(3):
            step(caller.audio)
        run.stream.configure(run.negotiated, 20)
        for _ in range(4):
            step(caller.audio)

    try:
        seen = both_ways(monkeypatch, script, 36540)
    finally:
        intruder.close()
    assert seen["digits"] == [("5", 60)]
    assert seen["foreign"] == 1
    assert seen["dropped_bytes"] >= 320  # at least the burst's oldest frame (as PCM)
    assert not any(data[12:] == b"\x55" * 160 for _, data in seen["got"])
    markers = [tick for tick, data in seen["got"] if data[1] & 0x80]
    assert len(markers) >= 3  # the first frame, after the digit, after the silence
    half = len(lent_after) // 2
    assert any(lent_after[:half]) and any(lent_after[half:])  # with C: lent again after each


@needs_c
def test_a_new_sink_takes_the_stream_back_with_its_queued_frames(monkeypatch) -> None:
    written: list[bytes] = []

    class Recorder:
        def write(self, pcm: bytes) -> None:
            written.append(pcm)

    def script(run: Run, caller: Caller) -> None:
        for _ in range(3):
            caller.audio()
            run.tick()
        caller.audio(2)  # two in one tick: one goes back, one waits in the stream (or C)
        run.tick()
        echo = run.stream.sink
        run.stream.sink = Recorder()
        assert not lent(run)
        caller.audio()
        run.tick(3)
        run.stream.sink = echo  # observed() wants the echo buffer back

    seen = both_ways(monkeypatch, script, 36560)
    # what was heard before the new sink still goes back; what came after, to the recorder
    assert [(tick, data[12:]) for tick, data in seen["got"]][3:5] == [
        (3, ramp(40003)),
        (4, ramp(40004)),
    ]
    assert len(written) == 2  # the frame after the change, once per run
    assert written[0] == written[1] == native.ulaw_decode(ramp(40005))


@needs_c
def test_an_rtcp_report_due_takes_the_statistics_back(monkeypatch) -> None:
    run = echo_run(True, monkeypatch, 36580)
    reports = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    reports.bind(("127.0.0.1", 0))
    reports.setblocking(False)
    try:
        caller = Caller(run)
        run.stream.remote_rtcp = reports.getsockname()
        for _ in range(10):
            caller.audio()
            run.tick()
        caller.seq += 2  # two lost on the way
        for _ in range(5):
            caller.audio()
            run.tick()
        assert lent(run)
        run.stream.rtcp.next_send = run.clock.now  # due at the next tick
        caller.audio()
        run.tick()
        assert lent(run)  # lent again after the report
        sent = [p for p in drain(reports) if p[1] == 200]  # SR
        assert sent, "no sender report"
        sr = sent[-1]
        packets, octets = struct.unpack("!II", sr[20:28])
        assert (packets, octets) == (16, 16 * 160)
        ssrc, lost_word, highest, _jitter = struct.unpack("!IIII", sr[28:44])
        assert ssrc == CALLER_SSRC
        assert lost_word & 0xFFFFFF == 2  # cumulative lost
        assert highest == 40000 + 17
    finally:
        reports.close()
        run.close()


@needs_c
def test_a_new_source_takes_the_stream_back_at_once(monkeypatch) -> None:
    def script(run: Run, caller: Caller) -> None:
        for _ in range(3):
            caller.audio()
            run.tick()
        echo = run.stream.source
        run.stream.source = TonePlayer(1000, 60)  # an app plays something instead
        assert not lent(run)
        for _ in range(4):
            caller.audio()
            run.tick()
        run.stream.source = echo  # observed() wants the echo buffer back

    seen = both_ways(monkeypatch, script, 36600)
    got = [data[12:] for _, data in seen["got"]]
    assert got[:3] == [ramp(40000), ramp(40001), ramp(40002)]
    assert len(got) == 6  # then three frames of the tone (60 ms), not the caller's audio
    assert not set(got[3:]) & {ramp(40000 + n) for n in range(3, 7)}


@needs_c
def test_a_digit_without_its_end_packets_is_still_reported(monkeypatch) -> None:
    def script(run: Run, caller: Caller) -> None:
        for _ in range(3):
            caller.audio()
            run.tick()
        payload = bytes([7, 10]) + (160).to_bytes(2, "big")  # no end bit, ever
        caller.send(caller.packet(payload, pt=101, marker=True))
        run.tick()
        for _ in range(40):  # audio again; the digit expires after 0.5 s
            caller.audio()
            run.tick()

    seen = both_ways(monkeypatch, script, 36620)
    assert seen["digits"] and seen["digits"][0][0] == "7"
