"""Adaptive jitter buffer for one received RTP stream, plus its RFC 3550 reception stats.

Sans-IO: `put()` takes a packet's fields and its arrival time (seconds, monotonic);
`get()` is called once per media tick and returns what to play. Nothing here reads a
clock: the tick count is the playout clock.

Storage is a preallocated ring of `capacity` slots indexed by extended sequence number
modulo capacity, so a packet costs three list stores and no new object.

Playout rules (what the adaptive part does, and why):

* **Start.** With nothing playing, the first packets are held until either the buffer
  holds more than `delay` frames or the oldest has waited more than `delay` ticks; play
  then starts from the lowest sequence number held. `delay` starts at `min_delay_frames`.
* **Loss.** If the frame due is missing but later frames are held, the frame is skipped
  and `get()` returns CONCEALED (`conceal_attempt` tells how many in a row); a copy that
  arrives after that is *late*.
* **Underrun.** If nothing is held, `get()` returns EMPTY and playout stalls without
  skipping. The first packet after the stall decides what it was:
  - marker bit set, or a timestamp jump of at least one frame beyond what the sequence
    gap explains: a new talk spurt after silence/DTX. `delay` shrinks by one frame
    (not below `min_delay_frames`) and the spurt is buffered as at start. Shrinking only
    at a talk-spurt boundary keeps the change inaudible.
  - otherwise the packet was late: `delay` grows by one frame (not above
    `max_delay_frames`) and playout resumes once the start rule holds, counting the
    ticks already stalled, so a long stall resumes at once and the stretch is the delay.
* **Late packets** (arriving after their slot was played or concealed) are dropped,
  counted, and grow `delay` by one frame.
* **Bound.** Playout never runs more than `max_delay_frames` behind the newest packet:
  older frames are discarded (counted) to catch up after a burst.

Counters: received, duplicates, late, lost (skipped and never arrived), reordered
(arrived after a higher sequence number, still in time), overflow (dropped unplayed
because the ring was full), discarded (dropped to honour the max delay, or flushed by a
sequence restart), invalid (rejected by the RFC 3550 A.1 jump check).

Assumption: one packet carries one frame of `frame_samples` (the negotiated ptime equals
the engine tick). SSRC changes are the stream's business: it calls `reset()`.
"""

from __future__ import annotations

from typing import Any

from sems_lite import native

FRAME = 0
CONCEALED = 1
EMPTY = 2

# RFC 3550 A.1: how far a sequence number may jump before it is treated as a restart.
MAX_DROPOUT = 3000
MAX_MISORDER = 100
_SEQ_MOD = 1 << 16
# Extended sequence numbers start one cycle up so that early reordering stays positive.
_EXT_BASE = _SEQ_MOD

_IDLE = 0  # no talk spurt playing: buffering the next one
_PLAYING = 1
_STALLED = 2  # underrun inside a spurt, no packet since
_RESUMING = 3  # underrun, a continuing packet arrived: refilling

_PLAYED = object()  # slot sentinel: this sequence number was played (copies are duplicates)


class JitterBuffer:
    __slots__ = (
        "_bad_seq",
        "_base_ext",
        "_exp_prior",
        "_ext",
        "_fresh",
        "_hold",
        "_jitter16",
        "_last_ext",
        "_last_ts",
        "_max_ext",
        "_pay",
        "_play_ext",
        "_rate",
        "_rx_prior",
        "_stat_received",
        "_state",
        "_transit",
        "_ts",
        "_units_per_8k",
        "capacity",
        "conceal_attempt",
        "delay",
        "discarded",
        "duplicates",
        "frame_samples",
        "invalid",
        "late",
        "lost",
        "max_delay",
        "min_delay",
        "overflow",
        "received",
        "reordered",
    )

    def __init__(
        self,
        frame_samples: int = 160,
        clock_rate: int = 8000,
        min_delay_frames: int = 1,
        max_delay_frames: int = 10,
        capacity: int = 32,
    ) -> None:
        if not 0 <= min_delay_frames <= max_delay_frames < capacity:
            raise ValueError("need 0 <= min_delay_frames <= max_delay_frames < capacity")
        if frame_samples <= 0 or clock_rate <= 0:
            raise ValueError("frame_samples and clock_rate must be positive")
        self.frame_samples = frame_samples
        self._rate = clock_rate
        # Arrival in timestamp units from the arrival in 8 kHz units (integer, so the C
        # of the batched echo computes the same without floating point, which soft-float
        # routers lack in the kernels); other rates convert directly.
        self._units_per_8k = clock_rate // 8000 if clock_rate % 8000 == 0 else 0
        self.min_delay = min_delay_frames
        self.max_delay = max_delay_frames
        self.capacity = capacity
        self.delay = min_delay_frames
        self._ext: list[int] = [-1] * capacity
        self._pay: list[Any] = [None] * capacity
        self._ts: list[int] = [0] * capacity
        self.received = 0
        self.duplicates = 0
        self.late = 0
        self.lost = 0
        self.reordered = 0
        self.overflow = 0
        self.discarded = 0
        self.invalid = 0
        self.conceal_attempt = 0
        self._jitter16 = 0  # RFC 3550 interarrival jitter, timestamp units x 16
        self.reset()

    def reset(self) -> None:
        """Forget buffered frames and sequence state (new SSRC); counters and delay stay."""
        for i in range(self.capacity):
            if self._ext[i] >= 0 and self._pay[i] is not None and self._pay[i] is not _PLAYED:
                self.discarded += 1
            self._ext[i] = -1
            self._pay[i] = None
        self._state = _IDLE
        self._fresh = True
        self._play_ext = 0
        self._max_ext = -1
        self._hold = 0
        self._last_ext = -1
        self._last_ts = 0
        self._bad_seq = -1
        self._transit: int | None = None
        self._base_ext = 0
        self._stat_received = 0
        self._exp_prior = 0
        self._rx_prior = 0
        self.conceal_attempt = 0

    # -- input -----------------------------------------------------------------------

    def put(
        self, seq: int, timestamp: int, payload: bytes, arrival: float, marker: bool = False
    ) -> None:
        """Store one received packet; `arrival` in seconds (monotonic)."""
        self.received += 1
        max_ext = self._max_ext
        if max_ext < 0:
            ext = self._first_packet(seq)
        else:
            udelta = (seq - max_ext) & 0xFFFF
            if udelta < MAX_DROPOUT:
                ext = max_ext + udelta
            elif udelta <= _SEQ_MOD - MAX_MISORDER:
                # A big jump: a restarted sender if the next packet follows it (A.1).
                if seq != self._bad_seq:
                    self._bad_seq = (seq + 1) & 0xFFFF
                    self.invalid += 1
                    return
                self.reset()
                ext = self._first_packet(seq)
                max_ext = -1
            else:
                ext = max_ext - (_SEQ_MOD - udelta)
        self._stat_received += 1
        if ext > max_ext:
            self._max_ext = ext

        # RFC 3550 A.8 interarrival jitter in the RFC's integer form (x 16, modulo 2^32:
        # the 32-bit timestamp may wrap between packets). native/rtp_echo.c does the same.
        transit = (self.arrival_units(arrival) - timestamp) & 0xFFFFFFFF
        if self._transit is not None:
            diff = (transit - self._transit) & 0xFFFFFFFF
            d = diff if diff < 0x80000000 else 0x100000000 - diff
            self._jitter16 += d - ((self._jitter16 + 8) >> 4)
        self._transit = transit

        cap = self.capacity
        i = ext % cap
        play_ext = self._play_ext
        if ext < play_ext:
            if self._fresh and ext > self._max_ext - cap:
                # Reordered ahead of the first packet, before playout began.
                self._play_ext = ext
            else:
                self._too_late(ext, i)
                return
        elif self._ext[i] == ext:
            self.duplicates += 1
            return
        elif ext >= play_ext + cap:
            self._make_room(ext - cap + 1)
        if ext < max_ext:
            self.reordered += 1
        self._ext[i] = ext
        self._pay[i] = payload
        self._ts[i] = timestamp
        if self._state == _STALLED:
            self._after_stall(ext, timestamp, marker)

    def arrival_units(self, arrival: float) -> int:
        """An arrival time (seconds) in timestamp units, modulo 2^32."""
        if self._units_per_8k:
            return (int(arrival * 8000) * self._units_per_8k) & 0xFFFFFFFF
        return int(arrival * self._rate) & 0xFFFFFFFF

    @property
    def jitter(self) -> float:
        """RFC 3550 interarrival jitter, timestamp units."""
        return self._jitter16 / 16

    def _first_packet(self, seq: int) -> int:
        ext = seq + _EXT_BASE
        self._base_ext = ext
        self._play_ext = ext
        self._max_ext = ext
        return ext

    def _too_late(self, ext: int, i: int) -> None:
        if self._ext[i] == ext:
            if self._pay[i] is not None:
                self.duplicates += 1
                return
            # It was concealed: it did arrive after all, just too late.
            self._pay[i] = _PLAYED
            self.lost -= 1
        self.late += 1
        if self.delay < self.max_delay:
            self.delay += 1

    def _make_room(self, new_play: int) -> None:
        """Ring full: drop the oldest unplayed frames so `new_play` becomes the oldest."""
        cap = self.capacity
        e = self._play_ext
        stop = min(new_play, e + cap)
        while e < stop:
            i = e % cap
            if self._ext[i] == e:
                self.overflow += 1
                self._pay[i] = _PLAYED  # it did arrive: later copies are duplicates
            else:
                self.lost += 1
                self._ext[i] = e
                self._pay[i] = None
            e += 1
        self.lost += new_play - stop
        self._play_ext = new_play

    def _after_stall(self, ext: int, timestamp: int, marker: bool) -> None:
        expected = self._last_ts + (ext - self._last_ext) * self.frame_samples
        gap = (timestamp - expected) & 0xFFFFFFFF
        if marker or self.frame_samples <= gap < 0x80000000:
            # Silence ended: a new talk spurt, a free moment to shorten the delay.
            self._state = _IDLE
            self._hold = 0
            if self.delay > self.min_delay:
                self.delay -= 1
        else:
            self._state = _RESUMING
            if self.delay < self.max_delay:
                self.delay += 1

    # -- output ----------------------------------------------------------------------

    def get(self) -> tuple[bytes | None, int]:
        """One tick of playout: (payload, FRAME), (None, CONCEALED) or (None, EMPTY)."""
        state = self._state
        if state != _PLAYING:
            if state != _IDLE:
                self._hold += 1  # a stall counts towards the refill wait
            if self._max_ext < self._play_ext or state == _STALLED:
                return None, EMPTY
            if state == _IDLE:
                self._hold += 1
            if self._hold <= self.delay and self._max_ext - self._play_ext < self.delay:
                return None, EMPTY
            self._start()
        cap = self.capacity
        e = self._play_ext
        if self._max_ext - e > self.max_delay:
            self._catch_up(self._max_ext - self.max_delay)
            e = self._play_ext
        i = e % cap
        if self._ext[i] == e:
            payload = self._pay[i]
            self._pay[i] = _PLAYED
            self._last_ts = self._ts[i]
            self._last_ext = e
            self._play_ext = e + 1
            self.conceal_attempt = 0
            return payload, FRAME
        if self._max_ext > e:
            self._ext[i] = e
            self._pay[i] = None
            self._play_ext = e + 1
            self.lost += 1
            self.conceal_attempt += 1
            return None, CONCEALED
        self._state = _STALLED
        self._hold = 0
        return None, EMPTY

    def _start(self) -> None:
        """Begin (or resume) playout at the lowest frame held; the gap before it is lost."""
        cap = self.capacity
        e = self._play_ext
        while self._ext[e % cap] != e:
            i = e % cap
            self._ext[i] = e
            self._pay[i] = None
            self.lost += 1
            e += 1
        self._play_ext = e
        self._state = _PLAYING
        self._fresh = False
        self._hold = 0

    def _catch_up(self, new_play: int) -> None:
        cap = self.capacity
        e = self._play_ext
        while e < new_play:
            i = e % cap
            if self._ext[i] == e:
                self.discarded += 1
                self._pay[i] = _PLAYED
            else:
                self._ext[i] = e
                self._pay[i] = None
                self.lost += 1
            e += 1
        self._play_ext = new_play

    # -- statistics kept elsewhere for a while (the batched echo, rtp/echo_batch.py) ---

    def reception_state(self) -> tuple[int, int | None, int] | None:
        """(extended highest sequence number, last transit, jitter x 16) to carry on
        from; None before the first packet."""
        if self._max_ext < 0:
            return None
        return self._max_ext, self._transit, self._jitter16

    def absorb(self, received: int, max_ext: int, transit: int | None, jitter16: int) -> None:
        """Take back the statistics of packets accounted elsewhere (in order, each one
        played at once): counts, highest sequence number, A.8 state. Playout resumes
        after the newest of them."""
        if not received:
            return
        self.received += received
        self._stat_received += received
        self._max_ext = max_ext
        self._transit = transit
        self._jitter16 = jitter16
        # They were played as they came: nothing of theirs is held, and a copy that comes
        # again is late.
        self._play_ext = max_ext + 1
        self._fresh = False

    # -- RFC 3550 A.3 reception statistics --------------------------------------------

    @property
    def highest_seq(self) -> int:
        """Extended highest sequence number received (cycles << 16 | seq)."""
        return (self._max_ext - _EXT_BASE) & 0xFFFFFFFF if self._max_ext >= 0 else 0

    @property
    def expected(self) -> int:
        return self._max_ext - self._base_ext + 1 if self._max_ext >= 0 else 0

    @property
    def cumulative_lost(self) -> int:
        """Expected minus received (duplicates count as received, so it may go negative)."""
        lost = self.expected - self._stat_received
        return max(-0x800000, min(0x7FFFFF, lost))

    def reception_report(self) -> tuple[int, int, int, int] | None:
        """(fraction lost, cumulative lost, extended highest seq, jitter) for an RTCP
        report block; starts a new fraction-lost interval. None before any packet."""
        if self._max_ext < 0:
            return None
        expected = self.expected
        expected_interval = expected - self._exp_prior
        received_interval = self._stat_received - self._rx_prior
        self._exp_prior = expected
        self._rx_prior = self._stat_received
        lost_interval = expected_interval - received_interval
        if expected_interval <= 0 or lost_interval <= 0:
            fraction = 0
        else:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        return fraction, self.cumulative_lost, self.highest_seq, self._jitter16 >> 4


def conceal(pcm: bytes, attempt: int) -> bytes:
    """Stand-in for a lost frame: the last decoded 16-bit frame, 6 dB quieter per attempt
    (attempt 1 = -6 dB), and silence from the fourth attempt on."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    if attempt > 3:
        return bytes(len(pcm))
    return native.gain(pcm, 4096 >> attempt)  # Q12: 2048 = -6 dB
