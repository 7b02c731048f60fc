"""Batched echo: one C call per media tick receives and sends back every echo call's audio.

An echo call's stream hears a frame and sends it back a tick later; per packet there is
nothing to decide in the plain case. So once the stream is latched to its peer and knows
its source, it *lends* itself to a slot here, and `sk_rtp_echo_tick` (native/rtp_echo.c)
drains the socket, keeps the RFC 3550 reception statistics and sends each frame back with
the stream's own header, with no Python in between. The first packet that needs a
decision (an RFC 4733 event, RTCP on the RTP port, a new SSRC, reordering, another frame
size) is held in the slot, and the stream takes itself back: sequence number, counters,
statistics and the frames still queued carry on in Python, which then reads the held
packet as if it had just arrived. A change to the stream (hold, re-INVITE, a new sink or
source, DTMF to send, an RTCP report due) takes it back the same way.

Only with the C kernels; SEMS_LITE_ECHO_BATCH=0 switches it off, for comparison.
"""

from __future__ import annotations

from typing import Any

from sems_lite.rtp.tx_batch import SlotTable

MAX_FRAMES = 4  # SK_ECHO_MAX_FRAMES
MAX_FRAME = 320  # SK_ECHO_MAX_FRAME: octets of one frame


class EchoTaken:
    """What a slot did while armed, handed back when the stream takes itself back."""

    __slots__ = (
        "dropped",
        "foreign",
        "frames",
        "held",
        "jitter16",
        "last_rx",
        "last_ts",
        "max_ext",
        "packets_ok",
        "received",
        "seq",
        "talking",
        "transit",
    )

    def __init__(self, slot: Any, frames: list[bytes], held: bytes | None) -> None:
        self.seq = slot.seq  # the next packet's sequence number
        self.packets_ok = slot.packets_ok
        self.last_ts = slot.last_ts
        self.talking = bool(slot.talking)
        self.received = slot.received
        self.foreign = slot.foreign
        self.dropped = slot.dropped
        self.max_ext = slot.max_ext
        self.transit = slot.transit if slot.has_transit else None  # A.8: none yet
        self.jitter16 = slot.jitter16
        self.last_rx = slot.last_rx
        self.frames = frames  # received, not yet sent back: oldest first
        self.held = held  # the packet Python must read next, if any


class EchoBatch(SlotTable):
    """The slots of the engine's echo calls."""

    CTYPE = "sk_rtp_echo"
    TICK = "sk_rtp_echo_tick"
    SET_PEER = "sk_rtp_echo_set_peer"
    SWITCH = "SEMS_LITE_ECHO_BATCH"
    FIRST_CAPACITY = 16  # a slot holds a 2 KB packet buffer: grow from a small table

    __slots__ = ()

    def arm(
        self,
        owner: Any,
        *,
        fd: int,
        peer: tuple[int, bytes, int, int],
        depth: int,
        payload_len: int,
        samples: int,
        units_per_8k: int,
        ts_base: int,
        ssrc: int,
        remote_ssrc: int,
        seq: int,
        pt: int,
        talking: bool,
        max_ext: int,
        transit: int | None,
        jitter16: int,
        last_rx: float,
    ) -> int:
        """Arm a slot for an echo stream; its index. `depth` frames are held at most."""
        if not 0 < depth <= MAX_FRAMES or not 0 < payload_len <= MAX_FRAME:
            raise ValueError(f"depth {depth} or frame of {payload_len} octets out of range")
        index = self._take_slot(owner, fd, peer)
        slot = self._slots[index]
        slot.depth = depth
        slot.payload_len = payload_len
        slot.samples = samples
        slot.units_per_8k = units_per_8k
        slot.ts_base = ts_base
        slot.ssrc = ssrc
        slot.remote_ssrc = remote_ssrc
        slot.seq = seq
        slot.pt = pt
        slot.talking = 1 if talking else 0
        slot.max_ext = max_ext
        slot.has_transit = 0 if transit is None else 1
        slot.transit = transit or 0
        slot.jitter16 = jitter16
        slot.last_rx = last_rx
        slot.last_ts = 0
        slot.received = slot.foreign = slot.dropped = 0
        slot.packets_ok = slot.send_errors = 0
        slot.held_len = 0
        slot.head = slot.queued = 0
        slot.armed = 1
        return index

    def run(self, tick: int, now: float) -> list[Any]:
        """Receive and send back for every armed slot; the owners with a packet held.
        `now` is the arrival time of what is received (seconds, monotonic)."""
        if self._high == 0:
            return []
        now_8k = int(now * 8000) & 0xFFFFFFFF  # as JitterBuffer.arrival_units
        count = self._lib.sk_rtp_echo_tick(
            self._slots, self._high, tick & 0xFFFFFFFF, now, now_8k, self._out, self._capacity
        )
        return self._owners_out(count)

    def live(self, index: int) -> tuple[int, int, int, float, int]:
        """(packets received, sent, dropped as foreign, last arrival, last timestamp sent)
        of an armed slot."""
        slot = self._slots[index]
        return slot.received, slot.packets_ok, slot.foreign, slot.last_rx, slot.last_ts

    def release(self, index: int) -> EchoTaken:
        """Disarm the slot and free it; what it did since it was armed."""
        slot = self._slots[index]
        slot.armed = 0
        depth, head, size = slot.depth, slot.head, slot.payload_len
        ring = self._ffi.buffer(slot.ring)
        frames = []
        for k in range(slot.queued):
            at = ((head + k) % depth) * MAX_FRAME
            frames.append(ring[at : at + size])
        held = self._ffi.buffer(slot.held, slot.held_len)[:] if slot.held_len else None
        taken = EchoTaken(slot, frames, held)
        self._put_index(index)
        return taken
