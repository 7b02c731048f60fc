"""Property tests: the C kernels and the fallback agree sample for sample, and mixing
never wraps. The native side is skipped only when the extension is not built."""

from __future__ import annotations

from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sems_lite import _fallback, native

NATIVE = native.native_kernels()
needs_native = pytest.mark.skipif(
    NATIVE is None,
    reason="C extension sems_lite._native not built (no C compiler at install time?)",
)
IMPLS = [
    pytest.param(_fallback, id="fallback"),
    pytest.param(NATIVE, id="native", marks=needs_native),
]

int16 = st.integers(-32768, 32767)
loud = st.one_of(int16, st.sampled_from([32767, -32768, 30000, -30000]))


def frame(n: int | None = None, elements=int16):
    size = {"min_size": n, "max_size": n} if n is not None else {"max_size": 400}
    return st.lists(elements, **size).map(lambda v: array("h", v).tobytes())


def ints(data: bytes) -> list[int]:
    return array("h", data).tolist()


def clip(v: int) -> int:
    return max(-32768, min(32767, v))


@needs_native
@given(frame())
def test_g711_same(pcm):
    for name in ("ulaw_encode", "alaw_encode"):
        assert getattr(NATIVE, name)(pcm) == getattr(_fallback, name)(pcm)


@needs_native
@given(st.binary(max_size=400))
def test_g711_decode_same(data):
    assert NATIVE.ulaw_decode(data) == _fallback.ulaw_decode(data)
    assert NATIVE.alaw_decode(data) == _fallback.alaw_decode(data)


@needs_native
@given(frame(), st.integers(-0xFFFF, 0xFFFF))
def test_gain_same(pcm, g):
    assert NATIVE.gain(pcm, g) == _fallback.gain(pcm, g)


@needs_native
@given(st.integers(0, 200).flatmap(lambda n: st.tuples(frame(n, loud), frame(n, loud))))
def test_add_same(ab):
    assert NATIVE.add(*ab) == _fallback.add(*ab)


@needs_native
@given(st.integers(0, 170).flatmap(lambda n: st.lists(frame(n, loud), min_size=1, max_size=12)))
def test_mix_same(frames):
    assert NATIVE.mix(frames) == _fallback.mix(frames)


@needs_native
@given(st.booleans(), st.lists(frame(), max_size=5))
def test_resampler_same(up, chunks):
    a, b = NATIVE.Resampler(up), _fallback.Resampler(up)
    for c in chunks:
        assert a.process(c) == b.process(c)


@needs_native
@given(
    st.integers(0, 4000),
    st.integers(0, 4000),
    st.integers(-60, 3),
    st.lists(st.integers(0, 500), max_size=4),
)
def test_tone_same(f1, f2, level, reads):
    a, b = NATIVE.ToneGenerator(f1, f2, level), _fallback.ToneGenerator(f1, f2, level)
    for n in reads:
        assert a.read(n) == b.read(n)


@needs_native
@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from("0123456789ABCD*#"), st.integers(0, 120)), max_size=6),
    st.lists(frame(), max_size=3),
    st.integers(1, 400),
)
def test_dtmf_same(keys, noise, piece):
    # keys with random gaps and noise, fed in random-sized pieces
    rows, cols = (697, 770, 852, 941), (1209, 1336, 1477, 1633)
    signal = b""
    for key, ms in keys:
        i = "123A456B789C*0#D".index(key)
        signal += _fallback.ToneGenerator(rows[i // 4], cols[i % 4], -15).read(8 * ms)
        signal += bytes(8 * (120 - ms))
    signal += b"".join(noise)
    a, b = NATIVE.DtmfDetector(), _fallback.DtmfDetector()
    for i in range(0, len(signal), 2 * piece):
        assert a.feed(signal[i : i + 2 * piece]) == b.feed(signal[i : i + 2 * piece])


@pytest.mark.parametrize("k", IMPLS)
@given(data=st.data())
def test_mix_never_wraps(k, data):
    n = data.draw(st.integers(0, 40))
    frames = data.draw(st.lists(frame(n, loud), min_size=1, max_size=40))
    total, minus = k.mix(frames)
    columns = list(zip(*(ints(f) for f in frames), strict=True)) if n else []
    assert ints(total) == [clip(sum(c)) for c in columns]
    for j, m in enumerate(minus):
        assert ints(m) == [clip(sum(c) - c[j]) for c in columns]


@pytest.mark.parametrize("k", IMPLS)
@given(
    st.integers(0, 100).flatmap(lambda n: st.tuples(frame(n, loud), frame(n, loud))),
    st.integers(-0xFFFF, 0xFFFF),
)
def test_add_and_gain_saturate(k, ab, g):
    a, b = ab
    assert ints(k.add(a, b)) == [clip(x + y) for x, y in zip(ints(a), ints(b), strict=True)]
    assert ints(k.gain(a, g)) == [clip((x * g) >> 12) for x in ints(a)]
