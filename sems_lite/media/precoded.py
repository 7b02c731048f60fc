"""A source that plays a prompt stored already encoded (.pcmu / .pcma): no transcoding.

The stream sends `read_encoded()` octets as the payload when the call's codec is the
file's encoding; for any other codec it reads decoded PCM through `read()` instead.
Files are loaded once and shared by every call (`_CACHE`), like decoded prompts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sems_lite import native
from sems_lite.media.player import Lessee

log = logging.getLogger("sems_lite.media")

ENCODINGS = {".pcmu": "PCMU", ".ulaw": "PCMU", ".pcma": "PCMA", ".alaw": "PCMA"}
_DECODERS = {"PCMU": native.ulaw_decode, "PCMA": native.alaw_decode}
_CACHE: dict[str, bytes] = {}
_CACHE_LIMIT = 64  # files; prompts are few and small


def encoding_of(path: str) -> str | None:
    for ext, name in ENCODINGS.items():
        if path.lower().endswith(ext):
            return name
    return None


class PrecodedPlayer:
    """Plays a G.711 file (8 kHz, one octet per sample) once, then reports finished."""

    __slots__ = (
        "_data",
        "_lease_samples",
        "_lessee",
        "_pos",
        "encoding",
        "finished",
        "on_finished",
        "path",
    )

    def __init__(self, path: str, on_finished: Callable[[], None] | None = None) -> None:
        encoding = encoding_of(path)
        if encoding is None:
            raise ValueError(f"{path}: not a precoded prompt (.pcmu, .pcma)")
        self.path = path
        self.encoding = encoding
        self.on_finished = on_finished
        self.finished = False
        self._pos = 0
        self._lessee: Lessee | None = None
        self._lease_samples = 0
        data = _CACHE.get(path)
        if data is None:
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError as exc:
                log.error("precoded prompt %s: %s", path, exc)
                data = b""
            if len(_CACHE) >= _CACHE_LIMIT:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[path] = data
        self._data = data

    def lease_frames(
        self, encoding: str, nsamples: int, lessee: Lessee
    ) -> tuple[PrecodedPlayer, bytes, int] | None:
        """(self, the file's octets, offset of the next frame) for a stream sending in
        this file's encoding, until `lessee.end_lease()` (rtp/tx_batch.py)."""
        if encoding != self.encoding or self.finished or self._lessee is not None:
            return None
        self._lessee = lessee
        self._lease_samples = nsamples
        return self, self._data, self._pos

    def lease_ended(self, frames: int) -> None:
        """The lessee sent `frames` frames on our behalf: move on by as much."""
        self._lessee = None
        self._pos += frames * self._lease_samples

    def read_encoded(self, nsamples: int) -> bytes | None:
        if self._lessee is not None:
            self._lessee.end_lease()
        data = self._data
        pos = self._pos
        if pos >= len(data):
            self._finish()
            return None
        chunk = data[pos : pos + nsamples]
        self._pos = pos + nsamples
        if len(chunk) < nsamples:
            # Pad the last frame with encoded silence of the same law.
            silence = b"\xff" if self.encoding == "PCMU" else b"\xd5"
            chunk += silence * (nsamples - len(chunk))
        return chunk

    def read(self, nbytes: int) -> bytes | None:
        chunk = self.read_encoded(nbytes // 2)
        return None if chunk is None else _DECODERS[self.encoding](chunk)

    def _finish(self) -> None:
        if not self.finished:
            self.finished = True
            if self.on_finished is not None:
                self.on_finished()
