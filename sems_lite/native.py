"""Media kernels: the compiled C kernels when present, else the identical fallback.

Rules this module keeps:
- `IMPLEMENTATION` says which one runs, and all give the same samples, so callers never
  care, only benchmarks do. In order of preference:
  'native'     the cffi API-mode extension `sems_lite._native` (built from native/ at install);
  'native-abi' a plain `libsems_kernels.so` (from `make cross`) opened with `ffi.dlopen`
               through the same cdef, the marked block of `sems_kernels.h`: the file named
               by $SEMS_LITE_KERNELS, else `sems_lite/libsems_kernels.so`;
  'fallback'   pure Python plus audioop (sems_lite/_fallback.py);
- SEMS_LITE_NATIVE=0 forces the fallback;
- `KERNELS_PATH` names the file the C kernels came from (None for the fallback);
- PCM is native-endian int16 in bytes, G.711 is one octet per sample;
- wrappers keep allocations to the output buffer and the cffi views; state structs are
  allocated once per object.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from sems_lite import _fallback as fallback
from sems_lite._fallback import (
    check_frames,
    check_gain,
    dtmf_params,
    duration_ms,
    samples,
    tone_params,
)

__all__ = [
    "IMPLEMENTATION",
    "DtmfDetector",
    "Resampler",
    "ToneGenerator",
    "add",
    "alaw_decode",
    "alaw_encode",
    "fallback",
    "gain",
    "mix",
    "native_kernels",
    "ulaw_decode",
    "ulaw_encode",
]

DTMF_CHUNK = 4096  # samples per sk_dtmf_feed call: at most 4096 / 210 + 1 events
DTMF_ROOM = 32  # event slots per detector
KERNELS_ENV = "SEMS_LITE_KERNELS"
SO_NAME = "libsems_kernels.so"
HEADER_NAME = "sems_kernels.h"
CDEF_BEGIN, CDEF_END = "/* cffi-cdef-begin */", "/* cffi-cdef-end */"
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

_bound: SimpleNamespace | None = None


def native_kernels() -> SimpleNamespace | None:
    """The C kernels behind the public API, or None if the extension is not built.

    Ignores SEMS_LITE_NATIVE, so tests and benchmarks can always compare both sides.
    """
    global _bound
    if _bound is None:
        try:
            from sems_lite._native import ffi, lib  # type: ignore[import-not-found]
        except ImportError:
            return None
        _bound = _bind(ffi, lib)
        _bound.path = getattr(sys.modules.get("sems_lite._native"), "__file__", None)
    return _bound


def header_candidates(so_path: str) -> list[str]:
    """Where the cdef header of a shared object is looked for, in order: beside it (as
    `make cross` leaves it), in the package, in a source checkout's native/."""
    return [
        os.path.join(os.path.dirname(os.path.abspath(so_path)), HEADER_NAME),
        os.path.join(_PACKAGE_DIR, HEADER_NAME),
        os.path.join(os.path.dirname(_PACKAGE_DIR), "native", HEADER_NAME),
    ]


def cdef_text(header: str) -> str:
    """The declarations between the cffi markers of the header (as native/build_kernels.py)."""
    with open(header, encoding="utf-8") as f:
        text = f.read()
    start, stop = text.find(CDEF_BEGIN), text.find(CDEF_END)
    if start < 0 or stop < start:
        raise ValueError(f"{header}: cffi-cdef markers missing")
    return text[start + len(CDEF_BEGIN) : stop]


def abi_kernels(path: str, header: str | None = None) -> SimpleNamespace:
    """The kernels of a plain shared object, bound in cffi ABI mode with the header's cdef.

    Raises OSError (no such file, wrong architecture), ValueError (no header) or
    AttributeError (a kernel of the cdef missing from the object).
    """
    from cffi import FFI  # only here: the extension brings its own ffi

    if header is None:
        header = next((h for h in header_candidates(path) if os.path.isfile(h)), None)
        if header is None:
            raise ValueError(f"no {HEADER_NAME} beside {path}, in the package or in native/")
    ffi = FFI()
    cdef = cdef_text(header)
    ffi.cdef(cdef)
    lib = ffi.dlopen(os.path.abspath(path))
    # cffi looks a symbol up on first use: look every kernel up now, so an object older
    # than the header fails here and the fallback takes over, not in the middle of a call
    for name in re.findall(r"\b(sk_\w+)\s*\(", cdef):
        getattr(lib, name)
    bound = _bind(ffi, lib)
    bound.path = os.path.abspath(path)
    return bound


def _bind(ffi: Any, lib: Any) -> SimpleNamespace:
    """Wrap the cffi library in the same API as sems_lite._fallback."""
    from_buffer = ffi.from_buffer
    new = ffi.new
    i16 = ffi.typeof("int16_t[]")  # resolved once: a type string is parsed on every call
    u8 = ffi.typeof("uint8_t[]")

    def pcm_view(pcm: bytes) -> Any:
        # bytes and bytearray storage is aligned for int16; a memoryview slice may not
        # be (and MIPS traps on unaligned loads), so anything else is copied first
        if type(pcm) is not bytes and type(pcm) is not bytearray:
            pcm = bytes(pcm)
        return from_buffer(i16, pcm)

    def ulaw_encode(pcm: bytes) -> bytes:
        n = samples(pcm)
        out = bytearray(n)
        lib.sk_ulaw_encode(pcm_view(pcm), from_buffer(u8, out), n)
        return bytes(out)

    def ulaw_decode(data: bytes) -> bytes:
        n = len(data)
        out = bytearray(2 * n)
        lib.sk_ulaw_decode(from_buffer(u8, data), from_buffer(i16, out), n)
        return bytes(out)

    def alaw_encode(pcm: bytes) -> bytes:
        n = samples(pcm)
        out = bytearray(n)
        lib.sk_alaw_encode(pcm_view(pcm), from_buffer(u8, out), n)
        return bytes(out)

    def alaw_decode(data: bytes) -> bytes:
        n = len(data)
        out = bytearray(2 * n)
        lib.sk_alaw_decode(from_buffer(u8, data), from_buffer(i16, out), n)
        return bytes(out)

    def gain(pcm: bytes, gain_q12: int) -> bytes:
        n = samples(pcm)
        out = bytearray(2 * n)
        lib.sk_gain(pcm_view(pcm), from_buffer(i16, out), n, check_gain(gain_q12))
        return bytes(out)

    def add(a: bytes, b: bytes) -> bytes:
        n = samples(a)
        if len(a) != len(b):
            raise ValueError("add needs frames of equal length")
        out = bytearray(2 * n)
        lib.sk_add(pcm_view(a), pcm_view(b), from_buffer(i16, out), n)
        return bytes(out)

    def mix(frames: Sequence[bytes]) -> tuple[bytes, list[bytes]]:
        n = check_frames(frames)
        size = 2 * n
        total = bytearray(size)
        minus = bytearray(size * len(frames))
        joined = b"".join(frames)
        lib.sk_mix(
            pcm_view(joined), len(frames), n, from_buffer(i16, total), from_buffer(i16, minus)
        )
        view = memoryview(minus)
        return bytes(total), [view[i * size : (i + 1) * size].tobytes() for i in range(len(frames))]

    class Resampler:
        """8 kHz -> 16 kHz (up=True) or 16 kHz -> 8 kHz, continuous across calls."""

        __slots__ = ("_st", "up")

        def __init__(self, up: bool) -> None:
            self.up = bool(up)
            self._st = new("sk_resampler *")
            lib.sk_resampler_init(self._st, self.up)

        def process(self, pcm: bytes) -> bytes:
            n = samples(pcm)
            count = 2 * n if self.up else (n + 1 - self._st.phase) >> 1
            out = bytearray(2 * count)
            lib.sk_resample(self._st, pcm_view(pcm), n, from_buffer(i16, out))
            return bytes(out)

    class ToneGenerator:
        """One or two sines (freq2=0: one), each at level_dbfs peak; phase runs on."""

        __slots__ = ("_st",)

        def __init__(
            self, freq1: int, freq2: int = 0, level_dbfs: int = -12, rate: int = 8000
        ) -> None:
            self._st = new("sk_tone *")
            lib.sk_tone_init(self._st, *tone_params(freq1, freq2, level_dbfs, rate))

        def read(self, nsamples: int) -> bytes:
            out = bytearray(2 * nsamples)
            lib.sk_tone_read(self._st, from_buffer(i16, out), nsamples)
            return bytes(out)

    class DtmfDetector:
        """Goertzel DTMF detector; feed() returns (digit, duration_ms) per released key."""

        __slots__ = ("_ev", "_rate", "_st")

        def __init__(self, rate: int = 8000) -> None:
            dtmf_params(rate)  # same validation and message as the fallback
            self._rate = rate
            self._st = new("sk_dtmf *")
            self._ev = new("sk_dtmf_event[]", DTMF_ROOM)
            if lib.sk_dtmf_init(self._st, rate) != 0:
                raise ValueError(f"DTMF detection runs at 8000 or 16000 Hz, not {rate}")

        def feed(self, pcm: bytes) -> list[tuple[str, int]]:
            n = samples(pcm)
            view, st, ev = pcm_view(pcm), self._st, self._ev
            events: list[tuple[str, int]] = []
            for start in range(0, n, DTMF_CHUNK):
                count = lib.sk_dtmf_feed(
                    st, view + start, min(DTMF_CHUNK, n - start), ev, DTMF_ROOM
                )
                for i in range(count):
                    digit = ev[i].digit.decode("ascii")
                    events.append((digit, duration_ms(ev[i].samples, self._rate)))
            return events

    return SimpleNamespace(
        ffi=ffi,
        lib=lib,
        ulaw_encode=ulaw_encode,
        ulaw_decode=ulaw_decode,
        alaw_encode=alaw_encode,
        alaw_decode=alaw_decode,
        gain=gain,
        add=add,
        mix=mix,
        Resampler=Resampler,
        ToneGenerator=ToneGenerator,
        DtmfDetector=DtmfDetector,
    )


def _select(
    env: Mapping[str, str] = os.environ,
    package_dir: str = _PACKAGE_DIR,
    extension: Callable[[], SimpleNamespace | None] = native_kernels,
) -> tuple[str, SimpleNamespace | None]:
    """(IMPLEMENTATION, kernels or None); the arguments are there for the tests."""
    if env.get("SEMS_LITE_NATIVE", "").strip() == "0":
        return "fallback", None
    ext = extension()
    if ext is not None:
        return "native", ext
    explicit = env.get(KERNELS_ENV, "").strip()
    path = explicit or os.path.join(package_dir, SO_NAME)
    if explicit or os.path.isfile(path):
        try:
            return "native-abi", abi_kernels(path)
        except (OSError, ValueError, AttributeError, ImportError) as e:
            # asked for (or shipped) but unusable: say so once, then run on the fallback
            warnings.warn(f"sems_lite: C kernels {path} not used: {e}", RuntimeWarning, 2)
    return "fallback", None


IMPLEMENTATION, _native = _select()
KERNELS_PATH: str | None = _native.path if _native is not None else None
_impl: Any = _native if _native is not None else fallback


def kernels() -> SimpleNamespace | None:
    """The C kernels in use (with their `ffi` and `lib`), or None on the fallback."""
    return _native


ulaw_encode: Callable[[bytes], bytes] = _impl.ulaw_encode
ulaw_decode: Callable[[bytes], bytes] = _impl.ulaw_decode
alaw_encode: Callable[[bytes], bytes] = _impl.alaw_encode
alaw_decode: Callable[[bytes], bytes] = _impl.alaw_decode
gain: Callable[[bytes, int], bytes] = _impl.gain
add: Callable[[bytes, bytes], bytes] = _impl.add
mix: Callable[[Sequence[bytes]], tuple[bytes, list[bytes]]] = _impl.mix
Resampler = _impl.Resampler
ToneGenerator = _impl.ToneGenerator
DtmfDetector = _impl.DtmfDetector
