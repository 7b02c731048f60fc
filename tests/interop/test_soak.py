"""Soak: short calls with media through echo and announcement, back to back, for a bounded
time (SEMS_LITE_SOAK_SECONDS, default 60; `make soak` runs longer).

Two sipp processes place calls at a fixed rate (`-r`, `-m`): each call streams a
mu-law signal itself (RTPSTREAM) for about a second and hangs up. Before the soak a few
warm-up calls settle the box's memory. What must hold afterwards: sipp counts zero
failed calls, the control interface reports no call left, the box has the same open
file descriptors as before, and its resident memory is within a small margin.
"""

from __future__ import annotations

import os
import re
import socket
import time

import pytest

from sems_lite.ctl import rpc

from . import _audio
from ._box import REPO_ROOT
from ._net import free_port, free_port_block
from ._sipp import scenario_variant
from .test_overload import open_fds, proc_status_kb

pytestmark = pytest.mark.interop

SOAK_SECONDS = float(os.environ.get("SEMS_LITE_SOAK_SECONDS", "60"))
RATES = {"echo": 3, "announcement": 2}  # calls per second per app: 5 in all
CALL_MS = 1000
WARMUP_CALLS = 6  # per app
SETTLE_SECONDS = 10.0  # for the last calls to end and their ports to close
RSS_MARGIN_KB = 5 * 1024
MEDIA_PORTS_PER_SIPP = 200  # RTPSTREAM takes a port pair per concurrent call


def soak_config(control_port: int) -> dict:
    prompts = REPO_ROOT / "etc" / "prompts"
    return {
        "apps": {"echo": "apps.echo", "announcement": "apps.announcement"},
        "routing": [
            {"user": "echo", "app": "echo"},
            {"user": "announcement", "app": "announcement"},
        ],
        "app_config": {
            "echo": {"answer_delay": 0},
            "announcement": {
                "announce_path": str(prompts),
                "default_announce": str(prompts / "default.wav"),
            },
        },
        "limits": {"max_calls": 100},
        "control": {"listen": f"127.0.0.1:{control_port}"},
    }


def run_calls(start_sipp, scenario, target: str, service: str, count: int, rate: float):
    """Start sipp placing `count` calls at `rate` per second (returns the running Sipp)."""
    limit = max(4, int(rate * (CALL_MS / 1000 + 1) * 2))
    # These come after start_sipp's own "-m 1 -l 1" and override them.
    args = ["-d", str(CALL_MS), "-r", str(rate), "-m", str(count), "-l", str(limit)]
    args += ["-mp", str(free_port_block(MEDIA_PORTS_PER_SIPP))]
    return start_sipp(scenario, target, args, timeout=count / rate + 30, service=service)


def sipp_counts(sipp) -> dict[str, int]:
    """Successful and failed call totals from sipp's final statistics screen."""
    screen = (sipp.workdir / "screen.log").read_text(errors="replace")
    out = {}
    for name in ("Successful call", "Failed call"):
        found = re.findall(rf"{name}\s*\|\s*\d+\s*\|\s*(\d+)", screen)
        if found:
            out[name] = int(found[-1])
    return out


def place(start_sipp, scenario, b, per_app: dict[str, int], rates: dict[str, float]) -> list:
    runs = [
        (app, n, run_calls(start_sipp, scenario, b.target, app, n, rates[app]))
        for app, n in per_app.items()
    ]
    problems = []
    for app, n, sipp in runs:
        result = sipp.wait()
        counts = sipp_counts(sipp)
        print(f"{app}: {n} calls, sipp exit {result.returncode}, {counts}")
        if result.returncode != 0 or counts.get("Failed call", 0) != 0:
            problems.append(f"{app}: failed calls {counts}\n{sipp.describe()}")
        elif counts.get("Successful call") != n:
            problems.append(f"{app}: {counts} of {n} calls\n{sipp.describe()}")
    return problems


def rtp_packets(url: str) -> dict[str, int]:
    """The box's RTP packet counters by direction, from /metrics."""
    host, port = url.removeprefix("http://").split(":")
    request = f"GET /metrics HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    text = data.decode(errors="replace")
    rx = r'^sems_lite_rtp_packets_total\{direction="(in|out)"\} (\d+)'
    return {d: int(v) for d, v in re.findall(rx, text, re.M)}


def wait_idle(b, url: str, fds_before: list[str]) -> tuple[dict, list[str]]:
    """Wait until no call is left and the fd count is back; return the last readings."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        status = rpc(url, "status")
        fds = open_fds(b.proc.pid)
        if (status["calls"] == 0 and len(fds) <= len(fds_before)) or time.monotonic() > deadline:
            return status, fds
        time.sleep(0.2)


def test_soak_short_calls_leave_nothing_behind(box, start_sipp, tmp_path):
    control_port = free_port()
    url = f"http://127.0.0.1:{control_port}"
    b = box(soak_config(control_port))
    raw = tmp_path / "signal.ulaw"
    raw.write_bytes(_audio.to_ulaw(_audio.make_signal(CALL_MS / 1000, seed=60)))
    scenario = scenario_variant("uac_rtp_stream", tmp_path, {"signal.ulaw": str(raw)})

    warm = place(start_sipp, scenario, b, dict.fromkeys(RATES, WARMUP_CALLS), RATES)
    assert not warm, "\n".join(warm)
    status, fds_before = wait_idle(b, url, open_fds(b.proc.pid))
    assert status["calls"] == 0, f"calls left after the warm-up: {status}"
    rss_before = proc_status_kb(b.proc.pid)
    packets_before = rtp_packets(url)

    per_app = {app: max(1, int(rate * SOAK_SECONDS)) for app, rate in RATES.items()}
    started = time.monotonic()
    problems = place(start_sipp, scenario, b, per_app, RATES)
    took = time.monotonic() - started
    status, fds_after = wait_idle(b, url, fds_before)
    rss_after = proc_status_kb(b.proc.pid)
    packets = {d: n - packets_before.get(d, 0) for d, n in rtp_packets(url).items()}
    print(
        f"soak: {sum(per_app.values())} calls in {took:.0f} s; calls left {status['calls']}; "
        f"fds {len(fds_before)} -> {len(fds_after)}; RSS {rss_before} -> {rss_after} kB; "
        f"RTP packets {packets}"
    )
    assert not problems, "\n".join(problems)
    assert status["calls"] == 0, f"calls left after the soak: {rpc(url, 'calls.list')}"
    leaked = sorted(set(fds_after) - set(fds_before))
    assert len(fds_after) <= len(fds_before), f"file descriptors left open: {leaked}"
    assert rss_after - rss_before <= RSS_MARGIN_KB, (
        f"RSS grew {rss_after - rss_before} kB over the soak (bound {RSS_MARGIN_KB} kB)"
    )
    # Media flowed: each call streams ~1 s (50 packets) in; echo and prompt send back.
    expected = sum(per_app.values()) * CALL_MS // 20
    assert packets.get("in", 0) >= expected // 2, f"RTP in {packets}, want >= {expected // 2}"
    assert packets.get("out", 0) >= expected // 2, f"RTP out {packets}, want >= {expected // 2}"
    assert b.alive()
