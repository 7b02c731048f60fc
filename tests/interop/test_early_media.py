"""`early_announce`: the prompt plays as early media (183 Session Progress with SDP)
before the INVITE gets its final answer — a configured rejection (486 Busy Here here), or
with `continue_app: echo` a 200 from the echo app after the prompt.

sipp does the SIP (scenarios ann_early_*.xml log sipp's time of each response); the test
owns the RTP port in the offer and records the prompt itself.
"""

from __future__ import annotations

import re

import pytest

from . import _rtp
from ._announce import (
    DEFAULT_WAV,
    app_box_config,
    collect,
    duration,
    heard_before,
    match,
    prompt_problems,
    prompt_reference,
    stream_audio,
)
from ._calls import echo_problems, media_of, rtp_socket, sdp_line, signal_payloads

pytestmark = pytest.mark.interop

CALL_TIMEOUT = 20.0
# The final answer comes when the prompt ends: first RTP + prompt length, within this.
FINAL_TOLERANCE = 0.100
ECHO_SECONDS = 2.0


def _log_time(logs: str, pattern: str) -> float:
    """Epoch time of the first sipp <log> line `pattern ... <date>\t<time>\t<epoch>`."""
    m = re.search(rf"^{pattern}\S+\t\S+\t(\d+\.\d+)$", logs, re.M)
    assert m, f"sipp did not log /{pattern}/:\n{logs}"
    return float(m.group(m.lastindex))


def test_early_media_then_486(box, start_sipp):
    b = box(app_box_config("early_announce", "early", final_code=486, final_reason="Busy Here"))
    with rtp_socket() as sock:
        sipp = start_sipp(
            "ann_early_486.xml",
            b.target,
            service="early",
            keys={"rtp_port": sock.getsockname()[1]},
            timeout=CALL_TIMEOUT,
        )
        media = media_of(sipp)
        rec = collect(sock, sipp, CALL_TIMEOUT)
    result = sipp.wait()
    # The scenario requires a 183 whose body has c= and m=audio, then a 486, and ACKs it.
    assert result.returncode == 0, f"sipp call failed\n{sipp.describe()}"
    assert "m=audio" in sdp_line(sipp, "SDP"), sipp.logs()
    assert _rtp.PT_PCMU in media.fmts, f"183 SDP does not accept PCMU: {media}"
    logs = sipp.logs()
    final = re.search(r"^FINAL (.*) \| ", logs, re.M)
    assert final and final.group(1) == "Busy Here", f"want '486 Busy Here':\n{logs}"
    final_at = _log_time(logs, r"FINAL .* \| ")
    early_at = _log_time(logs, "EARLY ")

    packets = rec.rtp()
    assert packets, f"no early media RTP\n{sipp.describe()}"
    early = heard_before(rec, final_at)
    assert early, "no RTP arrived before the final response"
    assert packets[0].wall >= early_at - 0.05, "RTP before the 183 (early media unannounced)"
    assert len(early) >= len(packets) - 1, (
        f"{len(packets) - len(early)} of {len(packets)} RTP packets came after the 486"
    )
    prompt = duration(DEFAULT_WAV)
    late = final_at - packets[0].wall - prompt
    print(f"486 - first RTP - prompt = {late * 1000:+.1f} ms")
    assert abs(late) <= FINAL_TOLERANCE, (
        f"486 came {final_at - packets[0].wall:.3f} s after the first RTP; the prompt is "
        f"{prompt:.3f} s long (want the final answer when it ends, +-{FINAL_TOLERANCE:.1f} s)"
    )
    heard, law, _ = stream_audio(early)
    reference = prompt_reference(DEFAULT_WAV, law)
    print(f"early media vs prompt: {match(heard, reference).summary()}")
    problems = prompt_problems(heard, reference)
    assert not problems, "\n".join(problems)


def test_early_media_then_echo(box, start_sipp):
    """continue_app: echo — after the early prompt the echo app answers 200 and echoes."""
    b = box(app_box_config("early_announce", "early", continue_app="echo"))
    prompt = duration(DEFAULT_WAV)
    with rtp_socket() as sock:
        sipp = start_sipp(
            "ann_early_continue.xml",
            b.target,
            ["-d", str(int((ECHO_SECONDS + 1.5) * 1000))],
            service="early",
            keys={"rtp_port": sock.getsockname()[1]},
            timeout=CALL_TIMEOUT,
        )
        media = media_of(sipp)
        # Early media until sipp has ACKed the 200 (bounded), then our signal for the echo.
        early_rec = collect(sock, sipp, prompt + 5, tail=0.0, until=lambda: "ACKED " in sipp.logs())
        echo_rec = _rtp.stream(sock, media.dest, signal_payloads(ECHO_SECONDS))
    assert sipp.wait().returncode == 0, f"sipp call failed\n{sipp.describe()}"
    assert "m=audio" in sdp_line(sipp, "SDP"), sipp.logs()
    logs = sipp.logs()
    answered_at = _log_time(logs, "ANSWERED ")
    early = heard_before(early_rec, answered_at)
    assert early, f"no early-media RTP before the 200\n{sipp.describe()}"
    late = answered_at - early[0].wall - prompt
    print(f"200 - first RTP - prompt = {late * 1000:+.1f} ms")
    assert abs(late) <= FINAL_TOLERANCE, (
        f"200 came {answered_at - early[0].wall:.3f} s after the first early RTP; the prompt "
        f"is {prompt:.3f} s long (want the 200 when it ends, +-{FINAL_TOLERANCE:.1f} s)"
    )
    heard, law, _ = stream_audio(early)
    problems = prompt_problems(heard, prompt_reference(DEFAULT_WAV, law))
    assert not problems, "\n".join(problems)
    report = _rtp.analyse_echo(echo_rec)
    problems = echo_problems(report)
    assert not problems, f"echo after the handover: {report.summary()}\n" + "\n".join(problems)
