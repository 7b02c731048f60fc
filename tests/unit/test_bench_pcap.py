"""bench/pcapread.py and bench/rtp_timing.py: pcap files built here, byte by byte."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))  # bench/ is no package

from pcapread import PcapError, iter_udp, read_header, udp_of
from rtp_timing import interarrival_stats, rtp_streams

LOOPBACK = bytes([127, 0, 0, 1])


def rtp(seq: int, pt: int = 0, ts: int = 0) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, ts, 0x1234) + bytes(160)


def udp_ipv4(src: int, dst: int, payload: bytes, frag: int = 0) -> bytes:
    udp = struct.pack("!HHHH", src, dst, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, frag, 64, 17, 0,
                     LOOPBACK, LOOPBACK)  # fmt: skip
    return ip + udp


def ethernet(ip: bytes, ethertype: int = 0x0800) -> bytes:
    return bytes(12) + ethertype.to_bytes(2, "big") + ip


def pcap(
    frames: list[tuple[int, bytes]],
    *,
    endian: str = "<",
    ns: bool = True,
    linktype: int = 1,
    snaplen: int = 65535,
) -> bytes:
    magic = 0xA1B23C4D if ns else 0xA1B2C3D4
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)
    for t_ns, frame in frames:
        sec, frac = divmod(t_ns, 1_000_000_000)
        if not ns:
            frac //= 1000
        kept = frame[:snaplen]
        out += struct.pack(endian + "IIII", sec, frac, len(kept), len(frame)) + kept
    return out


T0 = 1_700_000_000 * 1_000_000_000


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("ns", [True, False])
def test_reads_udp_ports_payload_and_time_in_both_orders_and_resolutions(endian, ns):
    data = pcap(
        [(T0 + 1_234_567_000, ethernet(udp_ipv4(20000, 14000, rtp(7))))], endian=endian, ns=ns
    )
    (d,) = list(iter_udp(data))
    assert d.ts_ns == T0 + 1_234_567_000
    assert (d.src_port, d.dst_port) == (20000, 14000)
    assert d.payload == rtp(7)


def test_snap_length_keeps_the_rtp_header_and_skips_the_rest():
    data = pcap([(T0, ethernet(udp_ipv4(1, 2, rtp(9))))], snaplen=64)
    (d,) = list(iter_udp(data))
    assert d.payload == rtp(9)[:22]  # 64 - 14 (Ethernet) - 20 (IPv4) - 8 (UDP)
    assert struct.unpack_from("!H", d.payload, 2)[0] == 9


def test_non_udp_fragments_and_non_ip_are_skipped():
    tcp = bytearray(udp_ipv4(1, 2, b"x"))
    tcp[9] = 6
    frames = [
        (T0, ethernet(bytes(tcp))),
        (T0 + 1, ethernet(udp_ipv4(1, 2, b"frag", frag=0x2000))),  # more-fragments set
        (T0 + 2, ethernet(b"\x00" * 30, ethertype=0x0806)),  # ARP
        (T0 + 3, ethernet(udp_ipv4(5, 6, b"ok"))),
    ]
    assert [(d.src_port, d.payload) for d in iter_udp(pcap(frames))] == [(5, b"ok")]


def test_ipv6_cooked_and_raw_link_types():
    payload = b"hello"
    udp = struct.pack("!HHHH", 40000, 5060, 8 + len(payload), 0) + payload
    ip6 = struct.pack("!IHBB16s16s", 6 << 28, len(udp), 17, 64, bytes(16), bytes(16)) + udp
    sll = bytes(14) + (0x86DD).to_bytes(2, "big") + ip6
    sll2 = (0x86DD).to_bytes(2, "big") + bytes(18) + ip6
    for frame, linktype in ((sll, 113), (sll2, 276), (ip6, 101)):
        (d,) = list(iter_udp(pcap([(T0, frame)], linktype=linktype)))
        assert (d.src_port, d.dst_port, d.payload) == (40000, 5060, payload)
    assert udp_of(ip6, 999) is None  # unknown link type


def test_a_capture_cut_mid_record_yields_the_complete_records():
    data = pcap([(T0, ethernet(udp_ipv4(1, 2, b"a"))), (T0 + 5, ethernet(udp_ipv4(3, 4, b"b")))])
    assert [d.payload for d in iter_udp(data[:-3])] == [b"a"]


def test_not_a_pcap():
    with pytest.raises(PcapError):
        read_header(b"\x0a\x0d\x0d\x0a" + bytes(30))  # pcapng section header
    with pytest.raises(PcapError):
        read_header(b"short")


def _stream(src: int, times_ms: list[float], seqs: list[int] | None = None, pt: int = 0):
    seqs = seqs if seqs is not None else list(range(len(times_ms)))
    return [
        (T0 + round(t * 1e6), ethernet(udp_ipv4(src, 14000, rtp(s & 0xFFFF, pt))))
        for t, s in zip(times_ms, seqs, strict=True)
    ]


def test_interarrival_is_per_stream_and_pooled():
    a = _stream(20000, [0, 20, 40, 60, 80])  # steady: 4 gaps of 20 ms
    b = _stream(20002, [5, 25, 55, 75])  # one 30 ms gap
    frames = sorted(a + b)
    stats = interarrival_stats(rtp_streams(iter_udp(pcap(frames))))
    assert stats["streams"] == 2
    assert stats["packets"] == 9
    assert stats["iat_p50_ms"] == 20.0
    assert stats["iat_max_ms"] == 30.0
    assert stats["iat_p99_ms"] == 30.0  # 7 gaps: nearest rank 99 % is the largest
    assert stats["lost_seq"] == 0


def test_rtcp_other_payload_types_and_the_window_are_left_out():
    frames = _stream(20000, [0, 20, 40, 60, 80, 100])
    rtcp = struct.pack("!BBH", 0x80, 200, 6) + bytes(24)  # a sender report
    frames.append((T0 + 50_000_000, ethernet(udp_ipv4(20001, 14001, rtcp))))
    frames += _stream(20004, [10, 30], pt=101)  # DTMF events
    streams = rtp_streams(
        iter_udp(pcap(sorted(frames))), window_ns=(T0 + 15_000_000, T0 + 85_000_000)
    )
    assert list(streams) == [(20000, 14000)]
    assert list(streams[(20000, 14000)].arrivals) == [T0 + k * 20_000_000 for k in (1, 2, 3, 4)]


def test_sequence_gaps_count_as_lost_and_repeats_as_duplicates():
    frames = _stream(20000, [0, 20, 80, 80.01, 100], seqs=[65534, 65535, 2, 2, 3])
    stats = interarrival_stats(rtp_streams(iter_udp(pcap(frames))))
    assert stats["lost_seq"] == 2  # 0 and 1, across the wrap
    assert stats["duplicates"] == 1
    assert stats["packets"] == 4
    assert stats["iat_max_ms"] == 60.0
