"""A media sink that records to a WAV file (16-bit PCM, µ-law or A-law, 8 or 16 kHz).

Rules this module keeps:
- The file is valid at every moment: the header is written first (empty), and every
  `flush_bytes` the buffered audio is appended and the header's sizes are rewritten
  in place. A crash or kill -9 leaves a WAV holding everything up to the last flush.
- Disk I/O happens in bounded pieces (at most one flush per `write`).
- Nothing raises into the engine: a disk error (ENOSPC, EIO) ends the recording, closes
  the file with a consistent header, logs, and reports through `on_stop('error: ...')`.
- `on_stop(reason)` runs at most once, for stops the recorder decides itself:
  'max_length', 'silence' or 'error: ...'. A clean `close()` does not call it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import os
import warnings
from array import array
from collections.abc import Callable
from operator import mul

from sems_lite.media.wav import ENCODERS, FORMATS, MAX_DATA_SIZE, RATES, build_header

log = logging.getLogger("sems_lite.media")


def rms_py(pcm: bytes) -> int:
    """audioop.rms(pcm, 2) in plain Python: the same double arithmetic, the same result."""
    a = array("h", pcm)
    return int(math.sqrt(sum(map(mul, a, a)) / len(a))) if a else 0


def _pick_rms() -> Callable[[bytes], int]:
    """audioop's C rms where it exists (stdlib up to 3.12, audioop-lts after), else rms_py:
    OpenWRT's Python has no audioop."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # stdlib audioop warns on 3.11/3.12
        try:
            import audioop
        except ImportError:
            return rms_py
    audioop_rms = audioop.rms
    return lambda pcm: audioop_rms(pcm, 2)


def _first_rms(pcm: bytes) -> int:
    # picked on the first call, not at import: a box that never records never loads audioop
    global rms
    rms = _pick_rms()
    return rms(pcm)


# Root mean square of native-endian 16-bit PCM, as audioop.rms(pcm, 2).
rms: Callable[[bytes], int] = _first_rms


class Recorder:
    __slots__ = (
        "_buf",
        "_closed",
        "_encode",
        "_file",
        "_flush_bytes",
        "_fsync",
        "_max_samples",
        "_samples",
        "_silence_samples",
        "_silent",
        "_width",
        "_written",
        "fmt",
        "on_stop",
        "path",
        "rate",
        "silence_level",
        "stop_reason",
    )

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        rate: int = 8000,
        fmt: str = "pcm16",
        max_seconds: float | None = None,
        silence_timeout: float | None = None,
        silence_level: int = 300,
        flush_bytes: int = 16000,
        on_stop: Callable[[str], None] | None = None,
        fsync: bool = False,
    ) -> None:
        """Create (truncate) the file and write an empty WAV; raises OSError if it can't."""
        if rate not in RATES:
            raise ValueError(f"rate must be one of {RATES}, not {rate}")
        if fmt not in FORMATS:
            raise ValueError(f"fmt must be one of {FORMATS}, not {fmt!r}")
        self.path = os.fspath(path)
        self.rate = rate
        self.fmt = fmt
        self.silence_level = silence_level
        self.on_stop = on_stop
        self.stop_reason: str | None = None
        self._width = 2 if fmt == "pcm16" else 1
        limit = MAX_DATA_SIZE // self._width
        if max_seconds is not None:
            limit = min(limit, int(max_seconds * rate))
        self._max_samples = limit
        self._silence_samples = None if silence_timeout is None else int(silence_timeout * rate)
        self._silent = 0
        self._samples = 0
        self._written = 0  # data bytes known to be on disk
        self._flush_bytes = max(1, flush_bytes)
        self._fsync = fsync
        self._encode = ENCODERS[fmt]
        self._buf = bytearray()
        self._closed = False
        # Unbuffered: our own buffer decides when the disk is touched.
        self._file = open(self.path, "wb", buffering=0)  # noqa: SIM115 -- closed in close()
        try:
            self._file.write(build_header(fmt, rate, 0))
        except OSError:
            self._file.close()
            raise

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def seconds(self) -> float:
        """Audio accepted so far (flushed or still buffered)."""
        return self._samples / self.rate

    def write(self, pcm: bytes) -> None:
        """Take one frame of native-endian 16-bit PCM at `rate`."""
        if self._closed:
            return
        samples = len(pcm) >> 1
        reason = None
        room = self._max_samples - self._samples
        if samples >= room:
            samples = room
            pcm = pcm[: room * 2]
            reason = "max_length"
        elif len(pcm) & 1:
            pcm = pcm[: samples * 2]  # a torn sample would make the encoder raise
        if samples:
            self._buf += self._encode(pcm)
            self._samples += samples
            if self._silence_samples is not None:
                if rms(pcm) < self.silence_level:
                    self._silent += samples
                    if self._silent >= self._silence_samples:
                        reason = reason or "silence"
                else:
                    self._silent = 0
        if reason is not None:
            self._stop(reason)
        elif len(self._buf) >= self._flush_bytes:
            self._flush()

    def close(self) -> None:
        """Write what is buffered, finish the header and close. Safe to call again."""
        if self._closed:
            return
        if self._flush():
            self._finish()

    def _flush(self) -> bool:
        """Append the buffer and rewrite the header; on a disk error stop and report."""
        buf = self._buf
        try:
            while buf:
                n = self._file.write(buf)
                if not n:
                    raise OSError(errno.EIO, "short write")
                self._written += n
                del buf[:n]
            os.pwrite(self._file.fileno(), build_header(self.fmt, self.rate, self._written), 0)
            if self._fsync:
                os.fsync(self._file.fileno())
        except OSError as exc:
            self._fail(exc)
            return False
        return True

    def _finish(self) -> None:
        try:
            if self._written & 1:
                self._file.write(b"\0")  # RIFF pad byte after an odd-sized data chunk
        except OSError as exc:
            log.warning("recording %s: pad byte not written: %s", self.path, exc)
        self._close_file()

    def _stop(self, reason: str) -> None:
        if not self._flush():
            return  # _fail already reported the error instead
        self._finish()
        self._report(reason)

    def _fail(self, exc: OSError) -> None:
        log.error("recording to %s stopped: %s", self.path, exc)
        self._buf.clear()
        # The header describes what did reach the disk (a raw write that raises wrote nothing).
        with contextlib.suppress(OSError):
            os.pwrite(self._file.fileno(), build_header(self.fmt, self.rate, self._written), 0)
        self._close_file()
        self._report(f"error: {exc.strerror or exc}")

    def _close_file(self) -> None:
        self._closed = True
        try:
            self._file.close()
        except OSError as exc:
            log.error("closing recording %s: %s", self.path, exc)

    def _report(self, reason: str) -> None:
        if self.stop_reason is not None:
            return
        self.stop_reason = reason
        log.info("recording %s stopped: %s", self.path, reason)
        if self.on_stop is not None:
            try:
                self.on_stop(reason)
            except Exception:
                log.exception("on_stop callback failed")
