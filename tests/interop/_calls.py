"""Echo-call building blocks shared by several test modules: sipp does the SIP, the test
does the RTP on a socket it owns and judges the audio that comes back."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass

from . import _audio, _rtp
from ._net import bare_host, family_of
from ._sipp import Sipp

MEDIA_RX = r"MEDIA addr=(\S+) port=(\d+) fmts=([ 0-9]*);"

# What "a good echo" means, from the brief.
MIN_MATCHED_FRACTION = 0.95
MIN_CORRELATION = 0.99
MIN_SNR_DB = 30.0
MAX_DELAY_MS = 40.0


@dataclass
class Media:
    addr: str
    port: int
    fmts: list[int]

    @property
    def dest(self) -> tuple[str, int]:
        return (self.addr, self.port)


def media_of(sipp: Sipp, timeout: float = 10.0) -> Media:
    """The box's RTP address from the SDP sipp received (waits for sipp's MEDIA log line)."""
    m = sipp.wait_log(MEDIA_RX, timeout)
    return Media(m.group(1), int(m.group(2)), [int(x) for x in m.group(3).split()])


def rtp_socket(host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(family_of(host), socket.SOCK_DGRAM)
    sock.bind((bare_host(host), 0))
    return sock


def signal_payloads(seconds: float, seed: int = 4475) -> list[bytes]:
    """The test signal as PCMU frames of 20 ms."""
    return _audio.frames(_audio.to_ulaw(_audio.make_signal(seconds, seed)), _audio.FRAME)


def call_length_ms(stream_seconds: float) -> int:
    """sipp -d for a call that must outlive `stream_seconds` of RTP plus set-up slack."""
    return int((stream_seconds + 2.0) * 1000)


def echo_problems(report: _rtp.EchoReport) -> list[str]:
    """Everything wrong with an echo, as readable sentences (empty list: good echo)."""
    problems = []
    if report.matched < MIN_MATCHED_FRACTION * report.sent:
        problems.append(
            f"only {report.matched} of {report.sent} frames came back "
            f"(want >= {MIN_MATCHED_FRACTION:.0%})"
        )
    if not (report.correlation > MIN_CORRELATION or report.snr_db > MIN_SNR_DB):
        problems.append(
            f"echo differs from the G.711 round-tripped original: correlation "
            f"{report.correlation:.4f} (want > {MIN_CORRELATION}) and SNR "
            f"{report.snr_db:.1f} dB (want > {MIN_SNR_DB})"
        )
    if report.delays_ms and (report.median_ms > MAX_DELAY_MS or report.p95_ms > MAX_DELAY_MS):
        problems.append(
            f"echo too late: median {report.median_ms:.1f} ms, p95 {report.p95_ms:.1f} ms "
            f"(want both <= {MAX_DELAY_MS:.0f} ms after the frame was sent)"
        )
    if report.payload_types - {_rtp.PT_PCMU}:
        problems.append(f"unexpected payload types in the echo: {sorted(report.payload_types)}")
    if len(report.ssrcs) > 1:
        problems.append(f"echo uses {len(report.ssrcs)} SSRCs, want one")
    return problems


def sdp_line(sipp: Sipp, tag: str) -> str:
    """The text of a `<log message="TAG ...">` line."""
    m = re.search(rf"^{re.escape(tag)} (.*)$", sipp.logs(), re.M)
    return m.group(1) if m else ""
