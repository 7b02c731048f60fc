"""sipp streams the audio itself (RTPSTREAM) and a packet capture on lo judges the echo:
the same fidelity and delay checks as the test-driven echo, from the wire's view."""

from __future__ import annotations

import re

import pytest

from . import _audio, _rtp
from ._calls import echo_problems, media_of
from ._capture import capture_or_skip
from ._sipp import scenario_variant

pytestmark = pytest.mark.interop

SIGNAL_SECONDS = 2.0


def test_sipp_rtp_stream_echo_on_the_wire(box, start_sipp, tmp_path):
    b = box()
    raw = tmp_path / "signal.ulaw"
    raw.write_bytes(_audio.to_ulaw(_audio.make_signal(SIGNAL_SECONDS, seed=11)))
    path = scenario_variant("uac_rtp_stream", tmp_path, {"signal.ulaw": str(raw)})
    with capture_or_skip() as cap:
        sipp = start_sipp(path, b.target, ["-d", str(int(SIGNAL_SECONDS * 1000) + 1000)])
        cap.run(lambda: sipp.proc.poll() is not None, timeout=30)
    assert sipp.wait().returncode == 0, sipp.describe()
    media = media_of(sipp)
    m = re.search(r"^SIPP_RTP (\d+)", sipp.logs(), re.M)
    assert m, sipp.logs()
    sipp_port = int(m.group(1))

    rec = _rtp.StreamRecord()
    for d in cap.between(sipp_port, media.port):
        pkt = _rtp.unpack_rtp(d.payload)
        if pkt is not None and pkt.pt == _rtp.PT_PCMU:
            rec.send_mono.append(d.time)
            rec.send_wall.append(d.time)
            rec.payloads.append(pkt.payload)
    for d in cap.between(media.port, sipp_port):
        rec.arrivals.append(_rtp.Arrival(d.time, d.time, d.src, _rtp.unpack_rtp(d.payload), b""))
    expected = int(SIGNAL_SECONDS / _rtp.PTIME)
    assert len(rec.payloads) >= 0.95 * expected, (
        f"capture saw {len(rec.payloads)} of sipp's ~{expected} packets"
    )
    report = _rtp.analyse_echo(rec)
    print(report.summary())
    problems = echo_problems(report)
    assert not problems, f"{report.summary()}\n" + "\n".join(problems)
