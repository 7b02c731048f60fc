"""Test signals, G.711 and echo-quality measures for the interop tests.

audioop does the sample work in C (G.711, findfit); Python 3.13 dropped it from the
stdlib, so there it comes from the audioop-lts package under the same name.
"""

from __future__ import annotations

import math
import random
import warnings
import wave
from array import array
from pathlib import Path

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

RATE = 8000
FRAME = 160  # samples in 20 ms at 8 kHz
WIDTH = 2  # bytes per linear sample


def make_signal(seconds: float, seed: int = 4475) -> bytes:
    """A deterministic test signal: two tones, a chirp and seeded noise under an envelope.

    Every 20 ms frame differs from every other (the noise sees to that) and none is
    silent (the envelope never drops below 0.3), so each frame can be identified in
    the echo by its content alone.
    """
    rng = random.Random(seed)
    n = int(seconds * RATE)
    out = array("h", bytes(2 * n))
    for i in range(n):
        t = i / RATE
        env = 0.65 + 0.35 * math.sin(2 * math.pi * 0.7 * t)
        chirp = math.sin(2 * math.pi * (300 + 400 * t) * t)
        v = (
            0.30 * math.sin(2 * math.pi * 440 * t)
            + 0.20 * math.sin(2 * math.pi * 1130 * t + 0.5)
            + 0.15 * chirp
            + 0.20 * rng.uniform(-1.0, 1.0)
        )
        out[i] = int(max(-1.0, min(1.0, v * env)) * 26000)
    return out.tobytes()


def to_ulaw(lin: bytes) -> bytes:
    return audioop.lin2ulaw(lin, WIDTH)


def from_ulaw(ulaw: bytes) -> bytes:
    return audioop.ulaw2lin(ulaw, WIDTH)


def ulaw_roundtrip(lin: bytes) -> bytes:
    """What a perfect PCMU echo can give back: the signal after one G.711 pass."""
    return from_ulaw(to_ulaw(lin))


def frames(data: bytes, size: int) -> list[bytes]:
    """Cut data into whole frames of `size` bytes (a short tail is dropped)."""
    return [data[i : i + size] for i in range(0, len(data) - size + 1, size)]


def findfit(haystack: bytes, needle: bytes) -> int:
    """Sample offset in haystack where needle fits best (least squares, in C)."""
    if len(needle) > len(haystack):
        raise ValueError("needle longer than haystack")
    offset, _factor = audioop.findfit(haystack, needle)
    return offset


def compare(reference: bytes, test: bytes) -> tuple[float, float]:
    """(correlation, SNR in dB) of test against reference, same length, int16 native."""
    a = array("h", reference)
    b = array("h", test)
    if len(a) != len(b) or not a:
        raise ValueError("compare needs two non-empty signals of the same length")
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    ea = sum(x * x for x in a)
    eb = sum(y * y for y in b)
    noise = sum((x - y) ** 2 for x, y in zip(a, b, strict=True))
    corr = dot / math.sqrt(ea * eb) if ea and eb else 0.0
    snr = 10 * math.log10(ea / noise) if noise else math.inf
    return corr, snr


def write_wav(path: Path, lin: bytes, rate: int = RATE) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(WIDTH)
        w.setframerate(rate)
        w.writeframes(lin)


def read_wav(path: Path) -> tuple[bytes, int, int]:
    """(frames as int16 native, rate, channels) of a 16-bit WAV file."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != WIDTH:
            raise ValueError(f"{path}: {8 * w.getsampwidth()}-bit samples, want 16")
        data = w.readframes(w.getnframes())
        return data, w.getframerate(), w.getnchannels()


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def rms(lin: bytes) -> int:
    return audioop.rms(lin, WIDTH)
