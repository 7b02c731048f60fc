"""Audio buffers between a stream's sink and a source."""

from __future__ import annotations


class EchoBuffer:
    """A bounded FIFO of PCM: what is written is read back, at most `max_delay` late.

    The bound keeps the added delay small when the peer sends in bursts: beyond it the
    oldest audio is dropped (a caller prefers a short gap to a growing echo delay).
    """

    __slots__ = ("_data", "dropped_bytes", "max_bytes")

    def __init__(self, max_bytes: int = 960) -> None:
        self._data = bytearray()
        self.max_bytes = max_bytes
        self.dropped_bytes = 0

    def write(self, pcm: bytes) -> None:
        data = self._data
        data += pcm
        excess = len(data) - self.max_bytes
        if excess > 0:
            del data[:excess]
            self.dropped_bytes += excess

    def read(self, nbytes: int) -> bytes | None:
        data = self._data
        if len(data) < nbytes:
            return None
        frame = bytes(data[:nbytes])
        del data[:nbytes]
        return frame

    def __len__(self) -> int:
        return len(self._data)
