"""RTCP on the wire (RFC 3550): during an echo call the box sends sender reports to our
RTP port + 1 (or on the RTP port itself with a=rtcp-mux, RFC 5761), naming its RTP SSRC
and carrying a report block about our stream (loss, highest sequence, jitter)."""

from __future__ import annotations

import select
import socket
import struct
import time

import pytest

from . import _rtp
from ._calls import call_length_ms, media_of, signal_payloads
from ._sipp import scenario_variant

pytestmark = pytest.mark.interop

SECONDS = 6.0  # the first report comes 1.25-3.75 s in (RFC 3550 §6.2, halved first interval)
OUR_SSRC = 0x5E55_7E57  # what _rtp.stream sends with


def even_port_pair() -> tuple[socket.socket, socket.socket]:
    for _ in range(50):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1] & ~1
        probe.close()
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            rtp.bind(("127.0.0.1", port))
            rtcp.bind(("127.0.0.1", port + 1))
        except OSError:
            rtp.close()
            rtcp.close()
            continue
        return rtp, rtcp
    raise RuntimeError("no free even port pair")


def sender_reports(datagrams: list[bytes]) -> list[dict]:
    """The SRs in compound RTCP packets (our own minimal reading of RFC 3550 §6.4.1)."""
    reports = []
    for data in datagrams:
        offset = 0
        while offset + 4 <= len(data):
            b0, pt, words = struct.unpack_from("!BBH", data, offset)
            if b0 >> 6 != 2:
                break
            length = 4 * (words + 1)
            if pt == 200 and length >= 28:
                ssrc, _ntp_hi, _ntp_lo, _ts, packets, octets = struct.unpack_from(
                    "!IIIIII", data, offset + 4
                )
                blocks = []
                for i in range(b0 & 0x1F):
                    at = offset + 28 + 24 * i
                    src, lost_word, highest, jitter, _lsr, _dlsr = struct.unpack_from(
                        "!IIIIII", data, at
                    )
                    blocks.append(
                        {
                            "ssrc": src,
                            "fraction_lost": lost_word >> 24,
                            "cumulative_lost": lost_word & 0xFFFFFF,
                            "highest": highest,
                            "jitter": jitter,
                        }
                    )
                reports.append(
                    {"ssrc": ssrc, "packets": packets, "octets": octets, "blocks": blocks}
                )
            offset += length
    return reports


def drain(sock: socket.socket, into: list[bytes], seconds: float = 0.0) -> None:
    end = time.monotonic() + seconds
    while True:
        ready, _, _ = select.select([sock], [], [], max(0.0, end - time.monotonic()))
        if not ready:
            return
        into.append(sock.recv(2048))


def test_sender_reports_on_port_plus_one(box, start_sipp):
    b = box()
    rtp, rtcp = even_port_pair()
    try:
        sipp = start_sipp(
            "uac_echo_call",
            b.target,
            ["-d", str(call_length_ms(SECONDS))],
            keys={"rtp_port": rtp.getsockname()[1]},
        )
        media = media_of(sipp)
        rec = _rtp.stream(rtp, media.dest, signal_payloads(SECONDS))
        received: list[bytes] = []
        drain(rtcp, received, 0.2)
        assert sipp.wait().returncode == 0, sipp.describe()
    finally:
        rtp.close()
        rtcp.close()
    reports = sender_reports(received)
    assert reports, f"no RTCP sender report on port+1 in {SECONDS} s ({len(received)} datagrams)"
    echo_ssrcs = {a.packet.ssrc for a in rec.rtp()}
    last = reports[-1]
    assert last["ssrc"] in echo_ssrcs, "the SR must name the SSRC of the box's RTP"
    assert 0 < last["packets"] <= len(rec.payloads)
    assert last["octets"] == 160 * last["packets"]  # PCMU, 20 ms
    (block,) = [blk for blk in last["blocks"] if blk["ssrc"] == OUR_SSRC]
    assert block["fraction_lost"] == 0 and block["cumulative_lost"] == 0
    assert block["highest"] & 0xFFFF >= 4711 % 65536  # our stream started at seq 4711
    assert block["jitter"] < 8000  # timestamp units: under a second, so a sane estimate


def test_rtcp_mux_when_offered(box, start_sipp, tmp_path):
    b = box()
    scenario = scenario_variant(
        "uac_echo_call", tmp_path, {"a=ptime:20": "a=ptime:20\n      a=rtcp-mux"}
    )
    rtp, spare = even_port_pair()
    spare.close()
    try:
        sipp = start_sipp(
            scenario,
            b.target,
            ["-d", str(call_length_ms(SECONDS))],
            keys={"rtp_port": rtp.getsockname()[1]},
        )
        media = media_of(sipp)
        rec = _rtp.stream(rtp, media.dest, signal_payloads(SECONDS))
        assert sipp.wait().returncode == 0, sipp.describe()
    finally:
        rtp.close()
    assert "a=rtcp-mux" in sipp.messages(), "the answer must accept rtcp-mux"
    muxed = [a.raw for a in rec.arrivals if len(a.raw) > 1 and 200 <= a.raw[1] <= 204]
    reports = sender_reports(muxed)
    assert reports, "no RTCP arrived on the RTP port with rtcp-mux"
