"""Media sources: file player, tone, silence and a playlist of them.

A source answers `read(nbytes)` once per tick with exactly `nbytes` of native-endian
16-bit mono PCM, or None when it has nothing (finished). Rules:
- Nothing here raises into the engine: a file that is missing, damaged or unreadable
  ends its playback with an error logged and `error` set.
- Prompts are decoded once into a `PromptCache` shared by every call; a player keeps
  only a memoryview and a position, and returns slices of it (no copy per tick).
- Files larger than the cache's item limit are streamed: each tick reads a bounded
  chunk, never the whole file.
- Tones are one period of the waveform (integer sine table), built once and shared.
"""

from __future__ import annotations

import array
import contextlib
import logging
import math
import os
from collections import OrderedDict
from collections.abc import Callable
from typing import BinaryIO, Protocol

from sems_lite.core.counters import Counters
from sems_lite.media.encoded import encoded_prompt
from sems_lite.media.wav import DECODERS, RATES, Resampler, WavInfo, load_pcm, open_audio

log = logging.getLogger("sems_lite.media")

Frame = bytes | memoryview

_STREAM_CHUNK = 4096  # file bytes read per refill of a streamed file
_ZEROS = bytes(3200)  # 100 ms at 16 kHz: silence is served as slices of this


class Source(Protocol):
    def read(self, nbytes: int) -> Frame | None: ...


class PlaylistItem(Source, Protocol):
    @property
    def finished(self) -> bool: ...
    def stop(self) -> None: ...
    def rewind(self) -> None: ...


def _silence(nbytes: int) -> Frame:
    return memoryview(_ZEROS)[:nbytes] if nbytes <= len(_ZEROS) else bytes(nbytes)


def _call(callback: Callable[[], None] | None) -> None:
    """Run an app callback; its failure is logged, never raised into the engine."""
    if callback is None:
        return
    try:
        callback()
    except Exception:
        log.exception("on_finished callback failed")


class PromptCache:
    """Decoded prompts shared by all calls: (path, rate) -> PCM, LRU, bounded in bytes.

    An entry remembers the file's mtime and size, so a prompt replaced on disk is
    decoded again. Files whose PCM would exceed `max_item_bytes` are not kept (players
    stream them instead).
    """

    __slots__ = ("_counts", "_entries", "max_bytes", "max_item_bytes")

    def __init__(self, max_bytes: int = 4 << 20, max_item_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes
        self.max_item_bytes = max_bytes if max_item_bytes is None else max_item_bytes
        self._entries: OrderedDict[tuple[str, int], tuple[tuple[int, int], bytes]] = OrderedDict()
        self._counts = Counters("size", "hits", "misses")  # updated per call: kept in place

    @property
    def size(self) -> int:
        """Octets of PCM held."""
        return self._counts["size"]

    @property
    def hits(self) -> int:
        return self._counts["hits"]

    @property
    def misses(self) -> int:
        return self._counts["misses"]

    def peek(self, path: str | os.PathLike[str], rate: int) -> bytes | None:
        """The cached PCM if it is still current, else None (never reads the file)."""
        key = (os.fspath(path), rate)
        entry = self._entries.get(key)
        if entry is None:
            return None
        try:
            current = entry[0] == _stamp(key[0])
        except OSError:
            self._drop(key)  # deleted: free its memory now
            raise
        if not current:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        self._counts["hits"] += 1
        return entry[1]

    def get(self, path: str | os.PathLike[str], rate: int) -> bytes:
        """The file decoded at `rate`; raises OSError or WavError."""
        pcm = self.peek(path, rate)
        if pcm is not None:
            return pcm
        self._counts["misses"] += 1
        name = os.fspath(path)
        stamp = _stamp(name)
        pcm = load_pcm(name, rate)
        if len(pcm) <= self.max_item_bytes:
            self._entries[(name, rate)] = (stamp, pcm)
            self._counts["size"] += len(pcm)
            while self.size > self.max_bytes and self._entries:
                self._drop(next(iter(self._entries)))
        return pcm

    def fits(self, info: WavInfo, rate: int) -> bool:
        """Whether the file, decoded at `rate`, is small enough to be cached."""
        return info.frames * 2 * rate // info.rate <= self.max_item_bytes

    def clear(self) -> None:
        self._entries.clear()
        self._counts["size"] = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, key: tuple[str, int]) -> None:
        _, pcm = self._entries.pop(key)
        self._counts["size"] -= len(pcm)


def _stamp(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size


DEFAULT_CACHE = PromptCache()


class Lessee(Protocol):
    """A stream sending an item's frames through the batched send (rtp/tx_batch.py)."""

    def end_lease(self) -> None: ...


class _Playback:
    """What every playable item shares: finishing once, stop, the callback, and the
    lease of its frames to a stream's batched send (settled before anything else)."""

    __slots__ = ("_done", "_lessee", "on_finished")

    def __init__(self, on_finished: Callable[[], None] | None) -> None:
        self.on_finished = on_finished
        self._done = False
        self._lessee: Lessee | None = None

    @property
    def finished(self) -> bool:
        return self._done

    def stop(self) -> None:
        """End playback now; `on_finished` runs if it had not finished yet."""
        self._finish()

    def rewind(self) -> None:
        self._settle()
        self._done = False

    def close(self) -> None:
        """The owner (a call) is going away: release what is held (an open file) now, not
        when the garbage collector breaks the call's reference cycles. No `on_finished`."""
        self._settle()
        self._done = True
        self._release()

    def _settle(self) -> None:
        # Frames leased to a stream's batched send: take the position back first.
        if self._lessee is not None:
            self._lessee.end_lease()

    def _finish(self) -> None:
        self._settle()
        if not self._done:
            self._done = True
            self._release()
            _call(self.on_finished)

    def _release(self) -> None:
        """Drop resources held while playing (open files)."""


class _FileStream:
    """A file decoded chunk by chunk, for files too large to cache."""

    __slots__ = ("_decode", "_file", "_info", "_left", "_pending", "_resampler")

    def __init__(self, f: BinaryIO, info: WavInfo, rate: int) -> None:
        self._file = f
        self._info = info
        self._decode = DECODERS[info.format]
        self._resampler = None if info.rate == rate else Resampler(rate > info.rate)
        self._pending = bytearray()
        self._left = info.data_size

    def read(self, nbytes: int, loop: bool) -> bytes | None:
        pending = self._pending
        progress = True  # audio read since the last wrap: a file emptied under us can't spin
        while len(pending) < nbytes:
            if self._left <= 0:
                if not loop or not progress:
                    break
                self._file.seek(self._info.data_offset)
                self._left = self._info.data_size
                progress = False
                continue
            chunk = self._file.read(min(self._left, _STREAM_CHUNK))
            chunk = chunk[: len(chunk) - len(chunk) % self._info.width]
            if not chunk:
                self._left = 0  # truncated under us: treat as the end
                continue
            progress = True
            self._left -= len(chunk)
            pcm = self._decode(chunk)
            if self._resampler is not None:
                pcm = self._resampler.process(pcm)
            pending += pcm
        if not pending:
            return None
        frame = bytes(pending[:nbytes])
        del pending[:nbytes]
        if len(frame) < nbytes:
            frame += bytes(nbytes - len(frame))
        return frame

    def close(self) -> None:
        self._file.close()


class FilePlayer(_Playback):
    """Plays one WAV or raw file at `rate`; opened on the first read."""

    __slots__ = (
        "_cache",
        "_lease_bytes",
        "_opened",
        "_pcm",
        "_pos",
        "_stream",
        "error",
        "loop",
        "path",
        "rate",
    )

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        rate: int = 8000,
        loop: bool = False,
        cache: PromptCache | None = None,
        on_finished: Callable[[], None] | None = None,
    ) -> None:
        if rate not in RATES:
            raise ValueError(f"rate must be one of {RATES}, not {rate}")
        super().__init__(on_finished)
        self.path = os.fspath(path)
        self.rate = rate
        self.loop = loop
        self.error: str | None = None
        self._cache = DEFAULT_CACHE if cache is None else cache
        self._opened = False
        self._pcm: memoryview | None = None
        self._pos = 0
        self._stream: _FileStream | None = None
        self._lease_bytes = 0  # PCM octets per leased frame

    @property
    def streaming(self) -> bool:
        return self._stream is not None

    def read(self, nbytes: int) -> Frame | None:
        if self._lessee is not None:
            self._settle()
        if self._done:
            return None
        if not self._opened and not self._open():
            return None
        pcm = self._pcm
        if pcm is not None:
            pos = self._pos
            end = pos + nbytes
            if end <= len(pcm):
                self._pos = end
                return pcm[pos:end]
            return self._read_tail(pcm, nbytes)
        try:
            frame = self._stream.read(nbytes, self.loop)  # type: ignore[union-attr]
        except (OSError, ValueError) as exc:
            self._fail(exc)
            return None
        if frame is None:
            self._finish()
        return frame

    def lease_frames(
        self, encoding: str, nsamples: int, lessee: Lessee
    ) -> tuple[_Playback, bytes, int] | None:
        """(self, the prompt encoded, offset of the next frame) for a stream that sends it
        as stored, until `lessee.end_lease()`; None if this file cannot be sent so."""
        pcm = self._pcm
        if self._done or pcm is None or self._lessee is not None:
            return None
        data = encoded_prompt(pcm.obj, encoding)  # type: ignore[arg-type]
        if data is None:
            return None
        self._lessee = lessee
        self._lease_bytes = 2 * nsamples
        return self, data, self._pos // 2

    def lease_ended(self, frames: int) -> None:
        """The lessee sent `frames` frames on our behalf: move on by as much."""
        self._lessee = None
        self._pos += frames * self._lease_bytes

    def rewind(self) -> None:
        """Start again from the beginning (re-opening the file on the next read)."""
        self._settle()
        self._release()
        self._opened = False
        self.error = None
        super().rewind()

    def _open(self) -> bool:
        self._opened = True
        try:
            pcm = self._cache.peek(self.path, self.rate)
            if pcm is None:
                f, info = open_audio(self.path)
                if self._cache.fits(info, self.rate):
                    f.close()
                    pcm = self._cache.get(self.path, self.rate)
                else:
                    self._stream = _FileStream(f, info, self.rate)
        except (OSError, ValueError) as exc:
            self._fail(exc)
            return False
        if pcm is not None:
            self._pcm = memoryview(pcm)
            self._pos = 0
        return True

    def _read_tail(self, pcm: memoryview, nbytes: int) -> Frame | None:
        """The frame that crosses the end of the file: wrap around or pad with silence."""
        rest = pcm[self._pos :]
        if self.loop and len(pcm):
            frame = bytearray(rest)
            while len(frame) < nbytes:
                frame += pcm[: nbytes - len(frame)]
            self._pos = (self._pos + nbytes) % len(pcm)
            return bytes(frame)
        if not rest:
            self._finish()
            return None
        self._pos = len(pcm)
        return bytes(rest) + bytes(nbytes - len(rest))

    def _fail(self, exc: Exception) -> None:
        self.error = str(exc)
        log.error("playback of %s failed: %s", self.path, exc)
        self._finish()

    def _release(self) -> None:
        self._pcm = None
        if self._stream is not None:
            with contextlib.suppress(OSError):
                self._stream.close()
            self._stream = None


# --- tones ----------------------------------------------------------------------------

_SINE_BITS = 10
_SINE_SIZE = 1 << _SINE_BITS
_SINE = tuple(round(32767 * math.sin(2 * math.pi * i / _SINE_SIZE)) for i in range(_SINE_SIZE))
_TONE_CACHE_MAX = 32
_tones: OrderedDict[tuple[int, int, int, int], tuple[bytes, int]] = OrderedDict()


def _tone_period(freq: int, freq2: int, rate: int, amplitude: int) -> tuple[bytes, int]:
    """(buffer, period_bytes): one exact period of the tone plus a margin for slicing.

    With integer frequencies the signal repeats every rate / gcd(rate, f1, f2) samples
    (at most one second), so a tone of any length is slices of this one buffer.
    """
    key = (freq, freq2, rate, amplitude)
    cached = _tones.get(key)
    if cached is not None:
        _tones.move_to_end(key)
        return cached
    period = rate // math.gcd(rate, freq, freq2)
    sine, size, half = _SINE, _SINE_SIZE, rate // 2
    # Exact integer phase (i * f / rate cycles): the period closes with no click.
    values = [sine[(i * freq * size + half) // rate % size] for i in range(period)]
    if freq2:
        for i in range(period):
            values[i] += sine[(i * freq2 * size + half) // rate % size]
    one = array.array("h", [(v * amplitude) >> 15 for v in values]).tobytes()
    margin = rate // 10 * 2  # a frame of up to 100 ms is sliced without a copy
    reps = 1 + -(-margin // len(one))
    entry = (one * reps, len(one))
    _tones[key] = entry
    if len(_tones) > _TONE_CACHE_MAX:
        _tones.popitem(last=False)
    return entry


class TonePlayer(_Playback):
    """A sine tone (or a sum of two, e.g. DTMF) for `ms` milliseconds (None: forever)."""

    __slots__ = ("_buf", "_left", "_period", "_pos", "_total")

    def __init__(
        self,
        freq: int,
        ms: int | None,
        *,
        freq2: int = 0,
        rate: int = 8000,
        amplitude: int = 8000,
        on_finished: Callable[[], None] | None = None,
    ) -> None:
        if not 0 < freq < rate // 2 or not 0 <= freq2 < rate // 2:
            raise ValueError(f"tone frequency must be below {rate // 2} Hz")
        if not 0 <= amplitude <= 16383:
            raise ValueError("amplitude must be 0..16383 (two tones must not clip)")
        super().__init__(on_finished)
        buf, period = _tone_period(int(freq), int(freq2), rate, amplitude)
        self._buf = memoryview(buf)
        self._period = period
        self._pos = 0
        self._total = None if ms is None else ms * rate // 1000 * 2
        self._left = self._total

    def read(self, nbytes: int) -> Frame | None:
        if self._done:
            return None
        left = self._left
        if left is not None:
            if left <= 0:
                self._finish()
                return None
            self._left = left - nbytes
        pos = self._pos
        end = pos + nbytes
        frame: Frame = self._buf[pos:end] if end <= len(self._buf) else self._long(nbytes)
        self._pos = end % self._period
        if left is not None and left < nbytes:
            frame = bytes(frame[:left]) + bytes(nbytes - left)
        return frame

    def rewind(self) -> None:
        self._pos = 0
        self._left = self._total
        super().rewind()

    def _long(self, nbytes: int) -> bytes:
        """A frame longer than the slicing margin: built by repetition."""
        out = bytearray()
        pos = self._pos
        while len(out) < nbytes:
            take = min(nbytes - len(out), self._period - pos)
            out += self._buf[pos : pos + take]
            pos = 0
        return bytes(out)


class Silence(_Playback):
    """`ms` milliseconds of silence, e.g. a pause between two prompts."""

    __slots__ = ("_left", "_total")

    def __init__(
        self, ms: int, *, rate: int = 8000, on_finished: Callable[[], None] | None = None
    ) -> None:
        super().__init__(on_finished)
        self._total = ms * rate // 1000 * 2
        self._left = self._total

    def read(self, nbytes: int) -> Frame | None:
        if self._done:
            return None
        if self._left <= 0:
            self._finish()
            return None
        self._left -= nbytes
        return _silence(nbytes)

    def rewind(self) -> None:
        self._left = self._total
        super().rewind()


class Playlist:
    """A queue of items played in order; `loop` restarts from the first when all finished.

    With `barge_in`, a DTMF digit stops the current item and clears the queue. Without
    `loop`, finished items are dropped (their memory is released). `on_finished` runs
    once each time the playlist runs empty (played out, cleared or barged into).
    """

    __slots__ = ("_active", "_index", "_items", "barge_in", "loop", "on_finished")

    def __init__(
        self,
        items: tuple[PlaylistItem, ...] | list[PlaylistItem] = (),
        *,
        loop: bool = False,
        barge_in: bool = False,
        on_finished: Callable[[], None] | None = None,
    ) -> None:
        self._items: list[PlaylistItem] = []
        self._index = 0
        self._active = False
        self.loop = loop
        self.barge_in = barge_in
        self.on_finished = on_finished
        for item in items:
            self.add(item)

    def add(self, item: PlaylistItem) -> None:
        self._items.append(item)
        self._active = True

    def clear(self) -> None:
        """Stop the current item and drop the queue."""
        items = self._items
        current = items[self._index] if self._index < len(items) else None
        items.clear()
        self._index = 0
        if current is not None:
            current.stop()
        self._run_empty()

    def close(self) -> None:
        """Release every item's resources (open files) without running any callback."""
        for item in self._items:
            close = getattr(item, "close", None)
            if close is not None:
                close()
        self._items.clear()
        self._index = 0
        self._active = False

    def on_dtmf(self, digit: str) -> bool:
        """Barge-in: a key press ends the announcement. True if it did."""
        if not self.barge_in or not self._items:
            return False
        log.debug("barge-in on DTMF %s", digit)
        self.clear()
        return True

    @property
    def finished(self) -> bool:
        return not self._items

    def __len__(self) -> int:
        return len(self._items)

    def lease_frames(
        self, encoding: str, nsamples: int, lessee: Lessee
    ) -> tuple[_Playback, bytes, int] | None:
        """The current item's frames, if it can lease them (see FilePlayer)."""
        items = self._items
        if self._index >= len(items):
            return None
        lease = getattr(items[self._index], "lease_frames", None)
        return None if lease is None else lease(encoding, nsamples, lessee)

    def read(self, nbytes: int) -> Frame | None:
        items = self._items
        ended = 0  # items that ended in this call: a full cycle with no audio stops a loop
        while items:
            item = items[self._index]
            frame = item.read(nbytes)
            if frame is not None:
                return frame
            ended += 1
            if not self.loop:
                del items[self._index]
                continue
            if ended > len(items):
                log.warning("looping playlist produced no audio; stopping it")
                items.clear()
                break
            self._index += 1
            if self._index == len(items):
                self._index = 0
                for each in items:
                    each.rewind()
        self._index = 0
        self._run_empty()
        return None

    def _run_empty(self) -> None:
        if self._active:
            self._active = False
            _call(self.on_finished)
