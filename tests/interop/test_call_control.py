"""Call control against the box: CANCEL, hold/resume by re-INVITE, dead-RTP hang-up
(and not while held), and BYE for live calls on SIGTERM."""

from __future__ import annotations

import time

import pytest

from . import _rtp
from ._calls import media_of, rtp_socket, signal_payloads

pytestmark = pytest.mark.interop

# How long after a direction change we allow packets already in flight.
GRACE = 0.1


def test_cancel_before_answer(box, run_sipp):
    """answer_delay 3: 180 first; CANCEL -> 200 (CANCEL) and 487 (INVITE); no late 200."""
    b = box({"app_config": {"echo": {"answer_delay": 3}}})
    with rtp_socket() as sock:
        result = run_sipp("uac_cancel", b.target, keys={"rtp_port": sock.getsockname()[1]})
    logs = result.sipp.logs()
    assert "CANCEL_OK_FIRST" in logs or "CANCEL_OK_LATE" in logs, logs
    assert "487_FIRST" in logs or "487_AFTER" in logs, logs


def _frames_echoed(report: _rtp.EchoReport) -> set[int]:
    return {index for index, _ in report.frames}


def test_hold_resume_inactive(box, start_sipp):
    """re-INVITE sendonly -> recvonly, sendrecv -> sendrecv, inactive -> inactive.

    sipp checks the answers' direction attributes; the test streams RTP all along and
    checks the media follows them: echo before hold, none while held, echo after
    resume, none while inactive.
    """
    b = box()
    seconds = 5.6  # covers 1.0 + 1.5 + 1.2 + 1.0 s of scenario pauses plus re-INVITEs
    with rtp_socket() as sock:
        sipp = start_sipp(
            "uac_hold", b.target, timeout=30, keys={"rtp_port": sock.getsockname()[1]}
        )
        media = media_of(sipp)
        rec = _rtp.stream(sock, media.dest, signal_payloads(seconds), tail=0.1)
    assert sipp.wait().returncode == 0, f"hold/resume signalling failed\n{sipp.describe()}"
    (hold,) = sipp.log_times("HOLD")
    (resuming,) = sipp.log_times("RESUMING")
    (resume,) = sipp.log_times("RESUME")
    (inactive,) = sipp.log_times("INACTIVE")
    report = _rtp.analyse_echo(rec)
    echoed = _frames_echoed(report)

    def sent_between(t0: float, t1: float) -> list[int]:
        return [i for i, t in enumerate(rec.send_wall) if t0 <= t <= t1]

    before = sent_between(rec.send_wall[0], hold - 0.3)
    after_resume = sent_between(resume + GRACE, inactive - 0.3)
    assert before and after_resume, "scenario timing left no frames to check"
    got_before = len(echoed.intersection(before)) / len(before)
    got_resumed = len(echoed.intersection(after_resume)) / len(after_resume)
    assert got_before >= 0.9, f"echo before hold: {got_before:.0%} of frames"
    assert got_resumed >= 0.9, f"echo after resume (sendrecv): {got_resumed:.0%} of frames"

    def rtp_arrivals_between(t0: float, t1: float) -> int:
        # An echo of a frame we sent before t0 was on its way before the direction
        # changed: a busy test process may only read it later, so it is excused.
        in_flight = {wall for index, wall in report.frames if rec.send_wall[index] < t0}
        return sum(1 for a in rec.rtp() if t0 < a.wall < t1 and a.wall not in in_flight)

    # Held from before HOLD (the box answered) until the resume re-INVITE reaches it,
    # which is after RESUMING: the box may send again before sipp logs RESUME.
    held = rtp_arrivals_between(hold, resuming)
    assert held == 0, f"box sent {held} RTP packets while it was recvonly (held)"
    # Nor is what it heard while held sent back after the resume: at most the last three
    # frames (its echo buffer), which the 0.2 s margin before the re-INVITE covers.
    heard_held = set(sent_between(hold, resuming - 0.2))
    late = sorted(heard_held & echoed)
    assert not late, f"frames heard while held were echoed after the resume: {late}"
    silent = rtp_arrivals_between(inactive, rec.send_wall[-1])
    assert silent == 0, f"box sent {silent} RTP packets while the stream was inactive"


def test_dead_rtp_hangs_up_when_no_rtp_ever(box, run_sipp):
    """dead_rtp_timeout 2 and we never send RTP: the box BYEs about 2 s after the ACK."""
    b = box({"rtp": {"dead_rtp_timeout": 2}})
    with rtp_socket() as sock:
        result = run_sipp("uac_wait_bye", b.target, keys={"rtp_port": sock.getsockname()[1]})
    (acked,) = result.sipp.log_times("ACKED")
    (bye,) = result.sipp.log_times("BYE")
    waited = bye - acked
    assert 1.5 <= waited <= 3.5, f"BYE came {waited:.2f} s after the ACK, want ~2-3 s"


def test_dead_rtp_hangs_up_when_rtp_stops(box, start_sipp):
    """RTP flows for 1.5 s (echoed), then stops: BYE about 2 s after the last packet."""
    b = box({"rtp": {"dead_rtp_timeout": 2}})
    with rtp_socket() as sock:
        sipp = start_sipp("uac_wait_bye", b.target, keys={"rtp_port": sock.getsockname()[1]})
        media = media_of(sipp)
        rec = _rtp.stream(sock, media.dest, signal_payloads(1.5), tail=0.1)
    result = sipp.wait()
    assert result.returncode == 0, sipp.describe()
    report = _rtp.analyse_echo(rec)
    assert report.matched >= 0.9 * report.sent, f"no echo while RTP flowed: {report.summary()}"
    (bye,) = sipp.log_times("BYE")
    silence = bye - rec.send_wall[-1]
    assert 1.5 <= silence <= 3.5, f"BYE came {silence:.2f} s after the last RTP, want ~2-3 s"


@pytest.mark.parametrize("direction", ["sendonly", "inactive"])
def test_no_dead_rtp_hangup_while_held(box, run_sipp, direction):
    """Held by us (a=sendonly or a=inactive) and silent for 5 s > dead_rtp_timeout 2:
    the box must keep the call (a BYE from it fails the sipp call), then our BYE gets 200."""
    b = box({"rtp": {"dead_rtp_timeout": 2}})
    with rtp_socket() as sock:
        result = run_sipp(
            "uac_hold_quiet",
            b.target,
            ["-d", "5000"],
            timeout=25,
            keys={"rtp_port": sock.getsockname()[1], "direction": direction},
        )
    answer = {"sendonly": "recvonly", "inactive": "inactive"}[direction]
    assert f"ANSWER {answer} " in result.sipp.logs(), result.sipp.logs()


def test_sigterm_sends_bye_to_live_call(box, start_sipp):
    """SIGTERM with a call up: the box BYEs it (sipp answers 200) and exits 0."""
    b = box()
    with rtp_socket() as sock:
        sipp = start_sipp("uac_wait_bye", b.target, keys={"rtp_port": sock.getsockname()[1]})
        sipp.wait_log(r"ACKED ")
        stopped_at = time.time()
        code = b.stop()
        result = sipp.wait()
    assert code == 0, f"box exit code {code} after SIGTERM"
    assert result.returncode == 0, f"no BYE for the live call\n{sipp.describe()}"
    (bye,) = sipp.log_times("BYE")
    assert bye - stopped_at < 5.0, "BYE took more than 5 s after SIGTERM"
