"""One sipp process for a benchmark run: its command line, trace files and exit."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from common import free_port, free_port_range
from sippstat import count_log_lines, counters, parse_stat_csv

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
HOST = "127.0.0.1"


def sipp_path() -> str | None:
    return shutil.which("sipp")


def scenario_copy(name: str, workdir: Path, replace: dict[str, str]) -> Path:
    """bench/scenarios/<name>.xml with placeholders (what sipp keywords cannot reach,
    such as the rtp_stream file) replaced, written into workdir."""
    text = (SCENARIOS / f"{name}.xml").read_text()
    for old, new in replace.items():
        if old not in text:
            raise ValueError(f"{old!r} not in scenario {name}")
        text = text.replace(old, new)
    path = workdir / f"{name}.xml"
    path.write_text(text)
    return path


class SippRun:
    """sipp against target with fresh local SIP, media and control ports.

    The media port (`-mp`) is where sipp's rtp_stream sends from and where the box's RTP
    arrives: sipp 3.6 uses this one port for every call's stream.
    """

    def __init__(
        self, workdir: Path, scenario: Path, target: str, args: list[str], timeout_s: float
    ) -> None:
        exe = sipp_path()
        if exe is None:
            raise FileNotFoundError("sipp not found (apt install sip-tester)")
        self.workdir = workdir
        self.media_port = free_port_range(4, HOST, low=12000, high=20000)[0]
        self.stat_path = workdir / "sipp_stat.csv"
        self.log_path = workdir / "sipp_logs.log"
        self.cmd = [
            exe, target, "-sf", str(scenario),
            "-i", HOST, "-p", str(free_port(HOST)),
            "-mi", HOST, "-mp", str(self.media_port),
            "-cp", str(free_port(HOST)),
            "-nostdin",
            "-timeout", f"{max(int(timeout_s), 1)}s", "-timeout_error",
            "-trace_stat", "-stf", str(self.stat_path), "-fd", "1",
            "-trace_err", "-error_file", str(workdir / "sipp_errors.log"),
            "-trace_logs", "-log_file", str(self.log_path),
            *args,
        ]  # fmt: skip
        self._out = open(workdir / "sipp_screen.txt", "wb")  # noqa: SIM115 - closed in wait()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            self.cmd, stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT
        )
        self.exit_code: int | None = None

    def running(self) -> bool:
        return self.proc.poll() is None

    def count_log(self, tag: str) -> int:
        try:
            return count_log_lines(self.log_path.read_text(errors="replace"), tag)
        except FileNotFoundError:
            return 0

    def wait(self, timeout: float) -> int:
        """Wait up to timeout for sipp to end on its own, then kill it."""
        if self.exit_code is None:
            try:
                self.proc.wait(max(timeout, 0.1))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.exit_code = self.proc.returncode
            self._out.close()
        return self.exit_code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait(5)

    def stats(self) -> dict[str, int]:
        try:
            return counters(parse_stat_csv(self.stat_path.read_text(errors="replace")))
        except FileNotFoundError:
            return {}

    def errors_tail(self, lines: int = 5) -> str:
        path = self.workdir / "sipp_errors.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])
