"""RFC 4733 telephone-events (DTMF in RTP): payload codec, receiver and sender, sans-IO.

Rules kept here:
- The payload is event (8 bits), E|R|volume (1+1+6 bits), duration (16 bits, in RTP
  timestamp units), network order (RFC 4733 §2.3). Extra bytes after the first four are
  ignored; the R bit is ignored on receive and sent as 0.
- An event is identified by its RTP timestamp (§2.5.1.3): packets with the same timestamp
  update the same event, a new timestamp starts a new event, even for the same digit.
- The receiver reports each event once: at its first end packet, when a newer event
  begins, or on `expire()` once its packets stop. Late packets (older timestamps, updates
  after the end) are dropped. Long events split into 0xFFFF-sample segments (§2.5.2.3)
  are joined back into one digit.
- Only events 0..15 are digits; 16 (flash) is accepted on the wire but never reported.
- Nothing here reads a clock or a socket: times come in as `now`, packets go out as bytes.
"""

from __future__ import annotations

import struct
from collections import deque

__all__ = [
    "EVENTS",
    "FLASH",
    "TelephoneEventReceiver",
    "TelephoneEventSender",
    "build_event",
    "parse_event",
]

EVENTS = "0123456789*#ABCD"  # event codes 0..15 (RFC 4733 §3.2)
FLASH = 16

_EVENT = struct.Struct("!BBH")
_END = 0x80
_MAX_DURATION = 0xFFFF
_TS_MASK = 0xFFFFFFFF
# A timestamp at most this far behind the current event is a late packet, not a new
# event: three long-event segments, far beyond any jitter.
_LATE_WINDOW = 3 * 0x10000
_MAX_READY = 8  # bound on reports waiting to be handed out (two can finish at once)
_END_PACKETS = 3  # §2.5.1.4: the end packet is sent three times
_GAP_MS = 40  # silence between queued digits


def parse_event(payload: bytes | bytearray | memoryview) -> tuple[int, bool, int, int]:
    """(event, end, volume, duration) from a telephone-event payload; ValueError if short.

    This is the wire format only: event codes above 16 (RFC 4733 lets other registries
    use them) are returned as they are.
    """
    if len(payload) < _EVENT.size:
        raise ValueError(f"telephone-event payload too short: {len(payload)} bytes")
    event, flags, duration = _EVENT.unpack_from(payload)
    return event, bool(flags & _END), flags & 0x3F, duration


def build_event(event: int, end: bool, volume: int, duration: int) -> bytes:
    """The 4-byte payload; ValueError when a field does not fit its bits."""
    if not 0 <= event <= 0xFF:
        raise ValueError(f"event code {event} out of range 0..255")
    if not 0 <= volume <= 0x3F:
        raise ValueError(f"volume {volume} out of range 0..63")
    if not 0 <= duration <= _MAX_DURATION:
        raise ValueError(f"duration {duration} out of range 0..65535")
    return _EVENT.pack(event, (_END if end else 0) | volume, duration)


class TelephoneEventReceiver:
    """Turns a stream of telephone-event payloads into (digit, duration_ms), once each."""

    __slots__ = ("_base", "_duration", "_ended", "_event", "_last", "_rate", "_ready", "_ts")

    def __init__(self, clock_rate: int = 8000) -> None:
        if clock_rate <= 0:
            raise ValueError(f"clock rate must be positive, not {clock_rate}")
        self._rate = clock_rate
        self._ready: list[tuple[str, int]] = []
        self.reset()

    def reset(self) -> None:
        """Forget the current event (call on a new SSRC: its timestamps start afresh)."""
        self._ts = -1  # timestamp of the current (or last) event; -1 for none yet
        self._event = 0
        self._duration = 0  # longest duration seen in the current segment, in samples
        self._base = 0  # samples in the earlier segments of a long event
        self._ended = True
        self._last = 0.0

    def packet(
        self, payload: bytes | bytearray | memoryview, timestamp: int, marker: bool, now: float
    ) -> tuple[str, int] | None:
        """Feed one telephone-event payload; a finished event comes back as (digit, ms).

        The marker bit is not needed: the timestamp alone tells events apart, and a lost
        first packet must not lose the digit. If one packet finishes two events (the
        previous one without an end bit, and this one), the second comes from the next
        `packet()` or `expire()` call.
        """
        if len(payload) >= _EVENT.size:
            event, flags, duration = _EVENT.unpack_from(payload)
            if event < FLASH:
                self._feed(event, flags & _END, duration, timestamp & _TS_MASK, now)
        ready = self._ready
        return ready.pop(0) if ready else None

    @property
    def idle(self) -> bool:
        """No event in progress and none waiting to be reported."""
        return self._ended and not self._ready

    def expire(self, now: float, timeout: float = 0.5) -> tuple[str, int] | None:
        """Report an event whose packets stopped `timeout` seconds ago without an end bit."""
        ready = self._ready
        if not ready and not self._ended and now - self._last >= timeout:
            self._finish()
        return ready.pop(0) if ready else None

    def _feed(self, event: int, end: int, duration: int, ts: int, now: float) -> None:
        current = self._ts
        if current >= 0:
            if ts == current:
                if self._ended or event != self._event:
                    return  # a redundant end, a late update, or a conflicting event
                self._last = now
                if duration > self._duration:
                    self._duration = duration
                if end:
                    self._finish()
                return
            if (current - ts) & _TS_MASK <= _LATE_WINDOW:
                return  # from an event before the current one
            if not self._ended:
                if event == self._event and (ts - current) & _TS_MASK == _MAX_DURATION:
                    # The next segment of a long event starts where the last one ended.
                    self._base += _MAX_DURATION
                    self._ts = ts
                    self._duration = duration
                    self._last = now
                    if end:
                        self._finish()
                    return
                self._finish()  # its end packets were lost; a new event ends it
        self._ts = ts
        self._event = event
        self._duration = duration
        self._base = 0
        self._ended = False
        self._last = now
        if end:
            self._finish()

    def _finish(self) -> None:
        self._ended = True
        if len(self._ready) < _MAX_READY:
            ms = (self._base + self._duration) * 1000 // self._rate
            self._ready.append((EVENTS[self._event], ms))


class TelephoneEventSender:
    """Makes the telephone-event packets for queued digits, one call per media tick.

    `next_packet()` returns (payload, marker, timestamp_offset). The offset is the event's
    start in samples, counted from the first tick of the current burst: the sender's clock
    restarts at 0 when `start()` is called on an idle sender and advances `frame_samples`
    per `next_packet()` call, so the stream adds its own timestamp of that first tick.
    Keep calling while `active` is True: between digits and after the last one it returns
    None for the gap ticks.
    """

    __slots__ = (
        "_clock",
        "_ends",
        "_event",
        "_frame",
        "_frames",
        "_gap",
        "_gap_ticks",
        "_max_frames",
        "_queue",
        "_rate",
        "_sent",
        "_start",
        "_volume",
    )

    def __init__(self, clock_rate: int = 8000, frame_samples: int = 160, volume: int = 10) -> None:
        if clock_rate <= 0:
            raise ValueError(f"clock rate must be positive, not {clock_rate}")
        if not 0 < frame_samples <= _MAX_DURATION:
            raise ValueError(f"frame_samples {frame_samples} out of range 1..65535")
        if not 0 <= volume <= 0x3F:
            raise ValueError(f"volume {volume} out of range 0..63 (-dBm0)")
        self._rate = clock_rate
        self._frame = frame_samples
        self._volume = volume
        self._gap_ticks = -(-clock_rate * _GAP_MS // (1000 * frame_samples))  # ceil
        # Longer digits are cut to one segment rather than split (§2.5.2.3).
        self._max_frames = _MAX_DURATION // frame_samples
        self._queue: deque[tuple[int, int]] = deque()
        self._event = -1  # code being sent; -1 between events
        self._frames = 0
        self._sent = 0
        self._ends = 0
        self._start = 0
        self._gap = 0
        self._clock = 0

    @property
    def active(self) -> bool:
        """True while a digit is being sent, queued, or its trailing gap is running."""
        return self._event >= 0 or self._gap > 0 or bool(self._queue)

    def start(self, digit: str, duration_ms: int = 100) -> None:
        """Queue one digit (0-9 * # A-D, case-insensitive) of at least one frame."""
        code = EVENTS.find(digit.upper()) if len(digit) == 1 else -1
        if code < 0:
            raise ValueError(f"not a DTMF digit: {digit!r}")
        if duration_ms < 0:
            raise ValueError(f"negative DTMF duration: {duration_ms}")
        samples = duration_ms * self._rate // 1000
        frames = min(max(1, -(-samples // self._frame)), self._max_frames)
        if not self.active:
            self._clock = 0
        self._queue.append((code, frames))

    def next_packet(self) -> tuple[bytes, bool, int] | None:
        """The packet for this tick, or None (idle or in the gap between digits)."""
        if self._event < 0:
            if self._gap > 0:
                self._gap -= 1
                self._clock += self._frame
                return None
            if not self._queue:
                return None
            self._event, self._frames = self._queue.popleft()
            self._start = self._clock
            self._sent = 0
            self._ends = 0
        if self._sent < self._frames:
            self._sent += 1
        marker = self._sent == 1 and self._ends == 0
        end = self._sent == self._frames
        if end:
            self._ends += 1
        payload = build_event(self._event, end, self._volume, self._sent * self._frame)
        start = self._start
        self._clock += self._frame
        if self._ends == _END_PACKETS:
            self._event = -1
            self._gap = self._gap_ticks
        return payload, marker, start
