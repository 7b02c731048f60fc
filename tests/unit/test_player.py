"""File player, prompt cache, tones, silence and playlists as media sources."""

from __future__ import annotations

import array
import errno
import logging
import math
import os
import sys
from pathlib import Path

import pytest

from sems_lite.media import player as player_mod
from sems_lite.media.player import FilePlayer, Playlist, PromptCache, Silence, TonePlayer
from sems_lite.media.wav import ENCODERS, build_header, load_pcm

FRAME = 320  # 20 ms at 8 kHz


def ramp(samples: int, start: int = 0) -> bytes:
    """Distinct sample values so misplaced bytes are caught."""
    return array.array("h", [(start + i * 7) % 30000 for i in range(samples)]).tobytes()


def le(pcm: bytes) -> bytes:
    a = array.array("h", pcm)
    if sys.byteorder == "big":
        a.byteswap()
    return a.tobytes()


def write_wav(path: Path, pcm: bytes, rate: int = 8000, fmt: str = "pcm16") -> Path:
    data = le(pcm) if fmt == "pcm16" else ENCODERS[fmt](pcm)
    path.write_bytes(build_header(fmt, rate, len(data)) + data)
    return path


def drain(source: object, nbytes: int = FRAME, limit: int = 10_000) -> list[bytes]:
    frames = []
    for _ in range(limit):
        frame = source.read(nbytes)  # type: ignore[attr-defined]
        if frame is None:
            return frames
        assert len(frame) == nbytes
        frames.append(bytes(frame))
    raise AssertionError("source never finished")


def ideal(freqs: tuple[int, ...], amp: float, rate: int, samples: int) -> list[float]:
    return [sum(amp * math.sin(2 * math.pi * f * i / rate) for f in freqs) for i in range(samples)]


def snr_db(ref: list[float], got: bytes) -> float:
    g = array.array("h", got)
    signal = sum(v * v for v in ref)
    noise = sum((ref[i] - g[i]) ** 2 for i in range(len(ref)))
    return 10 * math.log10(signal / noise)


# --- FilePlayer -----------------------------------------------------------------------


def test_plays_file_in_frames_and_pads_the_last(tmp_path: Path) -> None:
    pcm = ramp(1000)  # 2000 bytes: 6 full frames and 80 bytes
    path = write_wav(tmp_path / "p.wav", pcm)
    done: list[int] = []
    p = FilePlayer(path, cache=PromptCache(), on_finished=lambda: done.append(1))
    frames = drain(p)
    assert len(frames) == 7
    assert b"".join(frames) == pcm + bytes(7 * FRAME - len(pcm))
    assert p.finished
    assert done == [1]
    assert p.read(FRAME) is None
    assert done == [1]  # once only


def test_frames_are_views_of_the_shared_cached_pcm(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "p.wav", ramp(800))
    cache = PromptCache()
    a = FilePlayer(path, cache=cache)
    b = FilePlayer(path, cache=cache)
    fa, fb = a.read(FRAME), b.read(FRAME)
    assert isinstance(fa, memoryview)
    assert isinstance(fb, memoryview)
    assert fa.obj is fb.obj  # one decoded copy for every call
    assert (cache.misses, cache.hits, len(cache)) == (1, 1, 1)


def test_loop_wraps_around_without_gap(tmp_path: Path) -> None:
    pcm = ramp(500)  # 1000 bytes: frames straddle the end
    path = write_wav(tmp_path / "p.wav", pcm)
    p = FilePlayer(path, loop=True, cache=PromptCache())
    out = b"".join(bytes(p.read(FRAME)) for _ in range(20))  # type: ignore[arg-type]
    assert out == (pcm * 7)[: 20 * FRAME]
    assert not p.finished


def test_loop_of_a_file_shorter_than_a_frame(tmp_path: Path) -> None:
    pcm = ramp(50)
    p = FilePlayer(write_wav(tmp_path / "p.wav", pcm), loop=True, cache=PromptCache())
    out = b"".join(bytes(p.read(FRAME)) for _ in range(3))  # type: ignore[arg-type]
    assert out == (pcm * 10)[: 3 * FRAME]


def test_empty_file_finishes_even_when_looping(tmp_path: Path) -> None:
    p = FilePlayer(write_wav(tmp_path / "p.wav", b""), loop=True, cache=PromptCache())
    assert p.read(FRAME) is None
    assert p.finished


@pytest.mark.parametrize("fmt", ["pcm16", "ulaw", "alaw"])
def test_plays_8k_file_at_16k(tmp_path: Path, fmt: str) -> None:
    path = write_wav(tmp_path / "p.wav", ramp(800), fmt=fmt)
    p = FilePlayer(path, rate=16000, cache=PromptCache())
    frames = drain(p, 640)
    assert b"".join(frames) == load_pcm(path, 16000)


def test_missing_file_ends_with_error_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    done: list[int] = []
    p = FilePlayer(tmp_path / "gone.wav", cache=PromptCache(), on_finished=lambda: done.append(1))
    with caplog.at_level(logging.ERROR, "sems_lite.media"):
        assert p.read(FRAME) is None
    assert p.finished
    assert p.error is not None
    assert done == [1]
    assert "gone.wav" in caplog.text


def test_damaged_file_ends_with_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(b"RIFF....WAVEjunk")
    p = FilePlayer(path, cache=PromptCache())
    assert p.read(FRAME) is None
    assert p.error is not None
    assert "no data chunk" in p.error


def test_failing_callback_does_not_reach_the_engine(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def boom() -> None:
        raise RuntimeError("app bug")

    p = FilePlayer(write_wav(tmp_path / "p.wav", ramp(10)), cache=PromptCache(), on_finished=boom)
    drain(p)
    assert p.finished
    assert "on_finished callback failed" in caplog.text


def test_stop_ends_playback_and_rewind_restarts(tmp_path: Path) -> None:
    pcm = ramp(800)
    done: list[int] = []
    p = FilePlayer(
        write_wav(tmp_path / "p.wav", pcm), cache=PromptCache(), on_finished=lambda: done.append(1)
    )
    p.read(FRAME)
    p.stop()
    assert p.read(FRAME) is None
    assert done == [1]
    p.rewind()
    assert bytes(p.read(FRAME)) == pcm[:FRAME]  # type: ignore[arg-type]


def test_rejects_unsupported_rate(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        FilePlayer(tmp_path / "p.wav", rate=44100)


# --- streaming of files too big to cache ----------------------------------------------


def small_cache() -> PromptCache:
    return PromptCache(max_bytes=1 << 20, max_item_bytes=1000)


@pytest.mark.parametrize(("fmt", "rate"), [("pcm16", 8000), ("ulaw", 8000), ("alaw", 16000)])
def test_large_file_is_streamed_with_same_audio(tmp_path: Path, fmt: str, rate: int) -> None:
    path = write_wav(tmp_path / "big.wav", ramp(20_000), fmt=fmt)
    cache = small_cache()
    p = FilePlayer(path, rate=rate, cache=cache)
    nbytes = rate // 50 * 2
    frames = drain(p, nbytes)
    assert p.streaming is False  # released once finished
    want = load_pcm(path, rate)
    got = b"".join(frames)
    # The last sample may differ: the streaming filter holds it back and pads with zero.
    assert len(got) >= len(want) - 4
    assert got[: len(want) - 2] == want[: len(got)][:-2]
    assert len(cache) == 0


def test_streaming_reads_bounded_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_wav(tmp_path / "big.wav", ramp(40_000))
    p = FilePlayer(path, cache=small_cache())
    sizes: list[int] = []
    assert p.read(FRAME) is not None
    assert p.streaming
    stream_file = p._stream._file  # type: ignore[union-attr]
    real_read = stream_file.read

    class Spy:
        def __getattr__(self, name: str) -> object:
            return getattr(stream_file, name)

        def read(self, n: int) -> bytes:
            sizes.append(n)
            return real_read(n)

    monkeypatch.setattr(p._stream, "_file", Spy())
    while p.read(FRAME) is not None:
        pass
    assert sizes
    assert max(sizes) <= player_mod._STREAM_CHUNK
    assert len(sizes) <= 80_000 // player_mod._STREAM_CHUNK + 2


def test_streamed_loop_wraps(tmp_path: Path) -> None:
    pcm = ramp(1100)
    p = FilePlayer(write_wav(tmp_path / "big.wav", pcm), loop=True, cache=small_cache())
    out = b"".join(bytes(p.read(FRAME)) for _ in range(30))  # type: ignore[arg-type]
    assert p.streaming
    assert out == (pcm * 5)[: 30 * FRAME]


def test_streamed_loop_of_a_tiny_file_has_no_gaps(tmp_path: Path) -> None:
    pcm = ramp(50)
    cache = PromptCache(max_item_bytes=10)
    p = FilePlayer(write_wav(tmp_path / "tiny.wav", pcm), loop=True, cache=cache)
    out = b"".join(bytes(p.read(FRAME)) for _ in range(3))  # type: ignore[arg-type]
    assert p.streaming
    assert out == (pcm * 10)[: 3 * FRAME]


def test_streamed_loop_ends_when_the_file_is_emptied(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "big.wav", ramp(20_000))
    p = FilePlayer(path, loop=True, cache=small_cache())
    assert p.read(FRAME) is not None
    os.truncate(path, 44)
    for _ in range(200):
        if p.read(FRAME) is None:
            break
    else:
        raise AssertionError("looping on an empty file did not end")
    assert p.finished


def test_read_error_while_streaming_ends_playback(tmp_path: Path) -> None:
    p = FilePlayer(write_wav(tmp_path / "big.wav", ramp(20_000)), cache=small_cache())
    assert p.read(FRAME) is not None

    def fail(n: int) -> bytes:
        raise OSError(errno.EIO, "Input/output error")

    p._stream._file.read = fail  # type: ignore[union-attr, method-assign]
    for _ in range(100):
        if p.read(FRAME) is None:
            break
    else:
        raise AssertionError("playback did not stop")
    assert p.finished
    assert p.error is not None
    assert "Input/output" in p.error


def test_file_truncated_while_streaming_ends_cleanly(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "big.wav", ramp(20_000))
    p = FilePlayer(path, cache=small_cache())
    assert p.read(FRAME) is not None
    os.truncate(path, 44 + 10_000)
    frames = drain(p)
    assert p.error is None
    assert 10_000 - FRAME <= FRAME + len(b"".join(frames)) <= 10_000 + 2 * player_mod._STREAM_CHUNK


# --- PromptCache ----------------------------------------------------------------------


def test_cache_evicts_least_recently_used(tmp_path: Path) -> None:
    paths = [write_wav(tmp_path / f"{i}.wav", ramp(500)) for i in range(3)]  # 1000 B each
    cache = PromptCache(max_bytes=2000)
    cache.get(paths[0], 8000)
    cache.get(paths[1], 8000)
    cache.get(paths[0], 8000)  # 0 is now the most recent
    cache.get(paths[2], 8000)
    assert cache.size == 2000
    assert cache.peek(paths[1], 8000) is None
    assert cache.peek(paths[0], 8000) is not None
    assert cache.peek(paths[2], 8000) is not None


def test_cache_keeps_rates_apart_and_skips_oversize(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", ramp(500))
    cache = PromptCache(max_bytes=10_000, max_item_bytes=1500)
    assert len(cache.get(path, 8000)) == 1000
    assert len(cache.get(path, 16000)) == 2000  # decoded but too big to keep
    assert len(cache) == 1
    assert cache.size == 1000


def test_cache_reloads_a_replaced_file(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", ramp(500))
    cache = PromptCache()
    first = cache.get(path, 8000)
    write_wav(path, ramp(600, start=3))
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse clocks
    second = cache.get(path, 8000)
    assert second != first
    assert len(second) == 1200
    assert cache.size == 1200


def test_cache_drops_a_deleted_file(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", ramp(500))
    cache = PromptCache()
    cache.get(path, 8000)
    path.unlink()
    with pytest.raises(FileNotFoundError):
        cache.peek(path, 8000)
    assert (len(cache), cache.size) == (0, 0)


# --- tones and silence ----------------------------------------------------------------


def test_tone_is_a_continuous_sine_across_frames() -> None:
    t = TonePlayer(425, 1000, amplitude=8000)
    frames = drain(t, 160)
    assert len(frames) == 100  # 1 s in 80-sample frames
    assert snr_db(ideal((425,), 8000 * 32767 / 32768, 8000, 8000), b"".join(frames)) > 40


def test_dual_tone_at_16k() -> None:
    t = TonePlayer(697, 200, freq2=1209, rate=16000, amplitude=6000)
    got = b"".join(drain(t, 640))
    assert len(got) == 200 * 16 * 2
    assert snr_db(ideal((697, 1209), 6000 * 32767 / 32768, 16000, 3200), got) > 40


def test_tone_pads_the_last_partial_frame() -> None:
    t = TonePlayer(1000, 30)  # 240 samples: one full frame and half a frame
    frames = drain(t)
    assert len(frames) == 2
    assert frames[1][FRAME // 2 :] == bytes(FRAME // 2)
    assert frames[1][: FRAME // 2] != bytes(FRAME // 2)


def test_endless_tone_and_long_frames() -> None:
    t = TonePlayer(400, None)
    for _ in range(500):
        assert t.read(FRAME) is not None
    big = t.read(8000 * 2)  # one second in one read: longer than the slicing margin
    assert big is not None
    assert len(big) == 16000
    assert not t.finished


def test_tone_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        TonePlayer(5000, 100)
    with pytest.raises(ValueError):
        TonePlayer(400, 100, amplitude=20000)


def test_silence_lasts_its_length() -> None:
    s = Silence(50)
    frames = drain(s)
    assert len(frames) == 3
    assert b"".join(frames) == bytes(3 * FRAME)


# --- Playlist -------------------------------------------------------------------------


def test_playlist_plays_items_in_order(tmp_path: Path) -> None:
    pcm = ramp(480)
    order: list[str] = []
    done: list[int] = []
    pl = Playlist(on_finished=lambda: done.append(1))
    pl.add(Silence(40, on_finished=lambda: order.append("silence")))
    path = write_wav(tmp_path / "p.wav", pcm)
    pl.add(FilePlayer(path, cache=PromptCache(), on_finished=lambda: order.append("file")))
    pl.add(TonePlayer(1000, 20, on_finished=lambda: order.append("tone")))
    frames = drain(pl)
    assert frames[:2] == [bytes(FRAME)] * 2
    assert b"".join(frames[2:5]) == pcm
    assert frames[5] == bytes(TonePlayer(1000, 20).read(FRAME))  # type: ignore[arg-type]
    assert len(frames) == 6
    assert order == ["silence", "file", "tone"]
    assert done == [1]
    assert pl.finished
    assert len(pl) == 0


def test_playlist_loop_restarts_from_first_item() -> None:
    pl = Playlist([TonePlayer(500, 20), TonePlayer(1500, 40)], loop=True)
    a = bytes(TonePlayer(500, 20).read(FRAME))  # type: ignore[arg-type]
    b = TonePlayer(1500, 40)
    b1, b2 = bytes(b.read(FRAME)), bytes(b.read(FRAME))  # type: ignore[arg-type]
    out = [bytes(pl.read(FRAME)) for _ in range(9)]  # type: ignore[arg-type]
    assert out == [a, b1, b2] * 3
    assert not pl.finished


def test_looping_playlist_of_nothing_stops(tmp_path: Path) -> None:
    done: list[int] = []
    pl = Playlist(
        [FilePlayer(tmp_path / "missing.wav", cache=PromptCache())],
        loop=True,
        on_finished=lambda: done.append(1),
    )
    assert pl.read(FRAME) is None
    assert done == [1]
    assert pl.finished


def test_barge_in_stops_current_and_clears_queue() -> None:
    stopped: list[str] = []
    done: list[int] = []
    pl = Playlist(barge_in=True, on_finished=lambda: done.append(1))
    pl.add(TonePlayer(400, 1000, on_finished=lambda: stopped.append("first")))
    pl.add(TonePlayer(800, 1000, on_finished=lambda: stopped.append("second")))
    assert pl.read(FRAME) is not None
    assert pl.on_dtmf("5") is True
    assert stopped == ["first"]
    assert done == [1]
    assert pl.read(FRAME) is None
    assert done == [1]
    assert pl.on_dtmf("5") is False  # nothing left to interrupt


def test_without_barge_in_dtmf_is_ignored() -> None:
    pl = Playlist([TonePlayer(400, 100)])
    assert pl.read(FRAME) is not None
    assert pl.on_dtmf("1") is False
    assert len(drain(pl)) == 4


def test_playlist_reused_after_running_empty() -> None:
    done: list[int] = []
    pl = Playlist(on_finished=lambda: done.append(1))
    assert pl.read(FRAME) is None
    assert done == []  # never had anything to play
    pl.add(Silence(20))
    drain(pl)
    pl.add(Silence(20))
    assert len(drain(pl)) == 1
    assert done == [1, 1]


def test_clear_without_barge_in() -> None:
    pl = Playlist([TonePlayer(400, 100), Silence(100)])
    pl.read(FRAME)
    pl.clear()
    assert pl.read(FRAME) is None
    assert len(pl) == 0
