"""RTCP: golden bytes, round trips, bad input, NTP helpers, intervals and the session."""

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sems_lite.rtp.jitter import JitterBuffer
from sems_lite.rtp.rtcp import (
    NTP_UNIX_OFFSET,
    Bye,
    ReceiverReport,
    ReportBlock,
    RtcpError,
    RtcpSession,
    RtcpUnknown,
    SdesChunk,
    SenderReport,
    SourceDescription,
    build_rr_sdes,
    build_sr_sdes,
    is_rtcp,
    ntp_from_unix,
    ntp_middle32,
    ntp_to_unix,
    parse_compound,
    rtcp_interval,
    serialize_compound,
)

# Worked out by hand from RFC 3550 §6.4.1 and §6.5.
GOLDEN_SR = bytes.fromhex(
    "81c8000c"  # V=2 P=0 RC=1, PT=200, length 12 words (52 octets)
    "11223344"  # sender SSRC
    "e123456789abcdef"  # NTP timestamp
    "00001000"  # RTP timestamp
    "00000005"  # packet count
    "00000320"  # octet count (800)
    "aabbccdd"  # report block: source SSRC
    "40ffffff"  # fraction lost 64/256, cumulative lost -1 (24-bit two's complement)
    "00010005"  # extended highest sequence: cycle 1, seq 5
    "0000000c"  # jitter 12
    "45678901"  # LSR
    "00020000"  # DLSR: 2 s
)
GOLDEN_SDES = bytes.fromhex(
    "81ca0003"  # V=2 SC=1, PT=202, length 3 words
    "11223344"
    "01026162"  # CNAME, 2 octets, "ab"
    "00000000"  # end of list, padded to 32 bits
)
BLOCK = ReportBlock(0xAABBCCDD, 0x40, -1, 0x00010005, 12, 0x45678901, 0x00020000)


def test_golden_sender_report_with_sdes():
    data = build_sr_sdes(0x11223344, 0xE123456789ABCDEF, 0x1000, 5, 800, b"ab", (BLOCK,))
    assert data == GOLDEN_SR + GOLDEN_SDES
    sr, sdes = parse_compound(data)
    assert sr == SenderReport(0x11223344, 0xE123456789ABCDEF, 0x1000, 5, 800, (BLOCK,))
    assert sdes.chunks[0].cname == b"ab"


def test_receiver_report_with_sdes_round_trips():
    data = build_rr_sdes(7, b"me@host", (BLOCK, BLOCK))
    assert data[:2] == b"\x82\xc9"
    assert parse_compound(data) == [
        ReceiverReport(7, (BLOCK, BLOCK)),
        SourceDescription((SdesChunk(7, ((1, b"me@host"),)),)),
    ]


@pytest.mark.parametrize(
    ("lost", "wire"),
    [(-1, "ffffff"), (1, "000001"), (0x7FFFFF, "7fffff"), (-0x800000, "800000"), (0, "000000")],
)
def test_cumulative_lost_is_24_bit_signed(lost, wire):
    block = ReportBlock(1, 0, lost, 0, 0, 0, 0)
    raw = block.serialize()
    assert raw[5:8].hex() == wire
    assert ReportBlock.parse_from(raw, 0).cumulative_lost == lost


@pytest.mark.parametrize("lost", [0x800000, -0x800001])
def test_cumulative_lost_out_of_range_is_refused(lost):
    with pytest.raises(RtcpError):
        ReportBlock(1, 0, lost, 0, 0, 0, 0).serialize()


def test_bye_with_reason_and_padding():
    bye = Bye((1, 2), b"bye!")
    raw = bye.serialize()
    assert len(raw) % 4 == 0
    assert raw[:4] == bytes.fromhex("82cb0004")  # 2 SSRCs + 1 + 4 octets, padded to 16
    assert parse_compound(raw) == [bye]


def test_unknown_packet_type_is_kept():
    app = RtcpUnknown(204, 3, b"nameDATA")
    assert parse_compound(build_rr_sdes(1, b"x") + app.serialize())[-1] == app


def test_padding_bit_strips_padding():
    body = bytes.fromhex("00000007") + bytes(3) + b"\x04"  # SSRC, then 4 octets of padding
    raw = bytes.fromhex("a0c90002") + body
    assert parse_compound(raw) == [ReceiverReport(7)]


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"", "short"),
        (bytes.fromhex("80c8"), "short"),
        (bytes.fromhex("40c9000100000001"), "version"),
        (bytes.fromhex("80c9000200000001"), "length"),
        (bytes.fromhex("81c9000100000001"), "report count"),
        (bytes.fromhex("a0c9000100000000"), "padding"),
        (bytes.fromhex("a0c9000100000009"), "padding"),
        (bytes.fromhex("81ca000200000001010a6162"), "SDES item"),
        (bytes.fromhex("81ca000200000001"), "SDES chunk"),
        (bytes.fromhex("81ca00020000000101026162"), "SDES terminator"),
        (bytes.fromhex("81ca0003000000010000000000000001"), "SDES trailing"),
        (bytes.fromhex("82cb000100000001"), "BYE count"),
        (bytes.fromhex("81cb00020000000109616263"), "BYE reason"),
        (GOLDEN_SR + b"\x80", "trailing header"),
    ],
)
def test_bad_input_raises_rtcp_error(raw, why):
    with pytest.raises(RtcpError):
        parse_compound(raw)


def test_sdes_empty_chunk_and_multiple_items():
    sdes = SourceDescription(
        (SdesChunk(1), SdesChunk(2, ((1, b"abc"), (2, b"name"), (8, b"")))),
    )
    raw = sdes.serialize()
    assert len(raw) % 4 == 0
    assert parse_compound(raw) == [sdes]


def test_serialize_refuses_fields_that_do_not_fit():
    with pytest.raises(RtcpError):
        ReceiverReport(1, (BLOCK,) * 32).serialize()
    with pytest.raises(RtcpError):
        SdesChunk(1, ((1, b"x" * 256),)).serialize()
    with pytest.raises(RtcpError):
        ReceiverReport(1, extension=b"abc").serialize()
    with pytest.raises(RtcpError):
        SenderReport(1 << 32, 0, 0, 0, 0).serialize()


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        (b"\x80\xc8", True),  # SR
        (b"\x81\xc9", True),  # RR
        (b"\x80\xc0", True),  # 192, lowest RTCP type
        (b"\x80\xdf", True),  # 223, highest
        (b"\x80\x00", False),  # RTP PCMU
        (b"\x80\x80", False),  # RTP PCMU with marker
        (b"\x80\xe0", False),  # RTP PT 96 with marker
        (b"\x80\x65", False),  # RTP PT 101
        (b"\x80", False),
    ],
)
def test_is_rtcp_by_packet_type(first, expected):
    assert is_rtcp(first) is expected


def test_ntp_helpers():
    assert ntp_from_unix(0.0) == NTP_UNIX_OFFSET << 32
    assert ntp_from_unix(1.5) == ((NTP_UNIX_OFFSET + 1) << 32) | 0x80000000
    t = 1_700_000_000.25
    assert ntp_to_unix(ntp_from_unix(t)) == pytest.approx(t, abs=1e-6)
    assert ntp_middle32(0x1122334455667788) == 0x33445566
    # After 2036 the seconds field wraps; era 1 is told by its clear top bit.
    after_2036 = 2**32 - NTP_UNIX_OFFSET + 100.0
    assert ntp_from_unix(after_2036) >> 32 == 100
    assert ntp_to_unix(ntp_from_unix(after_2036)) == pytest.approx(after_2036)


def test_interval_minimum_and_randomisation():
    args = {"members": 2, "senders": 2, "rtcp_bw": 500.0, "we_sent": True, "avg_rtcp_size": 100}
    assert rtcp_interval(**args, initial=False, rand=0.0) == 2.5
    assert rtcp_interval(**args, initial=False, rand=0.5) == 5.0
    assert rtcp_interval(**args, initial=False, rand=0.999) == pytest.approx(7.495)
    assert rtcp_interval(**args, initial=True, rand=0.5) == 2.5


def test_interval_grows_with_a_large_session():
    # 1000 members, 1 sender (us): senders get a quarter of 500 B/s, n = 1 -> 0.8 s -> 5 s.
    assert rtcp_interval(1000, 1, 500.0, True, 100, False, 0.5) == 5.0
    # A receiver shares the other three quarters with 999 others: 100*999/375 = 266.4 s.
    assert rtcp_interval(1000, 1, 500.0, False, 100, False, 0.5) == pytest.approx(266.4)


class Seq:
    """A deterministic stand-in for random.random."""

    def __init__(self, value: float = 0.5) -> None:
        self.value = value

    def __call__(self) -> float:
        return self.value


def test_session_schedules_first_report_at_half_the_minimum():
    s = RtcpSession(1, "a@b", random=Seq(0.5))
    assert s.poll(10.0, 0.0, 0, 0, 0) is None
    assert s.next_send == pytest.approx(12.5)
    assert s.poll(12.0, 0.0, 0, 0, 0) is None
    data = s.poll(12.5, 0.0, 0, 0, 0)
    rr, sdes = parse_compound(data)
    assert isinstance(rr, ReceiverReport) and rr.reports == ()
    assert sdes.chunks[0].cname == b"a@b"
    assert s.next_send == pytest.approx(17.5)


def test_session_sends_sr_while_sending_then_rr_after_two_quiet_intervals():
    s = RtcpSession(1, "a", random=Seq(0.5))
    s.poll(0.0, 0.0, 0, 0, 0)
    first = parse_compound(s.poll(2.5, 1000.0, 100, 16000, 4242))[0]
    assert first == SenderReport(1, ntp_from_unix(1000.0), 4242, 100, 16000)
    assert isinstance(parse_compound(s.poll(7.5, 0, 200, 32000, 0))[0], SenderReport)
    assert isinstance(parse_compound(s.poll(12.5, 0, 200, 32000, 0))[0], SenderReport)
    assert isinstance(parse_compound(s.poll(17.5, 0, 200, 32000, 0))[0], ReceiverReport)


def test_report_block_comes_from_the_jitter_buffer():
    jb = JitterBuffer()
    for seq in range(10):
        if seq != 4:
            jb.put(seq, seq * 160, b"x", seq * 0.02)
    s = RtcpSession(1, "a", random=Seq(0.5))
    (rr, _) = parse_compound(s.build(5.0, 0.0, 0, 0, 0, jb, remote_ssrc=99))
    (block,) = rr.reports
    assert (block.ssrc, block.fraction_lost, block.cumulative_lost) == (99, 25, 1)
    assert block.highest_seq == 9
    assert (block.lsr, block.dlsr) == (0, 0)  # no SR received yet


def test_round_trip_time_from_lsr_and_dlsr():
    alice = RtcpSession(0xA, "alice", random=Seq(0.5))
    bob = RtcpSession(0xB, "bob", random=Seq(0.5))
    jb = JitterBuffer()
    jb.put(0, 0, b"x", 0.0)
    # Alice sends an SR at t=10 (monotonic); it takes 50 ms to reach Bob.
    sr = alice.build(10.0, 1_700_000_000.0, 50, 8000, 8000)
    bob.receive(sr, 10.05)
    assert bob.remote_ssrc == 0xA
    # Bob reports 0.95 s later; it takes 50 ms back.
    rr = bob.build(11.0, 1_700_000_001.0, 0, 0, 0, jb, remote_ssrc=0xA)
    block = parse_compound(rr)[0].reports[0]
    assert block.lsr == ntp_middle32(ntp_from_unix(1_700_000_000.0))
    assert block.dlsr == int(0.95 * 65536)
    alice.receive(rr, 11.05)
    assert alice.rtt == pytest.approx(0.1, abs=1e-4)


def test_report_for_an_unknown_sr_does_not_set_rtt():
    alice = RtcpSession(0xA, "alice")
    alice.receive(ReceiverReport(0xB, (ReportBlock(0xA, 0, 0, 0, 0, 1234, 10),)).serialize(), 1.0)
    assert alice.rtt is None
    assert alice.remote_ssrc == 0xB


def test_bye_closes_the_session():
    s = RtcpSession(5, "a", random=Seq(0.5))
    s.poll(0.0, 0.0, 0, 0, 0)
    data = s.bye(1.0, 0.0, 3, 480, 0, reason=b"done")
    packets = parse_compound(data)
    assert packets[-1] == Bye((5,), b"done")
    assert isinstance(packets[0], SenderReport)
    assert s.poll(100.0, 0.0, 3, 480, 0) is None
    peer = RtcpSession(6, "b")
    peer.remote_ssrc = 5
    peer.receive(data, 1.1)
    assert peer.remote_bye


# -- properties --------------------------------------------------------------------

u32 = st.integers(0, 0xFFFFFFFF)
blocks = st.builds(
    ReportBlock,
    u32,
    st.integers(0, 255),
    st.integers(-0x800000, 0x7FFFFF),
    u32,
    u32,
    u32,
    u32,
)
block_lists = st.lists(blocks, max_size=31).map(tuple)
ext = st.binary(max_size=12).map(lambda b: b[: len(b) // 4 * 4])
items = st.tuples(st.integers(1, 255), st.binary(max_size=20))
chunks = st.builds(SdesChunk, u32, st.lists(items, max_size=4).map(tuple))
packets = st.one_of(
    st.builds(SenderReport, u32, st.integers(0, 2**64 - 1), u32, u32, u32, block_lists, ext),
    st.builds(ReceiverReport, u32, block_lists, ext),
    st.builds(SourceDescription, st.lists(chunks, max_size=5).map(tuple)),
    st.builds(Bye, st.lists(u32, max_size=31).map(tuple), st.binary(max_size=255)),
    st.builds(
        RtcpUnknown,
        st.integers(204, 223),
        st.integers(0, 31),
        st.binary(max_size=16).map(lambda b: b[: len(b) // 4 * 4]),
    ),
)


@settings(deadline=None, max_examples=300)
@given(st.lists(packets, min_size=1, max_size=4))
def test_parse_of_serialize_is_identity(compound):
    assert parse_compound(serialize_compound(compound)) == compound


@settings(deadline=None, max_examples=500)
@given(st.binary(max_size=200))
def test_fuzz_random_bytes_only_raise_rtcp_error(data):
    with contextlib.suppress(RtcpError):
        parse_compound(data)


@settings(deadline=None, max_examples=500)
@given(
    st.lists(packets, min_size=1, max_size=3),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
    st.integers(0, 10_000),
)
def test_fuzz_mutated_packets_only_raise_rtcp_error(compound, flips, cut):
    data = bytearray(serialize_compound(compound))
    for pos, value in flips:
        data[pos % len(data)] = value
    with contextlib.suppress(RtcpError):
        parse_compound(bytes(data[: max(1, cut % (len(data) + 1))]))
