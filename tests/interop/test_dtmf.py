"""DTMF reaches the app exactly once per key, whichever way it comes: RFC 4733
telephone-events, tones in the audio (Goertzel), or SIP INFO application/dtmf-relay;
also through a relay that loses and reorders packets.

sipp does the SIP (service `dtmf`, routed to tests.interop.apps.dtmf_collect, which
appends "<digit> <ms>" per digit to a file); the test sends the RTP from its own socket.
Digits are read after sipp's BYE, so a late double would still be counted.
"""

from __future__ import annotations

import itertools
import math
import os
import random
import re
import struct
from array import array
from pathlib import Path

import pytest

from . import _audio, _rtp
from ._calls import call_length_ms, media_of, rtp_socket, signal_payloads
from ._relay import PTIME, Impairment, LossyRelay, send_schedule
from ._sipp import scenario_variant

pytestmark = pytest.mark.interop

PT_EVENT = 101  # what the scenarios offer for telephone-event/8000
FRAME = _audio.FRAME
SSRC = 0x0D7F_0D7F
RFC4733_DIGITS = "1234567890*#ABCD"
INBAND_DIGITS = "159#*0"
EVENTS = "0123456789*#ABCD"  # RFC 4733 §3.2 event codes 0..15
EVENT_FRAMES = 5  # 100 ms per digit
GAP_FRAMES = 3  # 60 ms of audio between digits
END_PACKETS = 3  # RFC 4733 §2.5.1.4: the end packet goes three times
LEAD_FRAMES = 10
TAIL_FRAMES = 10
# Seeds checked (by the assertions on Impairment.preview below) to lose and reorder
# event and tone packets without losing every packet of any digit.
RFC4733_SEED = 11
INBAND_SEED = 7

DTMF_LOG_RX = re.compile(r"call \S+: DTMF (\S) \((\d+) ms\)")


def collect_config(out: Path) -> dict:
    return {
        "apps": {"dtmf": "tests.interop.apps.dtmf_collect"},
        "routing": [{"user": "dtmf", "app": "dtmf"}],
        "app_config": {"dtmf": {"out": str(out)}},
    }


def read_digits(out: Path) -> list[tuple[str, int]]:
    """(digit, duration_ms) lines the app wrote, in order."""
    if not out.exists():
        return []
    pairs = []
    for line in out.read_text().splitlines():
        digit, ms = line.split()
        pairs.append((digit, int(ms)))
    return pairs


def logged_digits(box_log: str) -> list[tuple[str, int]]:
    return [(m.group(1), int(m.group(2))) for m in DTMF_LOG_RX.finditer(box_log)]


# --- RFC 4733 ----------------------------------------------------------------------------


def event_payload(digit: str, end: bool, duration: int, volume: int = 10) -> bytes:
    """RFC 4733 §2.3: event, E|R|volume, duration (timestamp units)."""
    return struct.pack("!BBH", EVENTS.index(digit), (0x80 if end else 0) | volume, duration)


def rfc4733_schedule(digits: str) -> tuple[list[list[bytes]], list[tuple[str, int, str]]]:
    """Slots of 20 ms: audio, then per digit an event, then a gap of audio.

    An event (RFC 4733 §2.5.1): one timestamp (the first sample it covers) for all its
    packets, the first with the marker bit, one update per 20 ms with the duration so
    far, the last update with the E bit, sent three times (the repeats go out with the
    gap's audio). No audio is sent for the samples the event covers; audio resumes at
    the timestamp after it. Sequence numbers run on across audio and events.

    Returns (slots, labels); labels[i] describes the i-th packet sent: ("audio", -1, "")
    or ("event", digit_index, "start"/"update"/"end").
    """
    audio = signal_payloads((LEAD_FRAMES + TAIL_FRAMES + len(digits) * GAP_FRAMES) * PTIME)
    audio_iter = iter(audio)
    slots: list[list[bytes]] = []
    labels: list[tuple[str, int, str]] = []
    seq = 1000
    ts = 80_000
    talk_start = True

    def packet(pt: int, stamp: int, payload: bytes, marker: bool) -> bytes:
        nonlocal seq
        data = _rtp.pack_rtp(pt, seq, stamp, SSRC, payload, marker)
        seq += 1
        return data

    def audio_slot(slot: list[bytes]) -> None:
        nonlocal ts, talk_start
        slot.append(packet(_rtp.PT_PCMU, ts, next(audio_iter), talk_start))
        labels.append(("audio", -1, ""))
        ts += FRAME
        talk_start = False

    for _ in range(LEAD_FRAMES):
        slot: list[bytes] = []
        audio_slot(slot)
        slots.append(slot)
    for d, digit in enumerate(digits):
        event_ts = ts
        for j in range(EVENT_FRAMES):
            end = j == EVENT_FRAMES - 1
            payload = event_payload(digit, end, (j + 1) * FRAME)
            slots.append([packet(PT_EVENT, event_ts, payload, j == 0)])
            labels.append(("event", d, "start" if j == 0 else "end" if end else "update"))
        duration = EVENT_FRAMES * FRAME
        ts += duration
        talk_start = True  # RFC 3550: the audio after the event starts a new talk spurt
        for g in range(GAP_FRAMES):
            slot = []
            if g < END_PACKETS - 1:
                slot.append(packet(PT_EVENT, event_ts, event_payload(digit, True, duration), False))
                labels.append(("event", d, "end"))
            audio_slot(slot)
            slots.append(slot)
    for _ in range(TAIL_FRAMES):
        slot = []
        audio_slot(slot)
        slots.append(slot)
    return slots, labels


def test_rfc4733_schedule_shape():
    """The schedule itself follows RFC 4733 (checked by parsing the packets back)."""
    slots, labels = rfc4733_schedule("1#")
    packets = [_rtp.unpack_rtp(p) for slot in slots for p in slot]
    assert len(packets) == len(labels)
    events = [p for p in packets if p.pt == PT_EVENT]
    assert len(events) == 2 * (EVENT_FRAMES + END_PACKETS - 1)
    first = events[: EVENT_FRAMES + END_PACKETS - 1]
    assert {p.ts for p in first} == {first[0].ts}
    assert [p.marker for p in first] == [True] + [False] * (len(first) - 1)
    fields = [struct.unpack("!BBH", p.payload) for p in first]
    assert [f[0] for f in fields] == [1] * len(first)
    assert [f[2] for f in fields] == [160, 320, 480, 640, 800, 800, 800]
    assert [bool(f[1] & 0x80) for f in fields] == [False] * 4 + [True] * 3
    assert struct.unpack("!BBH", events[-1].payload)[0] == 11  # '#'
    seqs = [p.seq for p in packets]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    # Audio resumes at the first timestamp after the event.
    after = packets[packets.index(first[4]) + 2]
    assert after.pt == _rtp.PT_PCMU and after.ts == first[0].ts + 800 and after.marker


def _digits_call(box, start_sipp, tmp_path, slots, *, scenario="uac_echo_call", relay_seed=None):
    """Place a call to the collector, send the slots (directly or through the relay);
    return (digits from the app, digits from the box log, relay or None)."""
    out = tmp_path / "digits.txt"
    b = box(collect_config(out))
    seconds = len(slots) * PTIME
    relay = None
    with rtp_socket() as sock:
        sipp = start_sipp(
            scenario,
            b.target,
            ["-d", str(call_length_ms(seconds))],
            keys={"rtp_port": sock.getsockname()[1]},
            service="dtmf",
        )
        media = media_of(sipp)
        assert _rtp.PT_PCMU in media.fmts, f"answer does not accept PCMU: {media}"
        if scenario == "uac_echo_call":
            assert PT_EVENT in media.fmts, f"answer lacks telephone-event {PT_EVENT}: {media}"
        else:
            assert PT_EVENT not in media.fmts, f"answer has an event PT it was not offered: {media}"
        if relay_seed is None:
            send_schedule(sock, media.dest, slots)
        else:
            with LossyRelay(media.dest, relay_seed) as relay:
                send_schedule(sock, relay.address, slots)
    result = sipp.wait()
    assert result.returncode == 0, f"sipp call failed\n{sipp.describe()}"
    return read_digits(out), logged_digits(b.log()), relay


def test_rfc4733_digits_exact(box, start_sipp, tmp_path):
    slots, _ = rfc4733_schedule(RFC4733_DIGITS)
    got, logged, _ = _digits_call(box, start_sipp, tmp_path, slots)
    sent = RFC4733_DIGITS
    assert "".join(d for d, _ in got) == sent, f"sent {sent!r}, app got {got}"
    # The end packets say 800 samples: 100 ms.
    assert [ms for _, ms in got] == [100] * len(sent), f"durations: {got}"
    assert logged == got, f"box log {logged} differs from what the app got {got}"


def _rfc4733_loss_plan(labels: list[tuple[str, int, str]], seed: int) -> Impairment:
    plan = Impairment.preview(len(labels), seed)
    lost = set(plan.dropped)
    per_digit: dict[int, list[int]] = {}
    for i, (kind, d, _) in enumerate(labels):
        if kind == "event":
            per_digit.setdefault(d, []).append(i)
    # Recoverable: every digit keeps at least one packet.
    for d, idx in per_digit.items():
        assert not set(idx) <= lost, f"seed {seed} drops every packet of digit {d}"
    # And the run does exercise the hard cases.
    lost_labels = [labels[i] for i in plan.dropped]
    assert any(k == "event" and role == "start" for k, _, role in lost_labels), lost_labels
    assert any(k == "event" and role == "end" for k, _, role in lost_labels), lost_labels
    assert any(labels[i][0] == "event" for i in plan.delayed), "no event packet reordered"
    assert any(labels[i][0] == "audio" for i in plan.delayed), "no audio packet reordered"
    return plan


def test_rfc4733_digits_exact_through_lossy_relay(box, start_sipp, tmp_path):
    slots, labels = rfc4733_schedule(RFC4733_DIGITS)
    plan = _rfc4733_loss_plan(labels, RFC4733_SEED)
    got, logged, relay = _digits_call(box, start_sipp, tmp_path, slots, relay_seed=RFC4733_SEED)
    imp = relay.impairment
    assert imp.dropped == plan.dropped, "the relay did not impair as planned"
    assert imp.delayed == plan.delayed
    lost = [(i, labels[i]) for i in imp.dropped]
    sent = RFC4733_DIGITS
    assert "".join(d for d, _ in got) == sent, f"sent {sent!r}, app got {got}; dropped {lost}"
    assert all(0 < ms <= 100 for _, ms in got), f"durations: {got}"
    assert logged == got


# --- SIP INFO -------------------------------------------------------------------------------


def test_sip_info_dtmf_relay(box, start_sipp, tmp_path):
    out = tmp_path / "digits.txt"
    b = box(collect_config(out))
    with rtp_socket() as sock:
        sipp = start_sipp(
            "dtmf_info", b.target, keys={"rtp_port": sock.getsockname()[1]}, service="dtmf"
        )
        result = sipp.wait()
    assert result.returncode == 0, f"sipp call failed\n{sipp.describe()}"
    assert re.findall(r"^INFO_200 (\S)", sipp.logs(), re.M) == ["7", "#"]
    got = read_digits(out)
    assert got == [("7", 160), ("#", 160)], f"app got {got}"
    assert logged_digits(b.log()) == got


# --- in-band tones --------------------------------------------------------------------------

ROWS = (697, 770, 852, 941)  # ITU-T Q.23
COLS = (1209, 1336, 1477, 1633)
KEYPAD = ("123A", "456B", "789C", "*0#D")
# A full-scale sine in µ-law is +3.17 dBm0 (G.711); 32124 is its peak in 16-bit linear.
DBM0_PEAK = 32124 / 10 ** (3.17 / 20)
TONE_LEVEL_DBM0 = -10.0
TONE_FRAMES = 5  # 100 ms on
PAUSE_FRAMES = 5  # 100 ms off


def tone_frequencies(digit: str) -> tuple[int, int]:
    for r, row in enumerate(KEYPAD):
        if digit in row:
            return ROWS[r], COLS[row.index(digit)]
    raise ValueError(digit)


def inband_signal(digits: str, seed: int = 23) -> tuple[bytes, list[str]]:
    """Linear 8 kHz: quiet noise, then per digit 100 ms of its two tones (-10 dBm0 each)
    and 100 ms of quiet; returns (pcm, per-frame label: the digit or '')."""
    rng = random.Random(seed)
    amp = DBM0_PEAK * 10 ** (TONE_LEVEL_DBM0 / 20)
    samples = array("h")
    labels: list[str] = []

    def quiet(frames: int) -> None:
        samples.extend(int(rng.gauss(0, 8)) for _ in range(frames * FRAME))
        labels.extend([""] * frames)

    quiet(LEAD_FRAMES)
    for digit in digits:
        lo, hi = tone_frequencies(digit)
        for n in range(TONE_FRAMES * FRAME):
            t = n / _audio.RATE
            v = amp * (math.sin(2 * math.pi * lo * t) + math.sin(2 * math.pi * hi * t))
            samples.append(int(v + rng.gauss(0, 8)))
        labels.extend([digit] * TONE_FRAMES)
        quiet(PAUSE_FRAMES)
    quiet(TAIL_FRAMES)
    return samples.tobytes(), labels


def inband_schedule(digits: str) -> tuple[list[list[bytes]], list[str]]:
    pcm, labels = inband_signal(digits)
    payloads = _audio.frames(_audio.to_ulaw(pcm), FRAME)
    slots = [
        [_rtp.pack_rtp(_rtp.PT_PCMU, 3000 + i, 40_000 + i * FRAME, SSRC, p, i == 0)]
        for i, p in enumerate(payloads)
    ]
    return slots, labels


def test_inband_signal_level_and_tones():
    """The generated tones have the intended level and frequencies (Goertzel in-test)."""
    pcm, labels = inband_signal("5")
    first = labels.index("5")
    tone = pcm[first * FRAME * 2 : (first + TONE_FRAMES) * FRAME * 2]
    # Two equal tones at -10 dBm0: total RMS is 3 dB above one tone's.
    one_tone_rms = DBM0_PEAK * 10 ** (TONE_LEVEL_DBM0 / 20) / math.sqrt(2)
    assert abs(_audio.rms(tone) - one_tone_rms * math.sqrt(2)) < 0.02 * one_tone_rms
    x = array("h", tone)

    def power(freq: float) -> float:
        c = 2 * math.cos(2 * math.pi * freq / _audio.RATE)
        s1 = s2 = 0.0
        for v in x:
            s1, s2 = v + c * s1 - s2, s1
        return s1 * s1 + s2 * s2 - c * s1 * s2

    strong = min(power(770), power(1336))
    assert all(power(f) < strong / 100 for f in (*ROWS, *COLS) if f not in (770, 1336))


def test_inband_digits_exact(box, start_sipp, tmp_path):
    slots, _ = inband_schedule(INBAND_DIGITS)
    got, logged, _ = _digits_call(box, start_sipp, tmp_path, slots, scenario="dtmf_call_no_te")
    assert "".join(d for d, _ in got) == INBAND_DIGITS, f"sent {INBAND_DIGITS!r}, app got {got}"
    # 100 ms tones: the detector measures with block granularity; allow a block or two.
    assert all(60 <= ms <= 140 for _, ms in got), f"durations: {got}"
    assert logged == got


def test_inband_digits_exact_through_lossy_relay(box, start_sipp, tmp_path):
    slots, labels = inband_schedule(INBAND_DIGITS)
    plan = Impairment.preview(len(slots), INBAND_SEED)
    # The run must hit tones with both loss and reordering, and stay within what a
    # jitter buffer that conceals single losses is meant to handle.
    assert any(labels[i] for i in plan.dropped), "no tone frame dropped"
    assert any(labels[i] for i in plan.delayed), "no tone frame reordered"
    drops = sorted(plan.dropped)
    assert all(b - a > 1 for a, b in itertools.pairwise(drops)), f"two losses in a row: {drops}"
    got, logged, relay = _digits_call(
        box, start_sipp, tmp_path, slots, scenario="dtmf_call_no_te", relay_seed=INBAND_SEED
    )
    assert relay.impairment.dropped == plan.dropped
    lost = [(i, labels[i] or "quiet") for i in relay.impairment.dropped]
    assert "".join(d for d, _ in got) == INBAND_DIGITS, (
        f"sent {INBAND_DIGITS!r}, app got {got}; dropped frames {lost}"
    )
    assert logged == got


# --- sipp's own RFC 2833 captures -----------------------------------------------------------

SIPP_PCAPS = Path("/usr/share/sip-tester")


def test_sipp_plays_its_rfc2833_captures(box, start_sipp, tmp_path):
    """sipp itself sends telephone-event: its shipped captures for 1, 5 and 9 (pcap play
    needs raw sockets, so root)."""
    if not (SIPP_PCAPS / "dtmf_2833_1.pcap").is_file():
        pytest.skip(f"sipp's DTMF captures are not in {SIPP_PCAPS}")
    if os.geteuid() != 0:
        pytest.skip("sipp's pcap play needs raw sockets (root)")
    out = tmp_path / "digits.txt"
    b = box(collect_config(out))
    # sipp does not expand keywords in exec attributes: write the folder into a copy.
    scenario = scenario_variant("dtmf_sipp_pcap", tmp_path, {"[pcap_dir]": str(SIPP_PCAPS)})
    sipp = start_sipp(scenario, b.target, service="dtmf")
    result = sipp.wait()
    assert result.returncode == 0, f"sipp call failed\n{sipp.describe()}"
    got = [digit for digit, _ms in read_digits(out)]
    assert got == ["1", "5", "9"], f"app got {got}\n{b.log()[-3000:]}"
