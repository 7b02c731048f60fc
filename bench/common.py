"""Helpers shared by the benchmarks: the box as a subprocess, free ports, /proc
readings, percentiles, output.

Benchmarks are not tests: they print one JSON line per run (with the command line that
reproduces it) and, unless asked not to, a short table for people.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG = "etc/sems_lite.yaml"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an already sorted sequence; NaN if empty."""
    if not sorted_values:
        return math.nan
    rank = math.ceil(q / 100 * len(sorted_values))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def _bindable(host: str, port: int, kind: socket.SocketKind) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP (the box listens on both for `--listen ADDR:PORT`)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        if _bindable(host, port, socket.SOCK_STREAM):
            return port
    raise RuntimeError(f"no free UDP+TCP port on {host}")


def free_port_range(
    count: int, host: str = "127.0.0.1", low: int = 20000, high: int = 32000
) -> tuple[int, int]:
    """An even-based range of `count` free UDP ports below the ephemeral range, so the
    box's RTP ports never collide with the benchmark's own port-0 sockets."""
    count += count & 1
    start = low
    while start + count <= high:
        busy = next(
            (p for p in range(start, start + count) if not _bindable(host, p, socket.SOCK_DGRAM)),
            None,
        )
        if busy is None:
            return start, start + count - 1
        start = (busy + 2) & ~1
    raise RuntimeError(f"no {count} free UDP ports between {low} and {high}")


def cpu_ns(pid: int) -> tuple[int, str]:
    """CPU time the process used so far, in ns, and where it came from.

    /proc/<pid>/schedstat counts on-CPU nanoseconds of the main thread (the box has only
    one); /proc/<pid>/stat utime+stime only has clock-tick (10 ms) resolution.
    """
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]), "schedstat"
    except (OSError, ValueError, IndexError):
        pass
    with open(f"/proc/{pid}/stat") as f:
        # The command name may hold spaces: fields are counted after its closing ')'.
        fields = f.read().rpartition(")")[2].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) * 1_000_000_000 // CLOCK_TICKS, "stat"


def proc_status_kb(pid: int, key: str) -> int | None:
    """A `kB` line of /proc/<pid>/status (VmRSS, VmHWM), or None if unreadable."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def shown_path(path: str) -> str:
    """A path relative to the repo root when it lies inside it (commands stay portable)."""
    try:
        return str(Path(os.path.abspath(path)).relative_to(REPO_ROOT))
    except ValueError:
        return path


def command_line(script: str, args: Sequence[str], python: str | None = None) -> str:
    """The shell command that reproduces a run, as typed from the repo root."""
    return shlex.join([shown_path(python or sys.executable), script, *args])


def emit_json(result: dict) -> None:
    print(json.dumps(result, sort_keys=False), flush=True)


def print_table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> None:
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


# --- the box under test ------------------------------------------------------------
class Box:
    """The sems_lite process under test, its stderr kept in a file for post-mortems."""

    def __init__(
        self,
        python: str,
        config: str,
        listen: str,
        rtp_ports: str,
        env: dict,
        extra_args: tuple[str, ...] = (),
    ):
        self.workdir = Path(tempfile.mkdtemp(prefix="sems_bench_"))
        self.log_path = self.workdir / "box.stderr.log"
        self.cmd = [
            python, "-m", "sems_lite", "run",
            "--config", config,
            "--listen", listen,
            "--rtp-ports", rtp_ports,
            "--log-level", "warning",
            *extra_args,
        ]  # fmt: skip
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.exit_code: int | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> int:
        """SIGTERM (the box BYEs what is left and exits), SIGKILL if it hangs."""
        if self.exit_code is None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            self.exit_code = self.proc.returncode
            self._log.close()
        return self.exit_code

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def box_implementation(python: str, env: dict) -> str:
    """'native' or 'fallback', as the box itself reports it under this environment."""
    out = subprocess.run(
        [python, "-m", "sems_lite", "--version"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return "native" if " native " in out else "fallback" if " fallback " in out else out.strip()


def box_config(calls: int, workdir: Path) -> tuple[str, int | None]:
    """The config path for N calls: etc/sems_lite.yaml itself, or, when its max_calls is
    below N, a copy with max_calls raised (beside links to etc/'s other entries, so
    relative prompt paths still resolve). Returns (path, the max_calls set or None)."""
    import yaml  # a box dependency; imported here so --help works without it

    src = REPO_ROOT / CONFIG
    data = yaml.safe_load(src.read_text()) or {}
    limit = int((data.get("limits") or {}).get("max_calls", 100))
    if limit >= calls:
        return CONFIG, None
    data.setdefault("limits", {})["max_calls"] = calls
    etc = workdir / "etc"
    etc.mkdir()
    for entry in src.parent.iterdir():
        if entry != src:
            (etc / entry.name).symlink_to(entry)
    path = etc / src.name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path), calls


def wait_ready(box: Box, target: tuple[str, int]) -> None:
    """Until the box answers OPTIONS over UDP: it listens and its loop runs."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((target[0], 0))
    local = f"{target[0]}:{sock.getsockname()[1]}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    try:
        n = 0
        while time.monotonic() < deadline:
            if box.proc.poll() is not None:
                raise RuntimeError(f"box exited with {box.proc.returncode}:\n{box.log_tail()}")
            n += 1
            msg = (
                f"OPTIONS sip:{target[0]}:{target[1]} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {local};branch=z9hG4bK-ready-{n};rport\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:bench@{local}>;tag=r\r\n"
                f"To: <sip:{target[0]}:{target[1]}>\r\nCall-ID: ready-{n}@{target[0]}\r\n"
                "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            )
            sock.sendto(msg.encode(), target)
            sock.settimeout(0.2)
            try:
                if sock.recv(65535).startswith(b"SIP/2.0 200"):
                    return
            except TimeoutError:
                continue
        raise RuntimeError(f"box not ready after {READY_TIMEOUT_S}s:\n{box.log_tail()}")
    finally:
        sock.close()
