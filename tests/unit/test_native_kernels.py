"""Behaviour of every media kernel, run against both the C extension and the fallback."""

from __future__ import annotations

import itertools
import math
import warnings
from array import array

import pytest

from sems_lite import _fallback, native

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

NATIVE = native.native_kernels()
IMPLS = [
    pytest.param(_fallback, id="fallback"),
    pytest.param(
        NATIVE,
        id="native",
        marks=pytest.mark.skipif(
            NATIVE is None,
            reason="C extension sems_lite._native not built (no C compiler at install time?)",
        ),
    ),
]


@pytest.fixture(params=IMPLS)
def k(request):
    return request.param


def pcm(*values: int) -> bytes:
    return array("h", values).tobytes()


def ints(data: bytes) -> list[int]:
    return array("h", data).tolist()


ALL_SAMPLES = array("h", range(-32768, 32768)).tobytes()
ROWS = (697, 770, 852, 941)
COLS = (1209, 1336, 1477, 1633)
KEYS = "123A456B789C*0#D"


def key_tone(k, key: str, ms: int, rate: int = 8000, level: int = -12, dev: float = 1.0):
    i = KEYS.index(key)
    row, col = round(ROWS[i // 4] * dev), round(COLS[i % 4] * dev)
    return k.ToneGenerator(row, col, level, rate).read(ms * rate // 1000)


def silence(ms: int, rate: int = 8000) -> bytes:
    return bytes(2 * ms * rate // 1000)


# --- G.711 ----------------------------------------------------------------------------


def test_ulaw_encode_matches_audioop_for_every_sample(k):
    assert k.ulaw_encode(ALL_SAMPLES) == audioop.lin2ulaw(ALL_SAMPLES, 2)


def test_alaw_encode_matches_audioop_for_every_sample(k):
    assert k.alaw_encode(ALL_SAMPLES) == audioop.lin2alaw(ALL_SAMPLES, 2)


def test_decode_matches_audioop_for_every_code(k):
    codes = bytes(range(256))
    assert k.ulaw_decode(codes) == audioop.ulaw2lin(codes, 2)
    assert k.alaw_decode(codes) == audioop.alaw2lin(codes, 2)


def test_g711_itu_values(k):
    # G.711 decoder outputs scaled to 16 bits: mu-law 14-bit x4, A-law 13-bit x8
    assert ints(k.ulaw_decode(bytes([0xFF, 0x7F, 0x80, 0x00, 0xEF, 0xBF]))) == [
        0,
        0,
        32124,
        -32124,
        132,
        1980,
    ]
    assert ints(k.alaw_decode(bytes([0xD5, 0x55, 0xAA, 0x2A, 0xC5]))) == [8, -8, 32256, -32256, 264]
    assert k.ulaw_encode(pcm(0, 32767, -32768)) == bytes([0xFF, 0x80, 0x00])
    assert k.alaw_encode(pcm(0, 32767, -32768)) == bytes([0xD5, 0xAA, 0x2A])


def test_g711_empty_and_torn_input(k):
    assert k.ulaw_encode(b"") == b"" and k.ulaw_decode(b"") == b""
    with pytest.raises(ValueError):
        k.ulaw_encode(b"\x00\x01\x02")
    with pytest.raises(ValueError):
        k.alaw_encode(b"\x00")


# --- gain / add / mix -----------------------------------------------------------------


def test_gain(k):
    x = pcm(1000, -1000, 3, -3, 32767, -32768)
    assert k.gain(x, 4096) == x
    assert ints(k.gain(x, 2048)) == [500, -500, 1, -2, 16383, -16384]  # floor
    assert ints(k.gain(x, 0)) == [0] * 6
    assert ints(k.gain(x, 4 * 4096)) == [4000, -4000, 12, -12, 32767, -32768]
    assert ints(k.gain(x, -4096)) == [-1000, 1000, -3, 3, -32767, 32767]


def test_gain_range_is_checked(k):
    with pytest.raises(ValueError):
        k.gain(pcm(1), 0x10000)
    with pytest.raises(ValueError):
        k.gain(pcm(1), -0x10000)


def test_add_saturates(k):
    assert ints(k.add(pcm(1, 30000, -30000, -2), pcm(2, 30000, -30000, 1))) == [
        3,
        32767,
        -32768,
        -1,
    ]
    with pytest.raises(ValueError):
        k.add(pcm(1, 2), pcm(1))


def test_mix_totals_and_removes_own_signal(k):
    a, b, c = pcm(100, 30000, -30000), pcm(20, 30000, -30000), pcm(3, -5000, 5000)
    total, minus = k.mix([a, b, c])
    assert ints(total) == [123, 32767, -32768]
    # from the 32-bit sum (55000), not from the clipped total
    assert [ints(m) for m in minus] == [
        [23, 25000, -25000],
        [103, 25000, -25000],
        [120, 32767, -32768],
    ]


def test_mix_edge_cases(k):
    x = pcm(5, -32768, 32767)
    total, minus = k.mix([x])
    assert total == x and minus == [bytes(6)]
    total, minus = k.mix([x, x])
    assert ints(total) == [10, -32768, 32767] and minus == [x, x]
    assert k.mix([b"", b""]) == (b"", [b"", b""])
    with pytest.raises(ValueError):
        k.mix([])
    with pytest.raises(ValueError):
        k.mix([pcm(1, 2), pcm(1)])


def test_mix_many_full_scale_participants_never_wraps(k):
    frames = [pcm(32767, -32768)] * 300
    total, minus = k.mix(frames)
    assert ints(total) == [32767, -32768]
    assert all(ints(m) == [32767, -32768] for m in minus)


# --- resampling -----------------------------------------------------------------------


def test_resampler_sizes_and_dc_gain(k):
    up, down = k.Resampler(True), k.Resampler(False)
    dc = pcm(*[10000] * 160)
    for _ in range(3):
        wide = up.process(dc)
        narrow = down.process(wide)
    assert len(wide) == 640 and len(narrow) == 320
    assert set(ints(wide)) == {10000} and set(ints(narrow)) == {10000}


def test_resampler_joins_frames_without_seams(k):
    signal = k.ToneGenerator(440, 1900, -8).read(1000)
    for up in (True, False):
        whole = k.Resampler(up).process(signal)
        r = k.Resampler(up)
        cuts = [0, 2, 162, 480, 482, 1206, 2000]  # odd sample counts included
        parts = b"".join(r.process(signal[a:b]) for a, b in itertools.pairwise(cuts))
        assert parts == whole


def test_resampler_round_trip_returns_the_input_delayed(k):
    x = k.ToneGenerator(1000, 0, -6).read(800)
    y = k.Resampler(False).process(k.Resampler(True).process(x))
    xs, ys = ints(x), ints(y)
    delay = 11  # 5.5 samples up, 5.5 down
    assert max(abs(ys[i] - xs[i - delay]) for i in range(100, 800)) < 100


def test_resampler_up_level_and_image_rejection(k):
    # 1 kHz at 8 kHz: the 16 kHz output has it at full level and no 7 kHz image
    y = ints(k.Resampler(True).process(k.ToneGenerator(1000, 0, -6).read(1600)))[400:]
    assert abs(_level(y, 1000, 16000) - 16422) < 400
    assert _level(y, 7000, 16000) < 30


def test_resampler_down_rejects_above_4khz(k):
    y = ints(k.Resampler(False).process(k.ToneGenerator(6000, 0, -6, rate=16000).read(3200)))
    assert max(abs(v) for v in y[100:]) < 200


def _level(x: list[int], freq: float, rate: int) -> float:
    """Peak amplitude of freq in x (a DFT bin)."""
    w = 2 * math.pi * freq / rate
    re = sum(v * math.cos(w * i) for i, v in enumerate(x))
    im = sum(v * math.sin(w * i) for i, v in enumerate(x))
    return 2 * math.hypot(re, im) / len(x)


# --- tones ----------------------------------------------------------------------------


def test_tone_frequency_level_and_purity(k):
    x = ints(k.ToneGenerator(1000, 0, -6).read(8000))
    crossings = sum((a < 0) != (b < 0) for a, b in itertools.pairwise(x))
    assert 1998 <= crossings <= 2000
    assert 16380 <= max(x) <= 16422 and -16422 <= min(x) <= -16380  # -6 dBFS = 16422
    assert abs(_level(x[:800], 1000, 8000) - 16422) < 30
    for harmonic in (2000, 3000):
        assert _level(x[:800], harmonic, 8000) < 16422 * 10 ** (-70 / 20)


def test_dual_tone_and_continuity(k):
    g = k.ToneGenerator(697, 1209, -10)
    joined = g.read(100) + g.read(61) + g.read(1)
    assert joined == k.ToneGenerator(697, 1209, -10).read(162)
    x = ints(joined)
    amp = 32767 * 10 ** (-10 / 20)
    assert abs(_level(x, 697, 8000) - amp) < 0.02 * amp
    assert abs(_level(x, 1209, 8000) - amp) < 0.02 * amp


def test_tone_saturates_and_validates(k):
    x = ints(k.ToneGenerator(400, 400, 0).read(200))  # two full-scale sines in phase
    assert max(x) == 32767 and min(x) == -32768
    assert k.ToneGenerator(0).read(3) == bytes(6)
    with pytest.raises(ValueError):
        k.ToneGenerator(5000)  # above Nyquist at 8 kHz
    with pytest.raises(ValueError):
        k.ToneGenerator(440, -1)


# --- DTMF -----------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [8000, 16000])
def test_dtmf_detects_all_keys_once_with_duration(k, rate):
    signal = b"".join(key_tone(k, key, 100, rate) + silence(60, rate) for key in KEYS)
    events = k.DtmfDetector(rate).feed(signal)
    assert [d for d, _ in events] == list(KEYS)
    assert all(88 <= ms <= 112 for _, ms in events), events


def test_dtmf_fed_in_small_pieces_gives_the_same(k):
    signal = key_tone(k, "7", 90) + silence(50) + key_tone(k, "#", 45) + silence(50)
    whole = k.DtmfDetector().feed(signal)
    d = k.DtmfDetector()
    pieces = [ev for i in range(0, len(signal), 34) for ev in d.feed(signal[i : i + 34])]
    assert pieces == whole and [e[0] for e in whole] == ["7", "#"]


def test_dtmf_reports_on_release_only(k):
    d = k.DtmfDetector()
    assert d.feed(key_tone(k, "9", 500)) == []
    assert [e[0] for e in d.feed(silence(40))] == ["9"]


@pytest.mark.parametrize("offset", range(0, 105, 15))
def test_dtmf_minimum_duration(k, offset):
    # 40 ms presses are always found, 18 ms bursts never, wherever they fall in a block
    lead = bytes(2 * offset)
    assert k.DtmfDetector().feed(lead + key_tone(k, "5", 18) + silence(100)) == []
    found = k.DtmfDetector().feed(lead + key_tone(k, "5", 40, dev=1.015) + silence(100))
    assert [e[0] for e in found] == ["5"]


def test_dtmf_pause_separates_presses_and_a_glitch_does_not(k):
    twice = key_tone(k, "3", 80) + silence(45) + key_tone(k, "3", 80) + silence(60)
    assert [e[0] for e in k.DtmfDetector().feed(twice)] == ["3", "3"]
    glitch = key_tone(k, "3", 80) + silence(5) + key_tone(k, "3", 80) + silence(60)
    events = k.DtmfDetector().feed(glitch)
    assert [e[0] for e in events] == ["3"] and events[0][1] >= 150


def _twisted(k, row_db: int, col_db: int) -> bytes:
    a = ints(k.ToneGenerator(852, 0, row_db).read(800))
    b = ints(k.ToneGenerator(1477, 0, col_db).read(800))
    return pcm(*[x + y for x, y in zip(a, b, strict=True)]) + silence(60)


@pytest.mark.parametrize(
    ("row_db", "col_db", "found"),
    [
        (-10, -16, True),  # normal twist 6 dB
        (-10, -20, False),  # normal twist 10 dB > 8
        (-13, -10, True),  # reverse twist 3 dB
        (-16, -10, False),  # reverse twist 6 dB > 4
    ],
)
def test_dtmf_twist_limits(k, row_db, col_db, found):
    events = k.DtmfDetector().feed(_twisted(k, row_db, col_db))
    assert [e[0] for e in events] == (["9"] if found else [])


@pytest.mark.parametrize("dev", [0.985, 1.015])
def test_dtmf_accepts_frequency_tolerance(k, dev):
    signal = b"".join(key_tone(k, key, 60, dev=dev) + silence(60) for key in KEYS)
    assert [e[0] for e in k.DtmfDetector().feed(signal)] == list(KEYS)


def test_dtmf_accepts_quiet_keys_and_ignores_quieter(k):
    assert [e[0] for e in k.DtmfDetector().feed(key_tone(k, "0", 80, level=-30) + silence(60))] == [
        "0"
    ]
    assert k.DtmfDetector().feed(key_tone(k, "0", 80, level=-50) + silence(60)) == []


def test_dtmf_ignores_silence_noise_and_speech_like_sound(k):
    import random

    rnd = random.Random(7)
    noise = pcm(*[rnd.randint(-8000, 8000) for _ in range(8000)])
    # a vowel: harmonics of 125 Hz with formants near 700 and 1200 Hz, where DTMF lives
    vowel = [0] * 8000
    for h in range(1, 28):
        f = 125 * h
        level = -30 + (14 if 550 < f < 900 else 0) + (10 if 1050 < f < 1350 else 0)
        for i, v in enumerate(ints(k.ToneGenerator(f, 0, level).read(8000))):
            vowel[i] += v
    noisy_vowel = k.add(pcm(*vowel), k.gain(noise, 1024))
    for signal in (silence(1000), noise, pcm(*vowel), noisy_vowel):
        assert k.DtmfDetector().feed(signal) == []


def test_dtmf_validates(k):
    with pytest.raises(ValueError):
        k.DtmfDetector(44100)
    with pytest.raises(ValueError):
        k.DtmfDetector().feed(b"\x00")
