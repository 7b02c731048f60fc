"""Echo calls end to end: sipp places the call, the test streams a known signal and
checks the audio that comes back (fidelity, delay, symmetric RTP), over UDP, TCP, IPv6
and with a late offer."""

from __future__ import annotations

import pytest

from . import _rtp
from ._calls import (
    call_length_ms,
    echo_problems,
    media_of,
    rtp_socket,
    sdp_line,
    signal_payloads,
)

pytestmark = pytest.mark.interop

SIGNAL_SECONDS = 3.0


def _echo_call(box, start_sipp, *, host="127.0.0.1", extra_args=(), seconds=SIGNAL_SECONDS):
    """Place an echo call, stream the signal from a test socket, return (report, sipp)."""
    with rtp_socket(host) as sock:
        sipp = start_sipp(
            "uac_echo_call",
            box.target,
            ["-d", str(call_length_ms(seconds)), *extra_args],
            keys={"rtp_port": sock.getsockname()[1]},
        )
        media = media_of(sipp)
        assert _rtp.PT_PCMU in media.fmts, f"answer does not accept PCMU: {media}"
        rec = _rtp.stream(sock, media.dest, signal_payloads(seconds))
    result = sipp.wait()
    assert result.returncode == 0, f"sipp call failed\n{sipp.describe()}"
    report = _rtp.analyse_echo(rec)
    print(report.summary())
    return report, sipp


def test_echo_fidelity_udp(box, start_sipp):
    b = box()
    report, sipp = _echo_call(b, start_sipp)
    answer = sdp_line(sipp, "SDP")
    assert answer, sipp.describe()
    problems = echo_problems(report)
    assert not problems, f"{report.summary()}\n" + "\n".join(problems)


def test_echo_goes_to_rtp_source_not_sdp_port(box, start_sipp):
    """Symmetric RTP (RFC 4961): the box answers to where our packets come from.

    The SDP names a decoy socket; we send from another one. The echo must arrive at the
    sending socket; nothing of our signal may go to the decoy.
    """
    b = box()
    with rtp_socket() as decoy, rtp_socket() as sender:
        sipp = start_sipp(
            "uac_echo_call",
            b.target,
            ["-d", str(call_length_ms(2.0))],
            keys={"rtp_port": decoy.getsockname()[1]},
        )
        media = media_of(sipp)
        decoy_rec = _rtp.StreamRecord()
        rec = _rtp.stream(sender, media.dest, signal_payloads(2.0))
        _rtp.listen(decoy, 0.05, decoy_rec)
    assert sipp.wait().returncode == 0, sipp.describe()
    report = _rtp.analyse_echo(rec)
    problems = echo_problems(report)
    assert not problems, f"echo at the sending socket: {report.summary()}\n" + "\n".join(problems)
    # Audio at the decoy would mean the box ignored the packets' source address.
    decoy_rec.payloads = rec.payloads
    leaked = _rtp.analyse_echo(decoy_rec)
    assert leaked.matched == 0, f"{leaked.matched} echoed frames went to the SDP port instead"


def test_echo_over_tcp(box, start_sipp):
    """SIP over TCP (sipp -t t1); media as usual over UDP."""
    b = box()
    report, sipp = _echo_call(b, start_sipp, extra_args=["-t", "t1"], seconds=2.0)
    assert "SIP/2.0/TCP" in sipp.messages(), "sipp did not use TCP"
    problems = echo_problems(report)
    assert not problems, f"{report.summary()}\n" + "\n".join(problems)


def test_echo_over_ipv6(box, start_sipp):
    """Box listening on udp:[::1]:PORT; SIP and RTP over IPv6."""
    b = box(host="::1", transports=["udp"])
    report, sipp = _echo_call(b, start_sipp, host="::1", seconds=2.0)
    answer = sdp_line(sipp, "SDP")
    assert "IP6" in answer, f"answer SDP should use an IPv6 connection address: {answer}"
    problems = echo_problems(report)
    assert not problems, f"{report.summary()}\n" + "\n".join(problems)


def test_late_offer(box, start_sipp):
    """INVITE without SDP: the 200 carries the offer, our ACK the answer; media flows."""
    b = box()
    seconds = 2.0
    with rtp_socket() as sock:
        sipp = start_sipp(
            "uac_late_offer",
            b.target,
            ["-d", str(call_length_ms(seconds))],
            keys={"rtp_port": sock.getsockname()[1]},
        )
        media = media_of(sipp)
        sipp.wait_log(r"ACKED ")
        rec = _rtp.stream(sock, media.dest, signal_payloads(seconds))
    assert sipp.wait().returncode == 0, sipp.describe()
    offer = sdp_line(sipp, "OFFER")
    assert _rtp.PT_PCMU in media.fmts, f"the box's offer lacks PCMU: {offer}"
    report = _rtp.analyse_echo(rec)
    problems = echo_problems(report)
    assert not problems, f"{report.summary()}\n" + "\n".join(problems)
