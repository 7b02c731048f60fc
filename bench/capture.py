"""tcpdump on loopback as a subprocess: start, wait until it listens, stop, count drops."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

START_TIMEOUT_S = 5.0


def tcpdump_path() -> str | None:
    return shutil.which("tcpdump") or next(
        (p for p in ("/usr/sbin/tcpdump", "/usr/bin/tcpdump") if os.access(p, os.X_OK)), None
    )


class Tcpdump:
    """Writes matching packets of `iface` to `path` (classic pcap, ns timestamps).

    Only the first `snaplen` bytes are kept: Ethernet + IPv4 + UDP + the RTP header fit
    in 64, which keeps the file and tcpdump's own CPU small at 40 000 packets/s.
    """

    def __init__(self, path: Path, bpf: str, iface: str = "lo", snaplen: int = 64) -> None:
        exe = tcpdump_path()
        if exe is None:
            raise FileNotFoundError("tcpdump not found (apt install tcpdump)")
        self.path = path
        self.log_path = path.with_suffix(".stderr")
        self.cmd = [
            exe, "-i", iface, "-n", "-s", str(snaplen), "-B", "32768",
            "--time-stamp-precision", "nano", "-w", str(path),
        ]  # fmt: skip
        if os.geteuid() == 0:
            self.cmd += ["-Z", "root"]  # keep root: the file is in a root-only temp dir
        self.cmd.append(bpf)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log
        )
        self.captured: int | None = None
        self.dropped: int | None = None

    def stderr(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_listening(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while "listening on" not in self.stderr():
            if self.proc.poll() is not None:
                raise RuntimeError(f"tcpdump exited {self.proc.returncode}: {self.stderr()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"tcpdump not listening after {timeout}s: {self.stderr()}")
            time.sleep(0.02)

    def stop(self) -> None:
        """SIGINT (tcpdump flushes and prints its counts), SIGKILL if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if not self._log.closed:
            self._log.close()
        text = self.stderr()
        m = re.search(r"(\d+) packets? captured", text)
        self.captured = int(m.group(1)) if m else None
        m = re.search(r"(\d+) packets? dropped by kernel", text)
        self.dropped = int(m.group(1)) if m else None
