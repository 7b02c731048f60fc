"""Overload: an INVITE flood at 10x `limits.cps_limit` while echo calls are up.

Three echo calls run (sipp does their SIP, the test their RTP, one thread each); a fourth
thread sends a burst of INVITEs, each with a new Call-ID, from a few raw UDP sockets. What
must hold: every flood INVITE gets a final response (a 503 shed, or the 404 of a routed
INVITE no rule serves), only about cps_limit per second get through, the echo calls keep
clean audio with no RTP sequence gaps, and the box's resident memory stays within a bound.

The helpers at the top are shared with the hostile-input and soak tests.
"""

from __future__ import annotations

import os
import select
import threading
import time
from pathlib import Path

import pytest

from . import _rtp, _sip
from ._calls import call_length_ms, echo_problems, media_of, rtp_socket, signal_payloads
from ._net import host_port

pytestmark = pytest.mark.interop

CPS_LIMIT = 20
FLOOD_RATE = 10 * CPS_LIMIT  # INVITEs per second
FLOOD_SECONDS = 3.0
FLOOD_SOCKETS = 8
ECHO_CALLS = 3
SIGNAL_SECONDS = FLOOD_SECONDS + 2.5  # the flood runs inside the echo calls
FLOOD_START = 1.0  # seconds into the echo signal
ANSWER_WAIT = 5.0  # for the last final responses after the flood
RSS_MARGIN_KB = 10 * 1024


# --- shared helpers ------------------------------------------------------------------------
def proc_status_kb(pid: int, field: str = "VmRSS") -> int:
    """A memory figure of a process in kB, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def open_fds(pid: int) -> list[str]:
    """What each open file descriptor of a process points at (sockets, files, pipes)."""
    base = Path(f"/proc/{pid}/fd")
    out = []
    for fd in base.iterdir():
        try:
            out.append(os.readlink(fd))
        except FileNotFoundError:  # closed while we looked
            continue
    return sorted(out)


def sequence_gaps(rec: _rtp.StreamRecord) -> int:
    """Sequence numbers missing from the box's RTP between its first and last packet."""
    seqs = [a.packet.seq for a in rec.rtp(_rtp.PT_PCMU)]
    if len(seqs) < 2:
        return 0
    ext = _rtp._extended(seqs)
    return (max(ext) - min(ext) + 1) - len(set(ext))


def start_echo_calls(box, start_sipp, count: int, seconds: float):
    """Place `count` echo calls; returns [(sipp, rtp socket, media destination)]."""
    calls = []
    for _ in range(count):
        sock = rtp_socket()
        sipp = start_sipp(
            "uac_echo_call",
            box.target,
            ["-d", str(call_length_ms(seconds))],
            keys={"rtp_port": sock.getsockname()[1]},
        )
        calls.append((sipp, sock, media_of(sipp).dest))
    return calls


def stream_in_threads(calls, payloads: list[bytes]) -> tuple[list[threading.Thread], list]:
    """Start one paced RTP stream per call; records fill in as the threads run."""
    records = [_rtp.StreamRecord() for _ in calls]
    threads = [
        threading.Thread(
            target=_rtp.stream,
            args=(sock, dest, payloads),
            kwargs={"record": rec, "ssrc": 0x1000 + n},
            daemon=True,
        )
        for n, ((_sipp, sock, dest), rec) in enumerate(zip(calls, records, strict=True))
    ]
    for t in threads:
        t.start()
    return threads, records


def check_echoes(calls, records) -> list[str]:
    """Problems of every echo call (sipp's result, audio, sequence gaps), as sentences."""
    problems = []
    for n, ((sipp, sock, _dest), rec) in enumerate(zip(calls, records, strict=True)):
        sock.close()
        result = sipp.wait()
        if result.returncode != 0:
            problems.append(f"echo call {n}: sipp failed\n{sipp.describe()}")
        report = _rtp.analyse_echo(rec)
        print(f"echo call {n}: {report.summary()}")
        problems += [f"echo call {n}: {p}" for p in echo_problems(report)]
        gaps = sequence_gaps(rec)
        if gaps:
            problems.append(f"echo call {n}: {gaps} RTP sequence numbers missing in the echo")
    return problems


# --- the flood -----------------------------------------------------------------------------
class Flood:
    """INVITEs at a fixed rate from a few sockets; gathers every response by Call-ID."""

    def __init__(self, target: tuple[str, int], user: str = "flood") -> None:
        self.target = target
        self.user = user
        self.peers = [_sip.UdpPeer() for _ in range(FLOOD_SOCKETS)]
        self.sent: list[str] = []  # Call-IDs
        self.finals: dict[str, int] = {}
        self.retry_after: dict[str, str | None] = {}
        self.unparsable = 0

    def close(self) -> None:
        for peer in self.peers:
            peer.close()

    def run(self, rate: float, seconds: float, answer_wait: float) -> None:
        host, port = self.target
        ruri = f"sip:{self.user}@{host_port(host, port)}"
        start = time.monotonic()
        total = int(rate * seconds)
        for n in range(total):
            peer = self.peers[n % len(self.peers)]
            call_id = _sip.new_token("flood-")
            self.sent.append(call_id)
            peer.send(
                _sip.build_request("INVITE", ruri, local=peer.local, call_id=call_id), (host, port)
            )
            self._drain(max(0.0, start + (n + 1) / rate - time.monotonic()))
        deadline = time.monotonic() + answer_wait
        while len(self.finals) < total and (left := deadline - time.monotonic()) > 0:
            self._drain(min(left, 0.1))

    def _drain(self, timeout: float) -> None:
        socks = [p.sock for p in self.peers]
        end = time.monotonic() + timeout
        while True:
            ready, _, _ = select.select(socks, [], [], max(0.0, end - time.monotonic()))
            for sock in ready:
                try:
                    data = sock.recv(65535)
                except ConnectionRefusedError:
                    continue
                self._record(data)
            if time.monotonic() >= end:
                return

    def _record(self, data: bytes) -> None:
        try:
            msg = _sip.parse(data)
        except ValueError:
            self.unparsable += 1
            return
        call_id = msg.header("call-id") or ""
        if msg.is_response and msg.status >= 200 and call_id not in self.finals:
            self.finals[call_id] = msg.status
            self.retry_after[call_id] = msg.header("retry-after")

    def counts(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for status in self.finals.values():
            out[status] = out.get(status, 0) + 1
        return out


def test_invite_flood_keeps_calls_clean_and_memory_bounded(box, start_sipp):
    b = box({"limits": {"cps_limit": CPS_LIMIT, "max_calls": 100}})
    pid = b.proc.pid
    calls = start_echo_calls(b, start_sipp, ECHO_CALLS, SIGNAL_SECONDS)
    threads, records = stream_in_threads(calls, signal_payloads(SIGNAL_SECONDS))
    time.sleep(FLOOD_START)
    rss_before = proc_status_kb(pid)
    flood = Flood((b.host, b.port))
    # A second's refill of tokens may have been used by the echo calls; the flood sees
    # at most a full bucket plus the refill over its run and the answer wait.
    flood_started = time.monotonic()
    try:
        flood.run(FLOOD_RATE, FLOOD_SECONDS, ANSWER_WAIT)
    finally:
        flood.close()
    flood_took = time.monotonic() - flood_started
    for t in threads:
        t.join(SIGNAL_SECONDS + 5)
    rss_after = proc_status_kb(pid)
    counts = flood.counts()
    print(
        f"flood: {len(flood.sent)} INVITEs in {flood_took:.1f} s, finals {counts}, "
        f"RSS {rss_before} -> {rss_after} kB"
    )

    problems = check_echoes(calls, records)
    assert not problems, "\n".join(problems)
    missing = [c for c in flood.sent if c not in flood.finals]
    assert not missing, f"{len(missing)} of {len(flood.sent)} flood INVITEs got no final answer"
    assert set(counts) <= {404, 503}, f"unexpected final responses: {counts}"
    admitted_bound = CPS_LIMIT * (1 + flood_took) + 2  # full bucket + refill
    assert counts.get(404, 0) <= admitted_bound, f"cps_limit not enforced: {counts}"
    assert counts.get(503, 0) >= len(flood.sent) - admitted_bound, counts
    shed_retry = {flood.retry_after[c] for c, s in flood.finals.items() if s == 503}
    assert shed_retry == {"1"}, f"Retry-After of the shed INVITEs: {shed_retry}"
    assert rss_after - rss_before <= RSS_MARGIN_KB, (
        f"RSS grew {rss_after - rss_before} kB under the flood (bound {RSS_MARGIN_KB} kB)"
    )
    ping = _sip.options_ping(b.host, b.port)
    assert ping is not None and ping.status == 200, "box does not answer OPTIONS after the flood"
