"""media/wav.py and media/recorder.py on a Python without audioop (OpenWRT, Python 3.13+).

Fresh copies of both modules are imported with `sys.modules['audioop'] = None`, so any
`import audioop` in them raises ImportError; the originals are put back afterwards so the
other tests keep their class identities.
"""

from __future__ import annotations

import importlib
import math
import struct
import sys
import warnings
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sems_lite.media
import sems_lite.media.recorder as original_recorder
import sems_lite.media.wav as original_wav
from sems_lite import native

MODULES = ("sems_lite.media.wav", "sems_lite.media.recorder")

samples16 = st.lists(st.integers(-32768, 32767), max_size=400)


def real_audioop() -> ModuleType | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop
        except ImportError:
            return None
    return audioop


def pack(values: list[int], order: str = "=") -> bytes:
    return struct.pack(f"{order}{len(values)}h", *values)


@pytest.fixture
def no_audioop(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, ModuleType]:
    """(wav, recorder) freshly imported while audioop cannot be imported."""
    monkeypatch.setitem(sys.modules, "audioop", None)
    for name in MODULES:
        if name in sys.modules:
            monkeypatch.delitem(sys.modules, name)
        attr = name.rsplit(".", 1)[1]
        if hasattr(sems_lite.media, attr):  # the import below rebinds it: restore it after
            monkeypatch.setattr(sems_lite.media, attr, getattr(sems_lite.media, attr))
    wav = importlib.import_module("sems_lite.media.wav")
    recorder = importlib.import_module("sems_lite.media.recorder")
    with pytest.raises(ImportError):
        import audioop  # noqa: F401 -- proves the hiding works
    return wav, recorder


def test_fresh_modules_were_imported(no_audioop: tuple[ModuleType, ModuleType]) -> None:
    wav, recorder = no_audioop
    assert wav is not original_wav and recorder is not original_recorder
    assert recorder.rms is recorder._first_rms  # not decided before the first call
    assert recorder.rms(pack([3, 4])) == 3  # sqrt((9 + 16) / 2) = 3.53
    assert recorder.rms is recorder.rms_py  # audioop missing: plain Python chosen


@given(values=samples16)
def test_byteswap16_swaps_every_sample(values: list[int]) -> None:
    from sems_lite.media.wav import byteswap16

    assert byteswap16(pack(values, "<")) == pack(values, ">")
    assert byteswap16(byteswap16(pack(values))) == pack(values)
    audioop = real_audioop()
    if audioop is not None:
        assert byteswap16(pack(values)) == audioop.byteswap(pack(values), 2)


def test_big_endian_conversions_without_audioop(
    no_audioop: tuple[ModuleType, ModuleType], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    wav, _ = no_audioop
    values = [0, 1, -1, 256, -32768, 32767, 0x1234]
    monkeypatch.setattr(wav, "_BIG_ENDIAN", True)  # as on ath79 (big-endian MIPS)
    assert wav.le16_to_native(pack(values, "<")) == pack(values, ">")
    assert wav.native_to_le16(pack(values, ">")) == pack(values, "<")
    # and through a file: WAV data is little-endian, the engine gets big-endian samples
    path = tmp_path / "be.wav"
    data = pack(values, "<")
    path.write_bytes(wav.build_header("pcm16", 8000, len(data)) + data)
    assert wav.load_pcm(path, 8000) == pack(values, ">")
    monkeypatch.setattr(wav, "_BIG_ENDIAN", False)
    assert wav.load_pcm(path, 8000) == data  # little-endian: handed over as is


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], 0),
        ([0] * 160, 0),
        ([1000] * 160, 1000),
        ([-1000, 1000] * 80, 1000),
        ([-32768] * 160, 32768),
        ([32767, -32768], 32767),  # sqrt(32767.5^2 - 0.25) = 32767.49
        ([3, 4], 3),
        ([300] * 159 + [0], 299),  # sqrt(300^2 * 159 / 160) = 299.06
    ],
)
def test_rms_py_known_values(
    no_audioop: tuple[ModuleType, ModuleType], values: list[int], expected: int
) -> None:
    _, recorder = no_audioop
    assert recorder.rms_py(pack(values)) == expected


@given(values=samples16)
def test_rms_py_equals_audioop(values: list[int]) -> None:
    from sems_lite.media.recorder import rms_py

    audioop = real_audioop()
    if audioop is None:
        pytest.skip("no audioop on this Python to compare with")
    assert rms_py(pack(values)) == audioop.rms(pack(values), 2)
    if values:
        exact = math.isqrt(sum(v * v for v in values) // len(values))
        assert rms_py(pack(values)) == exact


@pytest.mark.parametrize("fmt", ["pcm16", "ulaw", "alaw"])
def test_recorder_without_audioop(
    no_audioop: tuple[ModuleType, ModuleType], tmp_path: Path, fmt: str
) -> None:
    wav, recorder = no_audioop
    if fmt != "pcm16" and native.IMPLEMENTATION == "fallback":
        pytest.skip("G.711 without audioop needs the C kernels")
    loud = pack([8000, -8000] * 80)
    quiet = pack([10, -10] * 80)
    stops: list[str] = []
    path = tmp_path / f"r-{fmt}.wav"
    rec = recorder.Recorder(
        path, fmt=fmt, silence_timeout=0.1, silence_level=300, on_stop=stops.append
    )
    for _ in range(20):  # 0.4 s of loud audio: no silence stop
        rec.write(loud)
    assert not rec.closed and stops == []
    for _ in range(4):  # 80 ms quiet: still under the 100 ms timeout
        rec.write(quiet)
    assert not rec.closed
    rec.write(quiet)  # 100 ms
    assert rec.closed and stops == ["silence"]
    info = wav.read_info(path)
    assert (info.format, info.frames) == (fmt, 25 * 160)
    pcm = wav.load_pcm(path, 8000)
    expected = loud * 20 + quiet * 5
    if fmt != "pcm16":  # G.711 is lossy: compare with the codec's own round trip
        expected = wav.DECODERS[fmt](wav.ENCODERS[fmt](expected))
    assert pcm == expected
