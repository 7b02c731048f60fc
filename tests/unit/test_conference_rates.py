"""Conference rooms with 8 kHz and 16 kHz participants mix at the highest rate; the public
join/leave API that pin_collect and conf_auth use. Fake calls, no sockets."""

from __future__ import annotations

import math
import sys
from array import array
from types import SimpleNamespace

from apps.conference import Conference, RateLink, converter
from sems_lite import native
from sems_lite.media.player import Playlist, TonePlayer

PTIME_MS = 20


class FakeCall:
    def __init__(self, engine: SimpleNamespace, rate: int, user: str = "room") -> None:
        self.ua = SimpleNamespace(engine=engine)
        self.rate = rate
        self.ruri = SimpleNamespace(user_unescaped=user, params={})
        self.sink = self.source = None
        self.answered = False
        self.rejected: int | None = None
        self.timers: list = []

    @property
    def media_tick(self) -> int:
        return self.ua.engine.tick_index

    def answer(self) -> None:
        self.answered = True

    def reject(self, status: int, reason: str = "") -> None:
        self.rejected = status

    def set_timer(self, delay, callback, *args):
        timer = SimpleNamespace(cancel=lambda: None)
        self.timers.append((delay, callback, args))
        return timer

    def hangup(self, reason: str = "") -> None:
        pass


def power(pcm: bytes, freq: int, rate: int) -> float:
    """Goertzel power at freq, normalised by length."""
    x = array("h", pcm)
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for v in x:
        s1, s2 = v + coeff * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / max(1, len(x)) ** 2


def run(engine, calls, freqs, ticks: int, start: int = 0) -> list[bytes]:
    """Every tick: each call says its tone (None: silence), then each hears the room."""
    gens = [
        native.ToneGenerator(f, rate=c.rate) if f else None
        for c, f in zip(calls, freqs, strict=True)
    ]
    heard = [bytearray() for _ in calls]
    for t in range(start, start + ticks):
        engine.tick_index = t
        for c, g in zip(calls, gens, strict=True):
            n = c.rate * PTIME_MS // 1000
            c.sink.write(g.read(n) if g else bytes(2 * n))
        for c, out in zip(calls, heard, strict=True):
            frame = c.source.read(2 * c.rate * PTIME_MS // 1000)
            assert frame is not None and len(frame) == 2 * c.rate * PTIME_MS // 1000
            out += frame
    return [bytes(h) for h in heard]


def db(a: float, b: float) -> float:
    return 10 * math.log10(max(a, 1e-9) / max(b, 1e-9))


def test_8k_and_16k_participants_hear_each_other():
    engine = SimpleNamespace(tick_index=0)
    conf = Conference({"lonely_user_timeout": 0})
    narrow, wide = FakeCall(engine, 8000), FakeCall(engine, 16000)
    conf.on_invite(narrow)
    conf.on_invite(wide)
    assert narrow.answered and wide.answered
    run(engine, [narrow, wide], [500, 1300], 25)  # past the join beep
    heard = run(engine, [narrow, wide], [500, 1300], 50, start=25)
    room = conf.rooms["room"]
    assert room.rate == 16000
    # The narrowband caller hears the wideband tone, not its own...
    assert db(power(heard[0], 1300, 8000), power(heard[0], 500, 8000)) > 30
    # ...and the wideband caller the narrowband one, not its own.
    assert db(power(heard[1], 500, 16000), power(heard[1], 1300, 16000)) > 30
    # Resampling keeps the level (within 1 dB): a -12 dBFS sine has power ~ (8231/2)^2.
    expected = (8231 / 2) ** 2
    assert abs(db(power(heard[0], 1300, 8000), expected)) < 1
    assert abs(db(power(heard[1], 500, 16000), expected)) < 1
    assert isinstance(room.participants[0].link, RateLink)
    assert room.participants[1].link is None


def test_tick_starting_with_either_reader_gives_the_same_room_frame():
    # The first reader of a tick triggers the mix with its own frame size.
    engine = SimpleNamespace(tick_index=0)
    conf = Conference({"lonely_user_timeout": 0})
    wide, narrow = FakeCall(engine, 16000), FakeCall(engine, 8000)
    conf.on_invite(wide)
    conf.on_invite(narrow)
    run(engine, [wide, narrow], [None, None], 25)
    heard = run(engine, [wide, narrow], [1300, 500], 50, start=25)
    assert db(power(heard[0], 500, 16000), power(heard[0], 1300, 16000)) > 30
    assert db(power(heard[1], 1300, 8000), power(heard[1], 500, 8000)) > 30


def test_listen_only_narrowband_in_a_wideband_room_hears_everyone():
    engine = SimpleNamespace(tick_index=0)
    conf = Conference({"lonely_user_timeout": 0})
    a, b, listener = FakeCall(engine, 16000), FakeCall(engine, 8000), FakeCall(engine, 8000)
    conf.on_invite(a)
    conf.on_invite(b)
    assert conf.join(listener, "room", listen_only=True) is not None
    run(engine, [a, b, listener], [None, None, 700], 25)
    heard = run(engine, [a, b, listener], [1300, 500, 700], 50, start=25)
    floor = power(heard[2], 2000, 8000) + 1
    assert power(heard[2], 1300, 8000) > 1000 * floor
    assert power(heard[2], 500, 8000) > 1000 * floor
    assert db(power(heard[0], 500, 16000), power(heard[0], 700, 16000)) > 30  # not mixed in


def test_room_falls_back_to_8k_when_the_wideband_caller_leaves():
    engine = SimpleNamespace(tick_index=0)
    conf = Conference({"lonely_user_timeout": 0})
    a, b, wide = FakeCall(engine, 8000), FakeCall(engine, 8000), FakeCall(engine, 16000)
    for c in (a, b, wide):
        conf.on_invite(c)
    run(engine, [a, b, wide], [500, 900, 1300], 5)
    room = conf.rooms["room"]
    assert room.rate == 16000 and room.participants[0].link is not None
    conf.on_end(wide, "bye")
    run(engine, [a, b], [500, 900], 40, start=5)  # past the join and leave beeps
    assert room.rate == 8000 and room.participants[0].link is None
    # Same rate again: the mix is the kernel's, bit for bit (no resampler in the way).
    engine.tick_index = 100
    fa, fb = native.ToneGenerator(500).read(160), native.ToneGenerator(900).read(160)
    a.sink.write(fa)
    b.sink.write(fb)
    assert a.source.read(320) == fb and b.source.read(320) == fa


def test_join_api_full_room_idempotent_prompt_and_leave():
    engine = SimpleNamespace(tick_index=0)
    conf = Conference({"max_participants": 2, "lonely_user_timeout": 0})
    a, b, c = (FakeCall(engine, 8000) for _ in range(3))
    prompt = Playlist([TonePlayer(1000, 40)])
    me = conf.join(a, "7", prompt=prompt)
    assert me is not None and a.sink is me and a.source is me
    assert conf.join(a, "other") is me  # already in a room: stays there
    assert conf.join(b, "7") is not None
    assert conf.join(c, "7") is None  # full
    assert c.sink is None
    # The prompt plays to `a` alone first, then `a` hears the room.
    engine.tick_index = 1
    a.sink.write(bytes(320))
    b.sink.write(native.ToneGenerator(500).read(160))
    first = a.source.read(320)
    assert power(first, 1000, 8000) > 100 * power(first, 500, 8000)
    conf.leave(a)
    assert [p.call for p in conf.rooms["7"].participants] == [b]
    conf.leave(b)
    assert "7" not in conf.rooms


def test_converters_keep_length_and_pitch():
    tone = native.ToneGenerator(500, rate=8000)
    for to_rate in (16000, 32000):  # the half-band kernel, then audioop.ratecv
        conv = converter(8000, to_rate)
        out = b"".join(conv.process(tone.read(160)) for _ in range(50))
        assert abs(len(out) - 2 * to_rate) <= 8  # one second in, one second out
        assert db(power(out, 500, to_rate), power(out, 1500, to_rate)) > 30


def test_other_ratios_without_audioop(monkeypatch):
    monkeypatch.setitem(sys.modules, "audioop", None)  # as on OpenWRT: import fails
    tone = native.ToneGenerator(500, rate=8000)
    conv = converter(8000, 48000)
    assert conv._audioop is None
    out = b"".join(conv.process(tone.read(160)) for _ in range(50))
    assert len(out) == 2 * 48000
    assert db(power(out, 500, 48000), power(out, 1500, 48000)) > 30
    back = converter(48000, 8000)
    assert len(back.process(out)) == 2 * 8000
