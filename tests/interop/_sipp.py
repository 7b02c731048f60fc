"""Run sipp scenarios against the box and show everything sipp knows when one fails."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

from ._box import tail
from ._net import free_port, free_port_block

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
SIPP = "sipp"


def sipp_path() -> str | None:
    return shutil.which(SIPP)


def scenario(name: str) -> Path:
    path = SCENARIOS / (name if name.endswith(".xml") else f"{name}.xml")
    if not path.is_file():
        raise FileNotFoundError(path)
    return path


def scenario_variant(name: str, workdir: Path, replace: dict[str, str]) -> Path:
    """A copy of a scenario with words replaced (for what sipp keywords cannot vary,
    such as the method of a request)."""
    text = scenario(name).read_text()
    for old, new in replace.items():
        if old not in text:
            raise ValueError(f"{old!r} not in scenario {name}")
        text = text.replace(old, new)
    workdir.mkdir(parents=True, exist_ok=True)
    suffix = re.sub(r"[^A-Za-z0-9]+", "_", "-".join(replace.values()))[-40:]
    path = workdir / f"{scenario(name).stem}-{suffix}.xml"
    path.write_text(text)
    return path


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


class Sipp:
    """One sipp process (one call: -m 1 -l 1) and its trace files."""

    def __init__(self, cmd: list[str], workdir: Path, timeout: float) -> None:
        self.cmd = cmd
        self.workdir = workdir
        self.timeout = timeout
        self.started = time.monotonic()
        self._stdout = open(workdir / "stdout.txt", "wb")  # noqa: SIM115 - closed in wait()
        self._stderr = open(workdir / "stderr.txt", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self._stdout, stderr=self._stderr
        )
        self.result: subprocess.CompletedProcess | None = None

    # --- trace files -------------------------------------------------------------
    def logs(self) -> str:
        """Lines written by <log> actions (one per action, sipp's timestamp first)."""
        return _read(self.workdir / "logs.log")

    def messages(self) -> str:
        return _read(self.workdir / "messages.log")

    def errors(self) -> str:
        return _read(self.workdir / "errors.log")

    def wait_log(self, pattern: str, timeout: float = 10.0) -> re.Match:
        """Block until a <log> line matches pattern; fail early if sipp exits first."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.logs())
            if m:
                return m
            if self.proc.poll() is not None:
                m = rx.search(self.logs())
                if m:
                    return m
                self.wait()
                raise AssertionError(f"sipp ended before logging /{pattern}/\n{self.describe()}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"sipp did not log /{pattern}/ in {timeout}s\n{self.describe()}"
                )
            time.sleep(0.01)

    def log_times(self, tag: str) -> list[float]:
        """Epoch times of `<log message="TAG [timestamp]"/>` lines (sipp's third field)."""
        rx = re.compile(rf"^{re.escape(tag)} \S+\t\S+\t(\d+\.\d+)", re.M)
        return [float(v) for v in rx.findall(self.logs())]

    # --- process -----------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> subprocess.CompletedProcess:
        """Wait for sipp to end (killing it past the deadline) and return its result."""
        if self.result is not None:
            return self.result
        left = (timeout or self.timeout + 10) - (time.monotonic() - self.started)
        try:
            self.proc.wait(max(left, 0.1))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        for handle in (self._stdout, self._stderr):
            handle.close()
        self.result = subprocess.CompletedProcess(
            self.cmd,
            self.proc.returncode,
            _read(self.workdir / "stdout.txt"),
            _read(self.workdir / "stderr.txt"),
        )
        return self.result

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait(5)

    def describe(self) -> str:
        rc = self.proc.poll()
        parts = [
            f"sipp command: {' '.join(self.cmd)}",
            f"exit code: {rc}",
            f"--- sipp stderr ---\n{tail(_read(self.workdir / 'stderr.txt'), 40)}",
            f"--- sipp errors.log ---\n{tail(self.errors(), 60)}",
            f"--- sipp logs.log ---\n{tail(self.logs(), 40)}",
            f"--- sipp messages.log (tail) ---\n{tail(self.messages(), 150)}",
            f"--- sipp screen ---\n{tail(_read(self.workdir / 'screen.log'), 30)}",
        ]
        return "\n".join(parts)


def start_sipp(
    workdir: Path,
    scenario_path: Path,
    target: str,
    extra_args: list[str] | tuple[str, ...] = (),
    *,
    timeout: float = 20,
    keys: dict[str, object] | None = None,
    service: str = "echo",
) -> Sipp:
    """Start sipp for one call of scenario_path against target ('127.0.0.1:5060').

    Local SIP, media and control ports are fresh per run so runs never collide.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    local = "::1" if target.startswith("[") else "127.0.0.1"
    cmd = [
        sipp_path() or SIPP,
        "-sf", str(scenario_path),
        target,
        "-i", local,
        "-p", str(free_port(local)),
        "-mi", local,
        "-mp", str(free_port_block(4, local)),
        "-ci", "127.0.0.1",
        "-cp", str(free_port("127.0.0.1", tcp_too=False)),
        "-s", service,
        "-m", "1",
        "-l", "1",
        "-nostdin",
        "-timeout", f"{int(timeout)}s",
        "-timeout_error",
        "-trace_err", "-error_file", str(workdir / "errors.log"),
        "-trace_msg", "-message_file", str(workdir / "messages.log"),
        "-trace_logs", "-log_file", str(workdir / "logs.log"),
        "-trace_screen", "-screen_file", str(workdir / "screen.log"),
    ]  # fmt: skip
    for key, value in (keys or {}).items():
        cmd += ["-key", key, str(value)]
    cmd += list(extra_args)
    return Sipp(cmd, workdir, timeout)
