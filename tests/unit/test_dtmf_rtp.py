"""RFC 4733 telephone-events: payload codec, receiver and sender."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sems_lite.rtp.dtmf import (
    EVENTS,
    TelephoneEventReceiver,
    TelephoneEventSender,
    build_event,
    parse_event,
)

TS = 0x12345678


def ev(event: int, duration: int, end: bool = False, volume: int = 10) -> bytes:
    return build_event(event, end, volume, duration)


def feed(rx: TelephoneEventReceiver, packets: list[tuple[bytes, int]], t0: float = 0.0) -> list:
    """Feed (payload, timestamp) pairs 20 ms apart; collect what comes out."""
    out = []
    for i, (payload, ts) in enumerate(packets):
        got = rx.packet(payload, ts, False, t0 + i * 0.02)
        if got is not None:
            out.append(got)
    return out


def digit_packets(event: int, ts: int, frames: int = 5, step: int = 160) -> list[tuple[bytes, int]]:
    """Updates every `step` samples, then the end packet three times."""
    updates = [(ev(event, step * i), ts) for i in range(1, frames)]
    return updates + [(ev(event, step * frames, end=True), ts)] * 3


# --- payload codec ---------------------------------------------------------------------


def test_payload_layout() -> None:
    # Event 5, E bit, R bit 0, volume 10, duration 800 (0x0320).
    assert build_event(5, True, 10, 800) == bytes([0x05, 0x8A, 0x03, 0x20])
    assert build_event(11, False, 63, 0xFFFF) == bytes([0x0B, 0x3F, 0xFF, 0xFF])
    assert parse_event(bytes([0x05, 0x8A, 0x03, 0x20])) == (5, True, 10, 800)
    # The R bit is ignored; bytes after the first block are too.
    assert parse_event(bytes([0x01, 0x4A, 0x00, 0xA0, 0xFF])) == (1, False, 10, 160)


@pytest.mark.parametrize("payload", [b"", b"\x01", b"\x01\x0a\x00"])
def test_parse_short_payload(payload: bytes) -> None:
    with pytest.raises(ValueError, match="too short"):
        parse_event(payload)


@pytest.mark.parametrize(
    ("event", "volume", "duration"), [(256, 10, 0), (-1, 10, 0), (1, 64, 0), (1, 10, 0x10000)]
)
def test_build_rejects_out_of_range(event: int, volume: int, duration: int) -> None:
    with pytest.raises(ValueError):
        build_event(event, False, volume, duration)


@given(st.integers(0, 255), st.booleans(), st.integers(0, 63), st.integers(0, 0xFFFF))
def test_payload_round_trip(event: int, end: bool, volume: int, duration: int) -> None:
    assert parse_event(build_event(event, end, volume, duration)) == (event, end, volume, duration)


# --- receiver --------------------------------------------------------------------------


def test_single_digit_with_three_end_packets_reports_once() -> None:
    rx = TelephoneEventReceiver()
    packets = digit_packets(5, TS)
    results = [rx.packet(p, ts, i == 0, i * 0.02) for i, (p, ts) in enumerate(packets)]
    # Reported exactly at the first end packet, not before, not again.
    assert results[:4] == [None] * 4
    assert results[4] == ("5", 100)
    assert results[5:] == [None, None]
    assert rx.expire(10.0) is None


def test_same_digit_twice_is_two_events() -> None:
    rx = TelephoneEventReceiver()
    packets = digit_packets(7, TS) + digit_packets(7, TS + 1440)
    assert feed(rx, packets) == [("7", 100), ("7", 100)]


def test_retransmitted_start_is_not_a_new_digit() -> None:
    rx = TelephoneEventReceiver()
    start = ev(3, 160)
    packets = [(start, TS), (start, TS), (ev(3, 320), TS), (start, TS)]
    packets += [(ev(3, 480, end=True), TS)] * 3
    assert feed(rx, packets) == [("3", 60)]


def test_lost_start_packets() -> None:
    rx = TelephoneEventReceiver()
    packets = digit_packets(9, TS)[2:]  # the first two updates never arrive
    assert feed(rx, packets) == [("9", 100)]


def test_only_end_packets() -> None:
    rx = TelephoneEventReceiver()
    assert feed(rx, [(ev(0, 800, end=True), TS)] * 3) == [("0", 100)]
    # And only a single one of them.
    rx = TelephoneEventReceiver()
    assert feed(rx, [(ev(12, 400, end=True), TS)]) == [("A", 50)]


def test_reordered_updates_and_late_packets_after_the_end() -> None:
    rx = TelephoneEventReceiver()
    packets = [
        (ev(2, 160), TS),
        (ev(2, 480), TS),
        (ev(2, 320), TS),  # overtaken: must not shrink the duration
        (ev(2, 640, end=True), TS),
        (ev(2, 480), TS),  # a late update after the end
        (ev(2, 640, end=True), TS),
    ]
    assert feed(rx, packets) == [("2", 80)]


def test_late_packet_of_previous_event_after_next_one_began() -> None:
    rx = TelephoneEventReceiver()
    packets = [
        (ev(1, 160), TS),
        (ev(1, 320, end=True), TS),
        (ev(4, 160), TS + 1000),
        (ev(1, 320, end=True), TS),  # the previous event's redundant end, delayed
        (ev(1, 160), TS),  # and an even older update
        (ev(4, 320, end=True), TS + 1000),
    ]
    assert feed(rx, packets) == [("1", 40), ("4", 40)]


def test_duration_at_16000_hz() -> None:
    rx = TelephoneEventReceiver(16000)
    assert feed(rx, digit_packets(8, TS, frames=6, step=320)) == [("8", 120)]
    rx8 = TelephoneEventReceiver(8000)
    assert feed(rx8, digit_packets(8, TS, frames=6, step=320)) == [("8", 240)]


def test_duration_taken_from_the_end_packet() -> None:
    rx = TelephoneEventReceiver()
    # Updates say 160, the end packet says 1000 samples: 125 ms.
    assert feed(rx, [(ev(6, 160), TS), (ev(6, 1000, end=True), TS)]) == [("6", 125)]


def test_expiry_without_end() -> None:
    rx = TelephoneEventReceiver()
    assert rx.packet(ev(11, 160), TS, True, 1.0) is None
    assert rx.packet(ev(11, 320), TS, False, 1.02) is None
    assert rx.expire(1.3) is None  # not yet stale
    assert rx.expire(1.52) == ("#", 40)
    assert rx.expire(5.0) is None  # once only
    # The end packets arriving now are late: no second report.
    assert rx.packet(ev(11, 480, end=True), TS, False, 5.1) is None


def test_expiry_timeout_is_a_parameter() -> None:
    rx = TelephoneEventReceiver()
    rx.packet(ev(1, 160), TS, True, 0.0)
    assert rx.expire(0.1, timeout=0.2) is None
    assert rx.expire(0.2, timeout=0.2) == ("1", 20)


def test_new_event_ends_one_whose_end_was_lost() -> None:
    rx = TelephoneEventReceiver()
    assert rx.packet(ev(1, 160), TS, True, 0.0) is None
    assert rx.packet(ev(1, 320), TS, False, 0.02) is None
    # The next digit starts before any end packet of '1' arrived.
    assert rx.packet(ev(2, 160), TS + 800, True, 0.1) == ("1", 40)
    assert rx.packet(ev(2, 320, end=True), TS + 800, False, 0.12) == ("2", 40)


def test_two_events_finished_by_one_packet_both_come_out_in_order() -> None:
    rx = TelephoneEventReceiver()
    rx.packet(ev(1, 160), TS, True, 0.0)
    # Only an end packet of the next event: it finishes '1' and itself.
    assert rx.packet(ev(2, 400, end=True), TS + 800, False, 0.1) == ("1", 20)
    assert rx.packet(ev(2, 400, end=True), TS + 800, False, 0.12) == ("2", 50)
    assert rx.expire(9.0) is None

    rx = TelephoneEventReceiver()
    rx.packet(ev(1, 160), TS, True, 0.0)
    rx.packet(ev(2, 400, end=True), TS + 800, False, 0.1)
    assert rx.expire(0.11) == ("2", 50)  # expire() hands out the held one too
    assert rx.expire(9.0) is None


def test_timestamp_wraparound() -> None:
    rx = TelephoneEventReceiver()
    first, second = 0xFFFFFF00, 0x00000200  # the second event is after the wrap
    packets = digit_packets(1, first) + digit_packets(2, second) + [(ev(1, 160), first)]
    assert feed(rx, packets) == [("1", 100), ("2", 100)]


def test_long_event_segments_are_one_digit() -> None:
    rx = TelephoneEventReceiver()
    packets = [(ev(0, 0x8000), TS), (ev(0, 0xFFFF), TS)]
    seg2 = (TS + 0xFFFF) & 0xFFFFFFFF
    packets += [(ev(0, 800), seg2), (ev(0, 0xFFFF), TS)]  # plus a late segment-1 packet
    packets += [(ev(0, 1600, end=True), seg2)] * 3
    assert feed(rx, packets) == [("0", (0xFFFF + 1600) * 1000 // 8000)]


def test_flash_and_unknown_events_are_not_digits() -> None:
    rx = TelephoneEventReceiver()
    packets = [(ev(16, 800, end=True), TS), (ev(17, 800, end=True), TS + 2000)]
    packets += [(ev(200, 800, end=True), TS + 4000)]
    assert feed(rx, packets) == []
    assert rx.expire(100.0) is None
    # The receiver still works afterwards.
    assert feed(rx, digit_packets(4, TS + 6000)) == [("4", 100)]


def test_short_payloads_are_ignored() -> None:
    rx = TelephoneEventReceiver()
    for bad in (b"", b"\x05", b"\x05\x8a\x03"):
        assert rx.packet(bad, TS, True, 0.0) is None
    assert rx.expire(100.0) is None


def test_reset_accepts_a_restarted_timestamp() -> None:
    rx = TelephoneEventReceiver()
    assert feed(rx, digit_packets(1, TS)) == [("1", 100)]
    # A new SSRC may start just behind the old timestamps: without reset it looks late.
    assert feed(rx, digit_packets(2, TS - 5000)) == []
    rx.reset()
    assert feed(rx, digit_packets(2, TS - 5000)) == [("2", 100)]


def test_memoryview_payload() -> None:
    rx = TelephoneEventReceiver()
    buf = bytearray(b"\x00" * 12 + ev(13, 800, end=True))
    assert rx.packet(memoryview(buf)[12:], TS, True, 0.0) == ("B", 100)


@given(
    st.lists(
        st.tuples(
            st.binary(max_size=8),
            st.integers(0, 2**32 - 1),
            st.booleans(),
            st.floats(0, 1e6, allow_nan=False),
        ),
        max_size=60,
    )
)
def test_random_payloads_never_raise(packets: list[tuple[bytes, int, bool, float]]) -> None:
    rx = TelephoneEventReceiver()
    for payload, ts, marker, now in packets:
        got = rx.packet(payload, ts, marker, now)
        assert got is None or (got[0] in EVENTS and got[1] >= 0)
        got = rx.expire(now)
        assert got is None or got[0] in EVENTS


@given(
    st.lists(
        st.tuples(st.integers(0, 15), st.integers(1, 12)),
        min_size=1,
        max_size=8,
    ),
    st.randoms(use_true_random=False),
)
def test_each_event_reported_once_under_duplication_and_shuffle(
    events: list[tuple[int, int]], rnd
) -> None:
    """Events far apart in time; within each, packets are duplicated and shuffled."""
    rx = TelephoneEventReceiver()
    out = []
    now = 0.0
    ts = TS
    for code, frames in events:
        packets = digit_packets(code, ts, frames=frames)
        packets = packets + rnd.sample(packets, k=len(packets) // 2)
        rnd.shuffle(packets)
        for payload, t in packets:
            got = rx.packet(payload, t, False, now)
            if got:
                out.append(got)
            now += 0.02
        ts += frames * 160 + 800
    assert out == [(EVENTS[code], frames * 20) for code, frames in events]


# --- sender ----------------------------------------------------------------------------


def test_sender_packet_sequence_golden() -> None:
    tx = TelephoneEventSender(8000, 160, volume=10)
    assert not tx.active
    tx.start("1", 100)
    assert tx.active
    packets = [tx.next_packet() for _ in range(7)]
    # RFC 4733 §2.5 style: the same timestamp throughout, marker on the first packet,
    # the duration growing by one frame per packet, the final packet sent three times.
    assert packets == [
        (bytes.fromhex("010a00a0"), True, 0),
        (bytes.fromhex("010a0140"), False, 0),
        (bytes.fromhex("010a01e0"), False, 0),
        (bytes.fromhex("010a0280"), False, 0),
        (bytes.fromhex("018a0320"), False, 0),
        (bytes.fromhex("018a0320"), False, 0),
        (bytes.fromhex("018a0320"), False, 0),
    ]
    # Then two silent gap ticks (40 ms), then idle.
    assert tx.active
    assert tx.next_packet() is None
    assert tx.active
    assert tx.next_packet() is None
    assert not tx.active
    assert tx.next_packet() is None


def test_sender_queues_digits_with_a_gap() -> None:
    tx = TelephoneEventSender(8000, 160)
    tx.start("2", 60)
    tx.start("#", 40)  # appended while active
    ticks = []
    while tx.active:
        ticks.append(tx.next_packet())
    # '2': 3 frames + 2 redundant ends; 2 gap ticks; '#': 2 frames + 2 ends; 2 gap ticks.
    assert [t is None for t in ticks] == [False] * 5 + [True] * 2 + [False] * 4 + [True] * 2
    first, second = ticks[0], ticks[7]
    assert first is not None and second is not None
    assert first[1] and second[1]  # a marker on each event's first packet
    assert second[2] == 7 * 160  # the second event starts on its own tick
    assert parse_event(second[0])[0] == 11
    # The first event ends at 480 samples; the second starts 640 samples (80 ms) later.
    assert second[2] - 3 * 160 >= 40 * 8


def test_sender_clock_restarts_for_a_new_burst() -> None:
    tx = TelephoneEventSender()
    tx.start("5")
    while tx.active:
        tx.next_packet()
    tx.start("6")
    packet = tx.next_packet()
    assert packet is not None and packet[1] and packet[2] == 0


def test_sender_digit_shorter_than_a_frame_and_rounding() -> None:
    tx = TelephoneEventSender(8000, 160)
    tx.start("a", 5)  # lower case accepted; rounded up to one frame
    first = tx.next_packet()
    assert first == (build_event(12, True, 10, 160), True, 0)
    assert tx.next_packet() == (build_event(12, True, 10, 160), False, 0)
    tx = TelephoneEventSender(8000, 160)
    tx.start("0", 50)  # 400 samples -> 3 frames (480)
    payloads = [tx.next_packet() for _ in range(5)]
    assert [parse_event(p[0])[3] for p in payloads if p] == [160, 320, 480, 480, 480]


def test_sender_caps_duration_to_one_segment() -> None:
    tx = TelephoneEventSender(8000, 160)
    tx.start("9", 60_000)
    durations = []
    while (p := tx.next_packet()) is not None:
        durations.append(parse_event(p[0])[3])
    assert max(durations) == (0xFFFF // 160) * 160


@pytest.mark.parametrize("bad", ["", "E", "12", "x", "+"])
def test_sender_rejects_non_digits(bad: str) -> None:
    with pytest.raises(ValueError):
        TelephoneEventSender().start(bad)


def test_sender_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        TelephoneEventSender(volume=64)
    with pytest.raises(ValueError):
        TelephoneEventSender(frame_samples=0)
    with pytest.raises(ValueError):
        TelephoneEventSender(clock_rate=0)
    with pytest.raises(ValueError):
        TelephoneEventSender().start("1", -1)


@pytest.mark.parametrize(("rate", "frame"), [(8000, 160), (16000, 320), (8000, 80)])
def test_round_trip_all_digits(rate: int, frame: int) -> None:
    tx = TelephoneEventSender(rate, frame)
    rx = TelephoneEventReceiver(rate)
    for digit in EVENTS:
        tx.start(digit, 100)
    base = 0xFFFFF000  # wraps during the run
    tick_ms = frame * 1000 // rate
    got = []
    tick = 0
    while tx.active:
        packet = tx.next_packet()
        if packet is not None:
            payload, marker, offset = packet
            result = rx.packet(payload, (base + offset) & 0xFFFFFFFF, marker, tick * tick_ms / 1000)
            if result is not None:
                got.append(result)
        tick += 1
    assert got == [(digit, 100) for digit in EVENTS]
    assert rx.expire(1e6) is None
