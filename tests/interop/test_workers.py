"""The server profile: two workers behind one SIP address (`--workers 2`).

Calls from one source address and port spread over both workers (by Call-ID), each call's
in-dialog requests reach its worker (the sipp calls complete), echo audio is clean
through either worker, and a worker killed with SIGKILL is restarted while the other
worker's call goes on undisturbed.
"""

from __future__ import annotations

import os
import re
import subprocess
import time

import pytest

from . import _rtp
from ._calls import call_length_ms, echo_problems, media_of, rtp_socket, signal_payloads

pytestmark = pytest.mark.interop

WORKERS = ["--workers", "2"]


def served_by(log: str) -> dict[str, int]:
    """Calls per worker, from the 'wN ... call X: INVITE ... -> app' log lines."""
    counts = {"w0": 0, "w1": 0}
    for worker in re.findall(r"^(w[01]) .*call \w+: INVITE .* -> app ", log, re.M):
        counts[worker] += 1
    return counts


def worker_pids(master: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True)
    return [int(p) for p in out.stdout.split()]


def sipp_burst(target: str, calls: int, hold_ms: int) -> None:
    """`calls` short calls from one sipp process: every INVITE from one address and port."""
    result = subprocess.run(
        [
            *("sipp", "-sn", "uac", "-s", "echo", target, "-m", str(calls), "-r", "20"),
            *("-d", str(hold_ms), "-i", "127.0.0.1", "-p", "0", "-nostdin"),
            *("-timeout", "30", "-timeout_error"),
        ],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout.decode(errors="replace")[-2000:]


def test_calls_from_one_source_spread_over_both_workers(box):
    b = box(args=WORKERS)
    sipp_burst(b.target, 40, 200)
    counts = served_by(b.log())
    assert sum(counts.values()) == 40, counts
    # An even hash over 40 random Call-IDs: each worker gets a fair share (p < 1e-4 to fail).
    assert min(counts.values()) >= 8, counts


def _echo(start_sipp, target: str, seconds: float):
    with rtp_socket() as sock:
        sipp = start_sipp(
            "uac_echo_call",
            target,
            ["-d", str(call_length_ms(seconds))],
            keys={"rtp_port": sock.getsockname()[1]},
        )
        media = media_of(sipp)
        rec = _rtp.stream(sock, media.dest, signal_payloads(seconds))
    return sipp, _rtp.analyse_echo(rec)


def test_echo_audio_is_clean_through_the_workers(box, start_sipp):
    b = box(args=WORKERS)
    for _ in range(4):
        sipp, report = _echo(start_sipp, b.target, 1.5)
        assert sipp.wait().returncode == 0, sipp.describe()
        problems = echo_problems(report)
        assert not problems, f"{report.summary()}\n" + "\n".join(problems)
    assert sum(served_by(b.log()).values()) == 4


def test_a_killed_worker_is_restarted_and_the_other_keeps_its_call(box, start_sipp):
    b = box(args=WORKERS)
    pids = worker_pids(b.proc.pid)
    assert len(pids) == 2, pids
    with rtp_socket() as sock:
        sipp = start_sipp(
            "uac_echo_call",
            b.target,
            ["-d", str(call_length_ms(4.0))],
            keys={"rtp_port": sock.getsockname()[1]},
        )
        media = media_of(sipp)
        owner = next(iter(k for k, v in served_by(b.log()).items() if v))
        victim = pids[1 - int(owner[1])]
        # Kill the other worker 1 s into the call; stream the whole signal meanwhile.
        killer = subprocess.Popen(["sh", "-c", f"sleep 1; kill -9 {victim}"])
        rec = _rtp.stream(sock, media.dest, signal_payloads(4.0))
        killer.wait(5)
    assert sipp.wait().returncode == 0, sipp.describe()
    report = _rtp.analyse_echo(rec)
    problems = echo_problems(report)
    assert not problems, f"the surviving worker's call was disturbed: {report.summary()}"
    deadline = time.monotonic() + 10
    while "restarting it" not in b.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert re.search(rf"worker \d \(pid {victim}\) died .*restarting it", b.log())
    new = worker_pids(b.proc.pid)
    assert len(new) == 2 and victim not in new
    # Both slots serve again: new calls from one source all complete.
    sipp_burst(b.target, 20, 100)
    assert os.kill(b.proc.pid, 0) is None  # the master is still up
