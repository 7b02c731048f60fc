"""WAV/raw file parsing, decoding, resampling and header writing."""

from __future__ import annotations

import array
import math
import struct
import sys
import wave
from pathlib import Path

import pytest

from sems_lite.media import wav
from sems_lite.media.wav import (
    ENCODERS,
    WavError,
    build_header,
    header_size,
    load_pcm,
    read_info,
    resample,
    write_header,
)


def tone(freq: float, rate: int, samples: int, amp: float = 10000.0) -> bytes:
    return array.array(
        "h", [round(amp * math.sin(2 * math.pi * freq * i / rate)) for i in range(samples)]
    ).tobytes()


def snr_db(ref: bytes, got: bytes, skip: int = 0) -> float:
    a, b = array.array("h", ref), array.array("h", got)
    n = min(len(a), len(b))
    signal = sum(a[i] ** 2 for i in range(skip, n - skip))
    noise = sum((a[i] - b[i]) ** 2 for i in range(skip, n - skip))
    return math.inf if noise == 0 else 10 * math.log10(signal / noise)


def best_snr_db(ref: bytes, got: bytes, skip: int = 32, max_lag: int = 16) -> float:
    """SNR at the best alignment: a FIR resampler delays the signal by a few samples."""
    a, b = array.array("h", ref), array.array("h", got)
    n = min(len(a), len(b)) - skip - max_lag
    signal = sum(a[i] ** 2 for i in range(skip, n))
    best = math.inf
    for lag in range(max_lag + 1):
        noise = sum((a[i] - b[i + lag]) ** 2 for i in range(skip, n))
        best = min(best, noise)
    return math.inf if best == 0 else 10 * math.log10(signal / best)


def le(pcm: bytes) -> bytes:
    """Native PCM as it is stored in a WAV (little-endian)."""
    a = array.array("h", pcm)
    if sys.byteorder == "big":
        a.byteswap()
    return a.tobytes()


def chunk(cid: bytes, body: bytes) -> bytes:
    return struct.pack("<4sI", cid, len(body)) + body + (b"\0" if len(body) & 1 else b"")


def fmt_body(code: int, channels: int = 1, rate: int = 8000, bits: int = 16) -> bytes:
    align = channels * bits // 8
    return struct.pack("<HHIIHH", code, channels, rate, rate * align, align, bits)


def riff(*chunks: bytes) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def extensible_fmt(sub_code: int, bits: int, guid_tail: bytes = wav._GUID_TAIL) -> bytes:
    base = fmt_body(0xFFFE, bits=bits)
    guid = sub_code.to_bytes(2, "little") + guid_tail
    return base + struct.pack("<HHI", 22, bits, 4) + guid


@pytest.mark.parametrize("fmt", ["pcm16", "ulaw", "alaw"])
@pytest.mark.parametrize("rate", [8000, 16000])
def test_round_trip_each_format_and_rate(tmp_path: Path, fmt: str, rate: int) -> None:
    pcm = tone(440, rate, rate // 4 + 1)  # odd sample count: G.711 needs a pad byte
    data = ENCODERS[fmt](pcm)
    path = tmp_path / "a.wav"
    with open(path, "wb") as f:
        write_header(f, fmt, rate, len(data))
        f.write(data + (b"\0" if len(data) & 1 else b""))
    raw = path.read_bytes()
    assert struct.unpack_from("<I", raw, 4)[0] == len(raw) - 8
    info = read_info(path)
    assert (info.format, info.rate, info.channels) == (fmt, rate, 1)
    assert info.frames == len(pcm) // 2
    assert info.data_offset == header_size(fmt)
    assert info.data_size == len(data)
    decoded = load_pcm(path, rate)
    if fmt == "pcm16":
        assert decoded == pcm
    else:
        assert len(decoded) == len(pcm)
        assert snr_db(pcm, decoded) > 30  # G.711 quantisation only


@pytest.mark.parametrize("rate", [8000, 16000])
def test_pcm16_header_is_read_by_stdlib_wave(tmp_path: Path, rate: int) -> None:
    pcm = tone(1000, rate, 800)
    path = tmp_path / "a.wav"
    path.write_bytes(build_header("pcm16", rate, len(pcm)) + le(pcm))
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, rate)
        assert w.getnframes() == 800
        assert w.readframes(800) == le(pcm)


def test_g711_header_has_fact_chunk_with_sample_count() -> None:
    header = build_header("alaw", 8000, 1234)
    assert len(header) == header_size("alaw")
    fact = header.index(b"fact")
    assert struct.unpack_from("<II", header, fact + 4) == (4, 1234)
    assert struct.unpack_from("<HH", header, 20) == (6, 1)
    assert header[-8:] == b"data" + struct.pack("<I", 1234)


def test_build_header_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="format"):
        build_header("mp3", 8000, 0)
    with pytest.raises(ValueError, match="data size"):
        build_header("pcm16", 8000, 1 << 32)


def test_resample_up_doubles_length_exactly() -> None:
    pcm = tone(1000, 8000, 1001)
    up = resample(pcm, 8000, 16000)
    assert len(up) == 2 * len(pcm)
    down = resample(up, 16000, 8000)
    assert len(down) == len(pcm)
    assert resample(pcm, 8000, 8000) is pcm


def test_resample_round_trip_keeps_a_1khz_tone() -> None:
    pcm = tone(1000, 8000, 8000)
    back = resample(resample(pcm, 8000, 16000), 16000, 8000)
    assert best_snr_db(pcm, back) > 30


def test_upsampled_tone_is_close_to_the_ideal_16k_tone() -> None:
    # A floor for the audioop stand-in (linear interpolation); the C resampler beats it.
    up = resample(tone(1000, 8000, 4000), 8000, 16000)
    assert best_snr_db(tone(1000, 16000, 8000), up) > 20


def test_resample_rejects_other_rates() -> None:
    with pytest.raises(ValueError):
        resample(b"\0\0", 8000, 44100)


def test_load_pcm_resamples_both_ways(tmp_path: Path) -> None:
    path8 = tmp_path / "eight.wav"
    pcm8 = tone(500, 8000, 800)
    path8.write_bytes(build_header("pcm16", 8000, len(pcm8)) + le(pcm8))
    assert len(load_pcm(path8, 16000)) == 2 * len(pcm8)
    path16 = tmp_path / "sixteen.wav"
    data16 = ENCODERS["ulaw"](tone(500, 16000, 1600))
    path16.write_bytes(build_header("ulaw", 16000, len(data16)) + data16)
    assert len(load_pcm(path16, 8000)) == 800 * 2
    with pytest.raises(ValueError):
        load_pcm(path8, 11025)


@pytest.mark.parametrize(
    ("code", "bits", "fmt"), [(1, 16, "pcm16"), (7, 8, "ulaw"), (6, 8, "alaw")]
)
def test_wave_format_extensible(tmp_path: Path, code: int, bits: int, fmt: str) -> None:
    data = bytes(range(200))
    path = tmp_path / "ext.wav"
    path.write_bytes(riff(chunk(b"fmt ", extensible_fmt(code, bits)), chunk(b"data", data)))
    info = read_info(path)
    assert info.format == fmt
    assert info.data_size == 200
    assert info.data_offset == 12 + 8 + 40 + 8


def test_extensible_with_foreign_guid_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "ext.wav"
    body = extensible_fmt(1, 16, guid_tail=bytes(14))
    path.write_bytes(riff(chunk(b"fmt ", body), chunk(b"data", bytes(4))))
    with pytest.raises(WavError, match="subformat"):
        read_info(path)


def test_unknown_chunks_are_skipped_with_padding(tmp_path: Path) -> None:
    data = bytes(range(100))
    path = tmp_path / "chunks.wav"
    path.write_bytes(
        riff(
            chunk(b"LIST", b"INFOISFT" + b"x" * 9),  # odd size: a pad byte follows
            chunk(b"fmt ", fmt_body(7, bits=8)),
            chunk(b"fact", struct.pack("<I", 100)),
            chunk(b"junk", b"abc"),
            chunk(b"data", data),
        )
    )
    info = read_info(path)
    assert info.format == "ulaw"
    raw = path.read_bytes()
    assert raw[info.data_offset : info.data_offset + info.data_size] == data


@pytest.mark.parametrize("declared", [0, 0xFFFFFFFF, 10_000])
def test_crash_left_data_size_uses_file_size(tmp_path: Path, declared: int) -> None:
    data = bytes(300)
    path = tmp_path / "crash.wav"
    head = riff(chunk(b"fmt ", fmt_body(1)))
    path.write_bytes(head + struct.pack("<4sI", b"data", declared) + data)
    info = read_info(path)
    assert info.data_size == 300
    assert info.frames == 150


def test_odd_pcm16_data_keeps_whole_frames(tmp_path: Path) -> None:
    path = tmp_path / "odd.wav"
    path.write_bytes(riff(chunk(b"fmt ", fmt_body(1)), chunk(b"data", bytes(7))))
    info = read_info(path)
    assert (info.frames, info.data_size) == (3, 6)
    assert len(load_pcm(path, 8000)) == 6


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a RIFF"),
        (b"RIFF\0\0\0\0WAVX", "not a RIFF"),
        (riff(chunk(b"fmt ", fmt_body(1, channels=2))), "mono"),
        (riff(chunk(b"fmt ", fmt_body(1, rate=44100)), chunk(b"data", b"")), "44100 Hz"),
        (riff(chunk(b"fmt ", fmt_body(1, bits=8))), "8-bit"),
        (riff(chunk(b"fmt ", fmt_body(3, bits=32))), "format code 3"),
        (riff(chunk(b"fmt ", b"\x01\x00")), "fmt chunk too short"),
        (riff(chunk(b"data", bytes(8)), chunk(b"fmt ", fmt_body(1))), "before the fmt"),
        (riff(chunk(b"fmt ", fmt_body(1))), "no data chunk"),
        (riff(*[chunk(b"junk", b"")] * 100), "no data chunk"),
    ],
)
def test_bad_files_raise_wav_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(WavError, match=message):
        read_info(path)
    with pytest.raises(WavError):
        load_pcm(path, 8000)


def test_stereo_message_says_how_to_fix(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    path.write_bytes(riff(chunk(b"fmt ", fmt_body(1, channels=2)), chunk(b"data", bytes(8))))
    with pytest.raises(WavError) as excinfo:
        read_info(path)
    assert "2 channels" in str(excinfo.value)
    assert "stereo.wav" in str(excinfo.value)


def test_missing_file_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_info(tmp_path / "nope.wav")


@pytest.mark.parametrize(
    ("name", "fmt", "width"),
    [
        ("a.pcmu", "ulaw", 1),
        ("a.ULAW", "ulaw", 1),
        ("a.pcma", "alaw", 1),
        ("a.alaw", "alaw", 1),
        ("a.raw", "pcm16", 2),
        ("a.sln", "pcm16", 2),
    ],
)
def test_raw_files_by_extension(tmp_path: Path, name: str, fmt: str, width: int) -> None:
    pcm = tone(300, 8000, 161)
    data = ENCODERS[fmt](pcm)
    path = tmp_path / name
    path.write_bytes(data + b"\x01")  # a trailing odd byte is ignored for 16-bit
    info = read_info(path)
    assert (info.format, info.rate, info.data_offset) == (fmt, 8000, 0)
    assert info.frames == (len(data) + 1) // width
    decoded = load_pcm(path, 8000)
    if fmt == "pcm16":
        assert decoded == pcm
    else:
        assert snr_db(pcm, decoded[: len(pcm)]) > 30


def test_big_endian_hosts_swap_wav_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wav, "_BIG_ENDIAN", True)
    assert wav.le16_to_native(b"\x01\x02\x03\x04") == b"\x02\x01\x04\x03"
    assert wav.native_to_le16(b"\x01\x02") == b"\x02\x01"
    monkeypatch.setattr(wav, "_BIG_ENDIAN", False)
    assert wav.le16_to_native(b"\x01\x02") == b"\x01\x02"
