"""`make run` from the repo root starts a working box: one sipp echo call through it.

Slow on a fresh checkout (make creates .venv and installs the package first), hence
its own marker: deselect with `-m "not make_run"`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from . import _rtp
from ._box import REPO_ROOT, tail
from ._calls import call_length_ms, echo_problems, media_of, rtp_socket, signal_payloads
from ._net import free_port
from ._sip import options_ping
from .conftest import BOX_RTP_SLICE, require_tool

pytestmark = [pytest.mark.interop, pytest.mark.make_run]

READY_TIMEOUT = 600.0  # may include creating .venv and pip installing
STOP_TIMEOUT = 15.0


def _descendants(pid: int) -> list[int]:
    """Child processes of pid, recursively (from /proc/*/stat)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _server_pids(make_pid: int) -> list[int]:
    found = []
    for pid in _descendants(make_pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if (b"sems-lite" in cmdline or b"sems_lite" in cmdline) and b" run" in cmdline:
            found.append(pid)
    return found


def test_make_run_serves_an_echo_call(start_sipp, procs, tmp_path, rtp_ports):
    require_tool("make")
    if not (REPO_ROOT / "Makefile").is_file():
        pytest.skip("no Makefile in the repo root")
    port = free_port()
    low = rtp_ports[0] + 3 * BOX_RTP_SLICE  # a slice the box fixture does not use here
    run_args = f"--listen 127.0.0.1:{port} --rtp-ports {low}-{low + BOX_RTP_SLICE - 1}"
    log_path = tmp_path / "make-run.log"
    with open(log_path, "wb") as log:
        make = subprocess.Popen(
            ["make", "run", f"RUN_ARGS={run_args}"],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, to clean up all of it
        )
    procs.append(make)
    try:
        _wait_ready(make, port, log_path)
        with rtp_socket() as sock:
            sipp = start_sipp(
                "uac_echo_call",
                f"127.0.0.1:{port}",
                ["-d", str(call_length_ms(1.0))],
                keys={"rtp_port": sock.getsockname()[1]},
            )
            media = media_of(sipp)
            rec = _rtp.stream(sock, media.dest, signal_payloads(1.0))
        assert sipp.wait().returncode == 0, sipp.describe()
        report = _rtp.analyse_echo(rec)
        problems = echo_problems(report)
        assert not problems, f"{report.summary()}\n" + "\n".join(problems)
        # SIGTERM to the server only: it exits 0, and so does make.
        servers = _server_pids(make.pid)
        assert servers, "found no sems-lite process under make"
        for pid in servers:
            os.kill(pid, signal.SIGTERM)
        code = make.wait(STOP_TIMEOUT)
        assert code == 0, f"make run exited {code} after SIGTERM to the server\n" + tail(
            log_path.read_text(errors="replace")
        )
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGTERM)
            try:
                make.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(make.pid, signal.SIGKILL)
                make.wait(5)


def _wait_ready(make: subprocess.Popen, port: int, log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if make.poll() is not None:
            pytest.fail(
                f"make run exited with {make.returncode} before answering OPTIONS\n"
                + tail(log_path.read_text(errors="replace")),
                pytrace=False,
            )
        reply = options_ping("127.0.0.1", port, timeout=0.3)
        if reply is not None and reply.status == 200:
            return
        time.sleep(0.5)
    pytest.fail(
        f"make run did not answer OPTIONS within {READY_TIMEOUT:.0f} s\n"
        + tail(log_path.read_text(errors="replace")),
        pytrace=False,
    )
