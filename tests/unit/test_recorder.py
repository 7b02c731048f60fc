"""Recorder: valid WAV at every flush, limits, disk errors, survival of kill -9."""

from __future__ import annotations

import array
import errno
import logging
import math
import os
import signal
import struct
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from sems_lite.media.recorder import Recorder
from sems_lite.media.wav import ENCODERS, header_size, load_pcm, read_info

REPO = Path(__file__).resolve().parents[2]


def tone_frame(samples: int, amp: int = 8000, phase: int = 0) -> bytes:
    return array.array(
        "h", [round(amp * math.sin(2 * math.pi * (phase + i) / 16)) for i in range(samples)]
    ).tobytes()


def le(pcm: bytes) -> bytes:
    a = array.array("h", pcm)
    if sys.byteorder == "big":
        a.byteswap()
    return a.tobytes()


def frames_of(n: int, samples: int = 160) -> list[bytes]:
    return [tone_frame(samples, phase=i * samples) for i in range(n)]


@pytest.mark.parametrize("fmt", ["pcm16", "ulaw", "alaw"])
@pytest.mark.parametrize("rate", [8000, 16000])
def test_round_trip(tmp_path: Path, fmt: str, rate: int) -> None:
    path = tmp_path / "r.wav"
    rec = Recorder(path, rate=rate, fmt=fmt, flush_bytes=1000)
    frames = frames_of(13, rate // 50)
    for frame in frames:
        rec.write(frame)
    rec.close()
    assert rec.closed
    info = read_info(path)
    assert (info.format, info.rate, info.frames) == (fmt, rate, 13 * rate // 50)
    pcm = b"".join(frames)
    expected = pcm if fmt == "pcm16" else ENCODERS[fmt](pcm)
    raw = path.read_bytes()
    assert raw[info.data_offset : info.data_offset + info.data_size] == (
        le(expected) if fmt == "pcm16" else expected
    )
    assert len(load_pcm(path, rate)) == len(pcm)
    assert struct.unpack_from("<I", raw, 4)[0] == len(raw) - 8


def test_odd_g711_recording_gets_a_pad_byte(tmp_path: Path) -> None:
    path = tmp_path / "r.wav"
    rec = Recorder(path, fmt="ulaw")
    rec.write(tone_frame(161))
    rec.close()
    raw = path.read_bytes()
    assert len(raw) == header_size("ulaw") + 162
    assert struct.unpack_from("<I", raw, 4)[0] == len(raw) - 8
    assert read_info(path).frames == 161


def test_header_is_valid_after_each_flush(tmp_path: Path) -> None:
    path = tmp_path / "r.wav"
    rec = Recorder(path, flush_bytes=1600)  # every 5 frames of 320 bytes
    written = b""
    with wave.open(str(path)) as w:
        assert w.getnframes() == 0  # valid before any audio
    for i, frame in enumerate(frames_of(23)):
        rec.write(frame)
        written += frame
        flushed = (i + 1) // 5 * 800
        with wave.open(str(path)) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
            assert w.getnframes() == flushed
            assert w.readframes(flushed) == le(written[: flushed * 2])
    rec.close()
    with wave.open(str(path)) as w:
        assert w.getnframes() == 23 * 160


def test_g711_header_is_valid_after_each_flush(tmp_path: Path) -> None:
    path = tmp_path / "r.wav"
    rec = Recorder(path, fmt="alaw", flush_bytes=400)
    flushed = buffered = 0
    for frame in frames_of(9):
        rec.write(frame)
        buffered += 160
        if buffered >= 400:  # one byte per sample: the whole buffer goes out
            flushed, buffered = flushed + buffered, 0
        info = read_info(path)
        assert info.frames == flushed
        raw = path.read_bytes()
        assert struct.unpack_from("<I", raw, header_size("alaw") - 12)[0] == info.frames  # fact
    rec.close()


def test_max_length_stops_once(tmp_path: Path) -> None:
    path = tmp_path / "r.wav"
    reasons: list[str] = []
    rec = Recorder(path, max_seconds=0.05, on_stop=reasons.append)  # 400 samples
    for frame in frames_of(10):
        rec.write(frame)
    assert reasons == ["max_length"]
    assert rec.closed
    assert rec.stop_reason == "max_length"
    assert rec.seconds == pytest.approx(0.05)
    rec.close()
    assert reasons == ["max_length"]
    with wave.open(str(path)) as w:
        assert w.getnframes() == 400
        assert w.readframes(400) == le(b"".join(frames_of(3))[:800])


def test_silence_timeout(tmp_path: Path) -> None:
    path = tmp_path / "r.wav"
    reasons: list[str] = []
    rec = Recorder(path, silence_timeout=0.1, silence_level=300, on_stop=reasons.append)
    quiet = array.array("h", [100, -100] * 80).tobytes()  # below the level, not zero
    for _ in range(4):
        rec.write(quiet)  # 80 ms of silence...
    rec.write(tone_frame(160))  # ...then speech resets the count
    for _ in range(4):
        rec.write(quiet)
    assert reasons == []
    rec.write(quiet)  # 100 ms of silence in a row
    assert reasons == ["silence"]
    assert rec.closed
    rec.write(tone_frame(160))
    with wave.open(str(path)) as w:
        assert w.getnframes() == 10 * 160


def test_disk_full_closes_cleanly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "r.wav"
    reasons: list[str] = []
    rec = Recorder(path, flush_bytes=1600, on_stop=reasons.append)
    frames = frames_of(12)
    for frame in frames[:5]:
        rec.write(frame)  # first flush succeeds

    def full(data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    rec._file.write = full  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, "sems_lite.media"):
        for frame in frames[5:]:
            rec.write(frame)  # never raises
    assert reasons == [f"error: {os.strerror(errno.ENOSPC)}"]
    assert rec.closed
    assert "r.wav" in caplog.text
    rec.close()
    assert len(reasons) == 1
    with wave.open(str(path)) as w:
        assert w.getnframes() == 800
        assert w.readframes(800) == le(b"".join(frames[:5]))


def test_partial_write_then_error_keeps_header_consistent(tmp_path: Path) -> None:
    path = tmp_path / "r.wav"
    reasons: list[str] = []
    rec = Recorder(path, flush_bytes=1000, on_stop=reasons.append)
    real_write = rec._file.write
    calls = 0

    def half_then_fail(data: bytes) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            return real_write(bytes(data)[:300])  # short write, as when the disk fills
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    rec._file.write = half_then_fail  # type: ignore[method-assign]
    for frame in frames_of(4):
        rec.write(frame)
    assert reasons == [f"error: {os.strerror(errno.EIO)}"]
    assert os.path.getsize(path) == 44 + 300
    with wave.open(str(path)) as w:
        assert w.getnframes() == 150


def test_error_at_close_is_reported(tmp_path: Path) -> None:
    reasons: list[str] = []
    rec = Recorder(tmp_path / "r.wav", on_stop=reasons.append)
    rec.write(tone_frame(160))

    def full(data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    rec._file.write = full  # type: ignore[method-assign]
    rec.close()
    assert reasons == ["error: No space left on device"]


def test_torn_sample_is_dropped_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "r.wav"
    rec = Recorder(path, fmt="ulaw")
    rec.write(tone_frame(160) + b"\x01")
    rec.close()
    assert read_info(path).frames == 160


def test_close_without_audio_leaves_empty_valid_wav(tmp_path: Path) -> None:
    path = tmp_path / "r.wav"
    reasons: list[str] = []
    rec = Recorder(path, on_stop=reasons.append)
    rec.close()
    rec.close()
    assert reasons == []
    with wave.open(str(path)) as w:
        assert w.getnframes() == 0


def test_failing_on_stop_is_contained(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def boom(reason: str) -> None:
        raise RuntimeError(reason)

    rec = Recorder(tmp_path / "r.wav", max_seconds=0.01, on_stop=boom)
    rec.write(tone_frame(160))
    assert rec.closed
    assert "on_stop callback failed" in caplog.text


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Recorder(tmp_path / "r.wav", fmt="mp3")
    with pytest.raises(ValueError):
        Recorder(tmp_path / "r.wav", rate=11025)
    with pytest.raises(OSError):
        Recorder(tmp_path / "no" / "such" / "dir.wav")


_CHILD = """
import sys, time
from sems_lite.media.recorder import Recorder
rec = Recorder(sys.argv[1], flush_bytes=3200)
frame = bytes(range(256)) + bytes(64)
for _ in range(103):  # 10 flushes of 3200 bytes, then 3 frames still buffered
    rec.write(frame)
print("ready", flush=True)
time.sleep(60)
"""


def test_sigkill_mid_recording_leaves_readable_wav(tmp_path: Path) -> None:
    path = tmp_path / "killed.wav"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen(
        [sys.executable, "-W", "ignore", "-c", _CHILD, str(path)],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    frame = bytes(range(256)) + bytes(64)
    with wave.open(str(path)) as w:
        assert w.getnframes() == 16000
        assert w.readframes(16000) == le(frame * 100)
