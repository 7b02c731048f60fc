"""Pure-Python (plus audioop) twins of the C kernels in native/, sample for sample.

Rules this module keeps:
- every function gives exactly what its C kernel gives (the tests run both and compare);
  where audioop computes the same thing it is used, since it is C and fast;
- PCM is native-endian int16, as in audioop and array('h');
- it also holds the parameter helpers both implementations share (tone increments,
  level, DTMF tables), so those are computed in one place;
- audioop is imported on first use, not at import: sems_lite.native imports the helpers
  above even when the C kernels run, on Pythons that have no audioop (OpenWRT 3.14).
"""

from __future__ import annotations

import math
import warnings
from array import array
from collections.abc import Sequence
from types import ModuleType
from typing import Any


def _import_audioop() -> ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # stdlib audioop warns on 3.11/3.12
        try:
            import audioop as module
        except ImportError as e:
            raise ImportError(
                "the pure-Python media fallback needs audioop (stdlib up to 3.12, "
                "'audioop-lts' from 3.13): install it, or the native kernels "
                "(sems_lite._native or libsems_kernels.so)"
            ) from e
    return module


class _LazyAudioop:
    """Stands in for the module until first use, then puts the real one in its place."""

    def __getattr__(self, name: str) -> Any:
        global audioop
        audioop = _import_audioop()  # later calls go straight to the module
        return getattr(audioop, name)


audioop: Any = _LazyAudioop()

MAX_GAIN_Q12 = 0xFFFF  # |gain| * 32768 must fit in 32 bits
MAX_MIX_FRAMES = 1 << 16  # 32768 * frames must fit in a 32-bit sum
DTMF_KEYS = "123A456B789C*0#D"
DTMF_FREQS = (697, 770, 852, 941, 1209, 1336, 1477, 1633)
# round(2 cos(2 pi f / rate) * 2^14), as in native/dtmf.c
DTMF_COEF = {
    8000: (27980, 26956, 25701, 24219, 19073, 16325, 13085, 9315),
    16000: (31548, 31281, 30951, 30556, 29144, 28361, 27409, 26258),
}
DTMF_BLOCK = {8000: 105, 16000: 210}
DTMF_MIN_AMP = 256
DTMF_MIN_BLOCKS = 2
DTMF_MAX_MISSES = 2
# half-band taps of native/resample.c (Q15, one side of the centre)
HALFBAND = (10283, -3022, 1395, -653, 268, -79)
UP_HIST, DOWN_HIST = 11, 22
SIN_A, SIN_B, SIN_C = 51437, 20953, 2284


def samples(pcm: bytes) -> int:
    """Number of int16 samples in pcm; ValueError for a torn sample."""
    if len(pcm) & 1:
        raise ValueError(f"PCM length {len(pcm)} is not a whole number of 16-bit samples")
    return len(pcm) >> 1


def check_gain(gain_q12: int) -> int:
    if not -MAX_GAIN_Q12 <= gain_q12 <= MAX_GAIN_Q12:
        raise ValueError(f"gain_q12 {gain_q12} outside ±{MAX_GAIN_Q12}")
    return gain_q12


def check_frames(frames: Sequence[bytes]) -> int:
    """Samples per frame of a mix; ValueError unless 1..65536 frames of one length."""
    if not frames:
        raise ValueError("mix needs at least one frame")
    if len(frames) > MAX_MIX_FRAMES:
        raise ValueError(f"mix takes at most {MAX_MIX_FRAMES} frames")
    n = samples(frames[0])
    for f in frames:
        if len(f) != len(frames[0]):
            raise ValueError("mix frames differ in length")
    return n


def tone_params(freq1: int, freq2: int, level_dbfs: int, rate: int) -> tuple[int, int, int]:
    """(inc1, inc2, amp): phase steps per sample (2^32 = one turn) and peak amplitude per sine."""
    if rate <= 0:
        raise ValueError(f"bad sample rate {rate}")
    for f in (freq1, freq2):
        if not 0 <= f <= rate // 2:
            raise ValueError(f"tone frequency {f} Hz outside 0..{rate // 2} at {rate} Hz")
    amp = min(32767, round(32767 * 10 ** (level_dbfs / 20)))
    return _phase_step(freq1, rate), _phase_step(freq2, rate), amp


def _phase_step(freq: int, rate: int) -> int:
    return (((freq << 33) + rate) // (2 * rate)) & 0xFFFFFFFF  # rounded freq * 2^32 / rate


def dtmf_params(rate: int) -> tuple[tuple[int, ...], int, int]:
    """(Goertzel coefficients, block length, per-tone energy floor) for a sample rate."""
    if rate not in DTMF_COEF:
        raise ValueError(f"DTMF detection runs at 8000 or 16000 Hz, not {rate}")
    block = DTMF_BLOCK[rate]
    return DTMF_COEF[rate], block, (DTMF_MIN_AMP * block) ** 2 >> 3


def dtmf_coefficients_from_formula(rate: int) -> tuple[int, ...]:
    """The coefficient table recomputed in floating point (the tables are checked against it)."""
    return tuple(round(2 * math.cos(2 * math.pi * f / rate) * 16384) for f in DTMF_FREQS)


def _sat(v: int) -> int:
    return 32767 if v > 32767 else -32768 if v < -32768 else v


# --- G.711: audioop implements the same ITU-T G.711 reference arithmetic ----------------


def ulaw_encode(pcm: bytes) -> bytes:
    samples(pcm)
    return audioop.lin2ulaw(pcm, 2)


def ulaw_decode(data: bytes) -> bytes:
    return audioop.ulaw2lin(data, 2)


def alaw_encode(pcm: bytes) -> bytes:
    samples(pcm)
    return audioop.lin2alaw(pcm, 2)


def alaw_decode(data: bytes) -> bytes:
    return audioop.alaw2lin(data, 2)


# --- gain, add, mix -------------------------------------------------------------------
# audioop saturates at the *sample width*, so these widen to 32 bits (x << 16), work on
# exact multiples, and narrow back with >> 16: saturating at 32 bits in that scale is
# exactly saturating at 16 bits, as the C code does.


def gain(pcm: bytes, gain_q12: int) -> bytes:
    samples(pcm)
    check_gain(gain_q12)
    if gain_q12 == 4096:
        return bytes(pcm)
    # (x << 16) * g / 4096 is an exact integer in a double; mul floors and clips at 32 bits
    wide = audioop.mul(audioop.lin2lin(pcm, 2, 4), 4, gain_q12 / 4096)
    return audioop.lin2lin(wide, 4, 2)


def add(a: bytes, b: bytes) -> bytes:
    samples(a)
    if len(a) != len(b):
        raise ValueError("add needs frames of equal length")
    return audioop.add(a, b, 2)  # clips at 16 bits, like sk_add


def mix(frames: Sequence[bytes]) -> tuple[bytes, list[bytes]]:
    check_frames(frames)
    # scale by 2^(16 - s) with 2^s >= frames: the 32-bit sum cannot clip, and s >= 1 keeps
    # the negation of -32768 << 15 inside 32 bits
    s = max(1, (len(frames) - 1).bit_length())
    down, up = 2.0**-s, 2.0**s
    wide = [audioop.mul(audioop.lin2lin(f, 2, 4), 4, down) for f in frames]
    total = wide[0]
    for w in wide[1:]:
        total = audioop.add(total, w, 4)
    others = [audioop.add(total, audioop.mul(w, 4, -1.0), 4) for w in wide]
    return _narrow(total, up), [_narrow(o, up) for o in others]


def _narrow(wide: bytes, up: float) -> bytes:
    return audioop.lin2lin(audioop.mul(wide, 4, up), 4, 2)


# --- resampling -----------------------------------------------------------------------


class Resampler:
    """8 kHz -> 16 kHz (up=True) or 16 kHz -> 8 kHz, continuous across calls."""

    __slots__ = ("_hist", "_phase", "up")

    def __init__(self, up: bool) -> None:
        self.up = bool(up)
        self._hist = [0] * (UP_HIST if self.up else DOWN_HIST)
        self._phase = 0

    def process(self, pcm: bytes) -> bytes:
        samples(pcm)
        x = self._hist + array("h", pcm).tolist()
        c0, c1, c2, c3, c4, c5 = HALFBAND
        out = array("h")
        if self.up:
            for i in range(len(x) - UP_HIST):
                a = (
                    c0 * (x[i + 5] + x[i + 6])
                    + c1 * (x[i + 4] + x[i + 7])
                    + c2 * (x[i + 3] + x[i + 8])
                    + c3 * (x[i + 2] + x[i + 9])
                    + c4 * (x[i + 1] + x[i + 10])
                    + c5 * (x[i] + x[i + 11])
                )
                out.append(_sat((a + 8192) >> 14))
                out.append(x[i + 6])
            self._hist = x[len(x) - UP_HIST :]
        else:
            n = len(x) - DOWN_HIST
            for i in range(self._phase, n, 2):
                a = (
                    16384 * x[i + 11]
                    + c0 * (x[i + 10] + x[i + 12])
                    + c1 * (x[i + 8] + x[i + 14])
                    + c2 * (x[i + 6] + x[i + 16])
                    + c3 * (x[i + 4] + x[i + 18])
                    + c4 * (x[i + 2] + x[i + 20])
                    + c5 * (x[i] + x[i + 22])
                )
                out.append(_sat((a + 16384) >> 15))
            self._phase = (self._phase + n) & 1
            self._hist = x[n:]
        return out.tobytes()


# --- tones ----------------------------------------------------------------------------


def _sine(phase: int, amp: int) -> int:
    z = (phase >> 15) & 0x7FFF
    if phase & 0x40000000:
        z = 0x8000 - z
    x2 = (z * z) >> 15
    t = SIN_B - ((x2 * SIN_C) >> 15)
    t = SIN_A - ((x2 * t) >> 15)
    v = (((z * t) >> 15) * amp) >> 15
    return -v if phase & 0x80000000 else v


class ToneGenerator:
    """One or two sines (freq2=0: one), each at level_dbfs peak; phase runs on across reads."""

    __slots__ = ("_amp", "_inc1", "_inc2", "_p1", "_p2")

    def __init__(self, freq1: int, freq2: int = 0, level_dbfs: int = -12, rate: int = 8000):
        self._inc1, self._inc2, self._amp = tone_params(freq1, freq2, level_dbfs, rate)
        self._p1 = self._p2 = 0

    def read(self, nsamples: int) -> bytes:
        p1, p2, i1, i2, amp = self._p1, self._p2, self._inc1, self._inc2, self._amp
        out = array("h", bytes(2 * nsamples))
        for i in range(nsamples):
            out[i] = _sat(_sine(p1, amp) + _sine(p2, amp))
            p1 = (p1 + i1) & 0xFFFFFFFF
            p2 = (p2 + i2) & 0xFFFFFFFF
        self._p1, self._p2 = p1, p2
        return out.tobytes()


# --- DTMF -----------------------------------------------------------------------------


class DtmfDetector:
    """Goertzel DTMF detector; feed() returns (digit, duration_ms) for each released key."""

    __slots__ = (
        "_block",
        "_coef",
        "_count",
        "_digit",
        "_energy",
        "_hits",
        "_min_energy",
        "_misses",
        "_rate",
        "_s1",
        "_s2",
    )

    def __init__(self, rate: int = 8000) -> None:
        coef, self._block, self._min_energy = dtmf_params(rate)
        self._coef = list(coef)
        self._rate = rate
        self._s1 = [0] * 8
        self._s2 = [0] * 8
        self._energy = self._count = 0
        self._digit, self._hits, self._misses = -1, 0, 0

    def feed(self, pcm: bytes) -> list[tuple[str, int]]:
        samples(pcm)
        coef, s1, s2, block = self._coef, self._s1, self._s2, self._block
        events: list[tuple[str, int]] = []
        energy, count = self._energy, self._count
        for x in array("h", pcm):
            for f in range(8):
                s = x + ((coef[f] * s1[f]) >> 14) - s2[f]
                s2[f] = s1[f]
                s1[f] = s
            energy += x * x
            count += 1
            if count < block:
                continue
            e = [a * a + b * b - ((c * a) >> 14) * b for a, b, c in zip(s1, s2, coef, strict=True)]
            s1[:] = s2[:] = [0] * 8
            self._track(self._classify(e, energy), events)
            energy = count = 0
        self._energy, self._count = energy, count
        return events

    def _classify(self, e: list[int], total: int) -> int:
        # max() keeps the first of equal maxima, as the C loop does
        r = max(range(4), key=e.__getitem__)
        c = max(range(4, 8), key=e.__getitem__)
        er, ec = e[r], e[c]
        if er < self._min_energy or ec < self._min_energy:
            return -1
        if er * 100 > ec * 631 or ec * 100 > er * 251:
            return -1
        for i in range(8):
            if i not in (r, c) and e[i] * 6 > (er if i < 4 else ec):
                return -1
        if (er + ec) * 20 < 7 * self._block * total:
            return -1
        return r * 4 + (c - 4)

    def _track(self, key: int, events: list[tuple[str, int]]) -> None:
        if self._digit >= 0:
            if key == self._digit:
                self._hits += self._misses + 1
                self._misses = 0
                return
            if key < 0:
                self._misses += 1
                if self._misses < DTMF_MAX_MISSES:
                    return
            if self._hits >= DTMF_MIN_BLOCKS:
                samples_held = self._hits * self._block + self._block // 2
                events.append((DTMF_KEYS[self._digit], duration_ms(samples_held, self._rate)))
        self._digit = key
        self._hits = 1 if key >= 0 else 0
        self._misses = 0


def duration_ms(nsamples: int, rate: int) -> int:
    return (nsamples * 1000 + rate // 2) // rate
