"""Batched RTP send: one C call per media tick sends every leased stream's next frame.

A stream playing stored audio (a cached prompt, a precoded file) needs no decision per
packet, only a header and a `sendto`. So once its source can promise whole frames of
encoded audio, the stream *leases* them to a slot here, and `sk_rtp_tick` (native/rtp_tx.c)
sends one per tick with no Python in between. The lease ends when the frames run out,
or at once when anything about the stream or its source changes (new source, hold, a
re-INVITE, DTMF, barge-in, the peer's address learned): the stream then takes its
sequence number and counters back, the source its position, and Python carries on.

Only with the C kernels (API or ABI mode); the pure-Python fallback sends as before.
SEMS_LITE_TX_BATCH=0 switches it off, for comparison in benchmarks.
"""

from __future__ import annotations

import heapq
import os
import socket
from typing import Any, Self

from sems_lite import native


class LeaseTaken:
    """What a slot did while armed, handed back when the lease ends."""

    __slots__ = ("frames_done", "last_ts", "packets_ok", "seq")

    def __init__(self, frames_done: int, packets_ok: int, seq: int, last_ts: int) -> None:
        self.frames_done = frames_done  # frames taken from the source, sent or not
        self.packets_ok = packets_ok
        self.seq = seq  # the next packet's sequence number
        self.last_ts = last_ts


def peer_address(family: int, remote: tuple) -> tuple[int, bytes, int, int] | None:
    """(4 or 6, packed address, port, scope id) for the C side, or None if `remote` is not
    a numeric address (a host name is left to Python's own sendto)."""
    try:
        if family == socket.AF_INET6:
            scope = remote[3] if len(remote) > 3 else 0
            return 6, socket.inet_pton(socket.AF_INET6, remote[0]), remote[1], scope
        return 4, socket.inet_pton(socket.AF_INET, remote[0]), remote[1], 0
    except (OSError, ValueError, TypeError, IndexError):
        return None


class SlotTable:
    """Slots of one C struct type in a C array grown by doubling, with their Python owners.

    Freed indexes are reused lowest first, so the armed slots stay at the front and the
    C loop (which skips unarmed ones) runs over `high` slots, not the capacity.
    """

    # What a subclass names: its C struct, its tick and set-peer functions, the
    # environment variable that switches it off, and how many slots it starts with.
    CTYPE = ""
    TICK = ""
    SET_PEER = ""
    SWITCH = ""
    FIRST_CAPACITY = 64

    __slots__ = (
        "_capacity",
        "_ffi",
        "_free",
        "_high",
        "_in_use",
        "_keep",
        "_lib",
        "_out",
        "_owners",
        "_slots",
    )

    def __init__(self, kernels: Any, capacity: int | None = None) -> None:
        self._ffi = kernels.ffi
        self._lib = kernels.lib
        self._capacity = capacity = capacity or self.FIRST_CAPACITY
        self._slots = self._ffi.new(f"{self.CTYPE}[]", capacity)
        self._out = self._ffi.new("uint32_t[]", capacity)  # indexes C hands back
        self._owners: list[Any] = [None] * capacity
        self._keep: list[Any] = [None] * capacity  # what C points into, alive while armed
        self._free: list[int] = []  # a heap of freed indexes below _high
        self._high = 0  # slots [0, _high) have been used; C skips the unarmed ones
        self._in_use = 0

    @classmethod
    def create(cls) -> Self | None:
        """A table when the C kernels run here (and have its tick: an older .so may
        not), unless switched off; else None."""
        if os.environ.get(cls.SWITCH, "").strip() == "0":
            return None
        if native.IMPLEMENTATION == "fallback":
            return None
        kernels = native.kernels()
        if kernels is None or not hasattr(kernels.lib, cls.TICK):
            return None
        return cls(kernels)

    def _take_slot(self, owner: Any, fd: int, peer: tuple[int, bytes, int, int]) -> int:
        """A free slot's index, with its owner, socket and peer address set."""
        index = self._take_index()
        family, ip, port, scope = peer
        set_peer = getattr(self._lib, self.SET_PEER)
        if set_peer(self._slots + index, family, ip, port, scope) != 0:
            self._put_index(index)
            raise ValueError(f"no socket address for family {family}")
        self._slots[index].fd = fd
        self._owners[index] = owner
        return index

    @property
    def in_use(self) -> int:
        return self._in_use

    @property
    def capacity(self) -> int:
        return self._capacity

    def _owners_out(self, count: int) -> list[Any]:
        return [self._owners[self._out[i]] for i in range(count)]

    def _take_index(self) -> int:
        self._in_use += 1
        if self._free:
            return heapq.heappop(self._free)  # lowest first: armed slots stay at the front
        if self._high == self._capacity:
            self._grow()
        self._high += 1
        return self._high - 1

    def _put_index(self, index: int) -> None:
        self._owners[index] = None
        self._keep[index] = None
        self._in_use -= 1
        if self._in_use == 0:
            # Empty after a load: start afresh. The freed indexes above 256 are int
            # objects made during the load, scattered over allocator arenas that they
            # alone would keep resident; a grown table goes back to its first size.
            self._free.clear()
            self._high = 0
            if self._capacity > self.FIRST_CAPACITY:
                self._shrink()
            return
        heapq.heappush(self._free, index)

    def _shrink(self) -> None:
        # The lists are trimmed in place: new ones made now would be among the few
        # objects left in the arenas the load needed.
        capacity = self.FIRST_CAPACITY
        self._slots = self._ffi.new(f"{self.CTYPE}[]", capacity)
        self._out = self._ffi.new("uint32_t[]", capacity)
        del self._owners[capacity:]
        del self._keep[capacity:]
        self._capacity = capacity

    def _grow(self) -> None:
        capacity = 2 * self._capacity
        slots = self._ffi.new(f"{self.CTYPE}[]", capacity)
        self._ffi.memmove(slots, self._slots, self._ffi.sizeof(self.CTYPE) * self._capacity)
        self._slots = slots
        self._out = self._ffi.new("uint32_t[]", capacity)
        self._owners.extend([None] * self._capacity)
        self._keep.extend([None] * self._capacity)
        self._capacity = capacity


class TxBatch(SlotTable):
    """The slots of the engine's leased streams."""

    CTYPE = "sk_rtp_slot"
    TICK = "sk_rtp_tick"
    SET_PEER = "sk_rtp_set_peer"
    SWITCH = "SEMS_LITE_TX_BATCH"

    __slots__ = ()

    def arm(
        self,
        owner: Any,
        *,
        fd: int,
        peer: tuple[int, bytes, int, int],
        data: bytes,
        offset: int,
        frames: int,
        payload_len: int,
        samples: int,
        ts_base: int,
        ssrc: int,
        seq: int,
        b1: int,
    ) -> int:
        """Arm a slot to send `frames` frames of `data` from `offset`; its index."""
        index = self._take_slot(owner, fd, peer)
        slot = self._slots[index]
        buffer = self._ffi.from_buffer("uint8_t[]", data)
        slot.data = buffer + offset
        slot.frames_left = frames
        slot.frames_done = 0
        slot.packets_ok = 0
        slot.send_errors = 0
        slot.payload_len = payload_len
        slot.samples = samples
        slot.ts_base = ts_base
        slot.ssrc = ssrc
        slot.last_ts = 0
        slot.seq = seq
        slot.b1 = b1
        slot.armed = 1
        self._keep[index] = (data, buffer)
        return index

    def run(self, tick: int) -> list[Any]:
        """Send this tick's frame of every armed slot; the owners whose frames ran out."""
        if self._high == 0:
            return []
        count = self._lib.sk_rtp_tick(
            self._slots, self._high, tick & 0xFFFFFFFF, self._out, self._capacity
        )
        return self._owners_out(count)

    def sent(self, index: int) -> tuple[int, int, int]:
        """(packets sent, last timestamp, frames taken) of a slot still leased."""
        slot = self._slots[index]
        return slot.packets_ok, slot.last_ts, slot.frames_done

    def release(self, index: int) -> LeaseTaken:
        """Disarm the slot and free it; what it did since it was armed."""
        slot = self._slots[index]
        slot.armed = 0
        taken = LeaseTaken(slot.frames_done, slot.packets_ok, slot.seq, slot.last_ts)
        self._put_index(index)
        return taken
