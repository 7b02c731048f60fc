"""Inter-arrival statistics of captured RTP streams (the caller's view of the box's timing).

A stream is one (source port, destination port) pair. Only RTP version 2 packets of the
wanted payload type count (RTCP from the odd port and DTMF events are left out). Inside
the window, each stream's consecutive arrivals give one inter-arrival each; all streams
are pooled for the percentiles, as the SEMS anchor in issue 5 was measured.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable

from common import percentile
from pcapread import Datagram

RTP_VERSION = 2


class Stream:
    """Arrival times (ns) and sequence numbers of one stream, in capture order."""

    __slots__ = ("arrivals", "duplicates", "seqs")

    def __init__(self) -> None:
        self.arrivals = array("q")
        self.seqs = array("H")
        self.duplicates = 0


def rtp_streams(
    datagrams: Iterable[Datagram],
    payload_type: int = 0,
    window_ns: tuple[int, int] | None = None,
) -> dict[tuple[int, int], Stream]:
    """Group RTP packets of `payload_type` by (src port, dst port), within the window
    [start, end] of capture times when one is given."""
    streams: dict[tuple[int, int], Stream] = {}
    lo, hi = window_ns if window_ns is not None else (-1, 1 << 62)
    for d in datagrams:
        p = d.payload
        if len(p) < 4 or p[0] >> 6 != RTP_VERSION or p[1] & 0x7F != payload_type:
            continue
        if not lo <= d.ts_ns <= hi:
            continue
        key = (d.src_port, d.dst_port)
        s = streams.get(key)
        if s is None:
            s = streams[key] = Stream()
        seq = (p[2] << 8) | p[3]
        if s.seqs and s.seqs[-1] == seq:
            s.duplicates += 1  # the same packet seen twice (a capture on both directions)
            continue
        s.arrivals.append(d.ts_ns)
        s.seqs.append(seq)
    return streams


def interarrival_stats(streams: dict[tuple[int, int], Stream]) -> dict[str, float | int]:
    """Pooled inter-arrival p50/p99/max (ms) and packet accounting over all streams."""
    gaps: list[int] = []
    packets = lost = duplicates = 0
    for s in streams.values():
        a, seqs = s.arrivals, s.seqs
        packets += len(a)
        duplicates += s.duplicates
        gaps.extend(a[i] - a[i - 1] for i in range(1, len(a)))
        for i in range(1, len(seqs)):
            step = (seqs[i] - seqs[i - 1]) & 0xFFFF
            if 1 < step < 0x8000:  # a forward jump: packets missing in between
                lost += step - 1
    gaps.sort()

    def ms(q: float) -> float:
        return round(percentile(gaps, q) / 1e6, 3)

    return {
        "streams": len(streams),
        "packets": packets,
        "lost_seq": lost,
        "duplicates": duplicates,
        "iat_p50_ms": ms(50),
        "iat_p99_ms": ms(99),
        "iat_max_ms": ms(100),
    }
