"""Self-tests of the interop helpers (no box, no sipp): the judges must be right before
their verdicts on the box mean anything."""

from __future__ import annotations

import random

import pytest

from . import _audio, _rtp, _sip
from ._torture import _VIA, classify, load_cases, rewrite_top_via, torture_dir


# --- RTP pack/unpack ---------------------------------------------------------------
def test_rtp_roundtrip_plain():
    pkt = _rtp.pack_rtp(0, 65535, 0xDEADBEEF, 0x12345678, b"\x01" * 160, marker=True)
    got = _rtp.unpack_rtp(pkt)
    assert got == _rtp.RtpPacket(0, 65535, 0xDEADBEEF, 0x12345678, True, b"\x01" * 160)


def test_rtp_unpack_skips_csrc_extension_padding():
    header = bytes([0x80 | 0x20 | 0x10 | 2, 8]) + (7).to_bytes(2, "big")
    header += (1000).to_bytes(4, "big") + (42).to_bytes(4, "big")
    csrcs = (1).to_bytes(4, "big") + (2).to_bytes(4, "big")
    extension = b"\xbe\xde" + (1).to_bytes(2, "big") + b"\x00\x00\x00\x00"
    payload = b"abc"
    padding = b"\x00\x00\x03"
    got = _rtp.unpack_rtp(header + csrcs + extension + payload + padding)
    assert got is not None
    assert (got.pt, got.seq, got.ts, got.ssrc, got.payload) == (8, 7, 1000, 42, b"abc")


def test_rtp_unpack_rejects_non_rtp():
    assert _rtp.unpack_rtp(b"\x00" * 12) is None  # version 0
    assert _rtp.unpack_rtp(b"\x80\x00") is None  # too short


# --- echo analysis -----------------------------------------------------------------
def _record(delay_ms: float, *, drop=(), recut: int = 0, noise: int = 0) -> _rtp.StreamRecord:
    """A synthetic run: 100 frames sent every 20 ms, echoed after delay_ms."""
    payloads = _audio.frames(_audio.to_ulaw(_audio.make_signal(2.0)), _audio.FRAME)
    rec = _rtp.StreamRecord()
    stream = b"".join(payloads)
    rng = random.Random(1)
    for i, p in enumerate(payloads):
        rec.send_mono.append(i * 0.02)
        rec.send_wall.append(1000 + i * 0.02)
        rec.payloads.append(p)
        if i in drop or (recut and i == 0):
            continue
        echo = stream[i * 160 - recut : (i + 1) * 160 - recut] if recut else p
        if noise:
            lin = bytearray(_audio.from_ulaw(echo))
            vals = memoryview(lin).cast("h")
            for k in range(len(vals)):
                vals[k] = max(-32768, min(32767, vals[k] + rng.randint(-noise, noise)))
            echo = _audio.to_ulaw(bytes(lin))
        pkt = _rtp.unpack_rtp(_rtp.pack_rtp(0, 100 + i, i * 160, 99, echo))
        t = i * 0.02 + delay_ms / 1000
        rec.arrivals.append(_rtp.Arrival(t, 1000 + t, ("127.0.0.1", 1), pkt, b""))
    return rec


def _problems(rec: _rtp.StreamRecord) -> list[str]:
    from ._calls import echo_problems

    return echo_problems(_rtp.analyse_echo(rec))


def test_analysis_accepts_a_perfect_echo():
    report = _rtp.analyse_echo(_record(15.0))
    assert report.matched == report.sent == 100
    assert report.median_ms == pytest.approx(15.0)
    assert report.correlation > 0.9999
    assert not _problems(_record(15.0))


def test_analysis_flags_late_echo():
    problems = _problems(_record(65.0))
    assert any("too late" in p for p in problems)


def test_analysis_flags_lost_frames():
    problems = _problems(_record(10.0, drop=set(range(20, 40))))
    assert any("came back" in p for p in problems)


def test_analysis_flags_distortion():
    problems = _problems(_record(10.0, noise=4000))
    assert any("differs" in p for p in problems)


def test_analysis_matches_recut_frames_by_content():
    # Echo frames shifted by half a frame: matched by fit; the newest sample it carries
    # was sent in frame i, so the delay is measured from that frame.
    report = _rtp.analyse_echo(_record(30.0, recut=80))
    assert report.matched >= 95
    assert report.median_ms == pytest.approx(30.0, abs=0.01)


# --- SIP parsing used by the tests -------------------------------------------------
def test_sip_parse_folding_and_compact_forms():
    raw = (
        b"SIP/2.0 200 OK\r\nv: SIP/2.0/UDP 127.0.0.1:5;branch=z9hG4bKx\r\n"
        b"Allow: INVITE, ACK,\r\n BYE\r\nk: timer\r\ni: abc\r\nCSeq: 7 OPTIONS\r\n"
        b"l: 3\r\n\r\nxyzTRAILING"
    )
    msg = _sip.parse(raw)
    assert msg.status == 200
    assert msg.method == "OPTIONS"
    assert msg.tokens("allow") == {"INVITE", "ACK", "BYE"}
    assert msg.header("supported") == "timer"
    assert msg.header("call-id") == "abc"
    assert msg.body == b"xyz"


def test_tag_and_uri_helpers():
    assert _sip.tag_of('"A" <sip:a@b;tag=zz>;tag=abc;x=1') == "abc"
    assert _sip.uri_of('"A" <sip:a@b;lr>;tag=abc') == "sip:a@b;lr"


# --- RFC 4475 handling --------------------------------------------------------------
def test_classify_wording():
    assert classify("invalid: 400").codes == {400}
    assert classify("invalid: 400 (or tolerate)").tolerate
    assert classify("420 with Unsupported").header == "Unsupported"
    assert classify("valid (unknown method: 405/501)").codes == {405, 501}
    assert classify("invalid response: drop").kind == "drop"
    assert classify("valid: first message only, rest ignored").single
    assert 483 in classify("valid for a UAS (483 only when forwarding)").forbidden
    with pytest.raises(ValueError):
        classify("maybe")


def test_expectation_verdicts():
    assert classify("invalid: 400").check([400], True) is None
    assert classify("invalid: 400").check([404], True) is not None
    assert classify("invalid: 400").check([], True) == "no final response"
    assert classify("valid: handle").check([404], True) is None
    assert classify("valid: handle").check([400], True) is not None
    assert classify("415 with Accept").check([415], False) is not None
    assert classify("response: drop, never sent on").check([200], True) is not None


@pytest.fixture(scope="module")
def cases():
    folder = torture_dir()
    if folder is None:
        pytest.skip("RFC 4475 messages not found")
    return load_cases(folder)


def test_readme_lists_all_49_messages(cases):
    assert len(cases) == 49
    assert len({c.name for c in cases}) == 49


def test_via_rewrite_changes_only_the_sent_by(cases):
    ours = "127.0.0.1:54321"
    for case in cases:
        new, count = rewrite_top_via(case.data, ours)
        assert count == (2 if case.name == "dblreq.dat" else 1), case.name
        if count != 1:
            continue
        old_m = _VIA.search(case.data)
        new_m = _VIA.search(new)
        assert old_m and new_m, case.name
        assert new_m.group("sentby").decode() == ours, case.name
        a, b = old_m.span("sentby")
        assert new[:a] == case.data[:a], case.name
        assert new[a + len(ours) :] == case.data[b:], case.name
