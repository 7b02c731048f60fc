"""Start and stop the box under test (`python -m sems_lite run`) as a subprocess."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from ._net import host_port
from ._sip import options_ping

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


def default_config() -> dict[str, Any]:
    """The config the brief fixes; tests override single keys."""
    return {
        "sip": {"listen": ["udp:127.0.0.1:5060"], "user_agent": "sems_lite"},
        "rtp": {"ports": "20000-20099", "ptime": 20, "dead_rtp_timeout": 60},
        "codecs": ["PCMU", "PCMA", "telephone-event"],
        "limits": {"max_calls": 100, "retry_after": 5},
        "log_level": "debug",
        "apps": {"echo": "apps.echo"},
        "routing": [{"user": "echo", "app": "echo"}],
        "default_app": None,
        "app_config": {"echo": {"answer_delay": 0}},
    }


def merged(base: dict[str, Any], override: dict[str, Any] | None) -> dict[str, Any]:
    """Deep-merge override into a copy of base (dicts merge, anything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def tail(text: str, lines: int = 150) -> str:
    parts = text.splitlines()
    cut = parts[-lines:]
    head = f"... ({len(parts) - lines} earlier lines)\n" if len(parts) > lines else ""
    return head + "\n".join(cut)


class BoxError(RuntimeError):
    pass


class Box:
    """A running sems_lite process and where to reach it."""

    def __init__(
        self,
        proc: subprocess.Popen,
        host: str,
        port: int,
        rtp_ports: tuple[int, int],
        workdir: Path,
        config: dict[str, Any],
    ) -> None:
        self.proc = proc
        self.host = host
        self.port = port
        self.rtp_ports = rtp_ports
        self.workdir = workdir
        self.config = config
        self.exit_code: int | None = None

    @property
    def target(self) -> str:
        """host:port for sipp and SIP URIs ('[::1]:5072' for IPv6)."""
        return host_port(self.host, self.port)

    def uri(self, user: str = "echo") -> str:
        return f"sip:{user}@{self.target}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "box.stderr.log"

    def log(self) -> str:
        """Everything the box wrote to stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, wait; SIGKILL if it hangs (then returns -9). Idempotent."""
        if self.exit_code is not None:
            return self.exit_code
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.exit_code = self.proc.returncode
        return self.exit_code

    def describe(self) -> str:
        return f"sems_lite on {self.target} rtp {self.rtp_ports[0]}-{self.rtp_ports[1]}"


def start_box(
    workdir: Path,
    *,
    host: str,
    port: int,
    rtp_ports: tuple[int, int],
    config: dict[str, Any] | None = None,
    listen: list[str] | None = None,
    ready_timeout: float = READY_TIMEOUT,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
) -> Box:
    """Write the config, start the box and wait until it answers OPTIONS with 200.

    `listen` entries go to both the file and --listen flags; by default the box listens
    on host:port for UDP and TCP (the flag without a transport prefix means both).
    `env` adds to (or overrides) the inherited environment, e.g. {"SEMS_LITE_NATIVE": "0"}.
    `args` are more command-line flags, e.g. ["--workers", "2"].
    """
    workdir.mkdir(parents=True, exist_ok=True)
    flags = listen or [host_port(host, port)]
    file_listen = listen or [f"udp:{host_port(host, port)}", f"tcp:{host_port(host, port)}"]
    low, high = rtp_ports
    cfg = merged(default_config(), config)
    cfg["sip"]["listen"] = file_listen
    cfg["rtp"]["ports"] = f"{low}-{high}"
    cfg_path = workdir / "sems_lite.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    cmd = [sys.executable, "-m", "sems_lite", "run", "--config", str(cfg_path)]
    for entry in flags:
        cmd += ["--listen", entry]
    cmd += ["--rtp-ports", f"{low}-{high}", "--log-level", "debug", *(args or [])]
    extra_env = " ".join(f"{k}={v}" for k, v in (env or {}).items())
    (workdir / "box.cmd").write_text((extra_env + " " if extra_env else "") + " ".join(cmd) + "\n")
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", SEMS_LITE_LOG_TIME="1", **(env or {}))
    with (
        open(workdir / "box.stderr.log", "wb") as err,
        open(workdir / "box.stdout.log", "wb") as out,
    ):
        proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=full_env
        )
    box = Box(proc, host, port, rtp_ports, workdir, cfg)
    try:
        wait_ready(box, ready_timeout)
    except BaseException:
        box.stop()
        raise
    return box


def wait_ready(box: Box, timeout: float) -> None:
    """Poll with OPTIONS until a 200 comes back; fail with the box's stderr otherwise."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if not box.alive():
            raise BoxError(
                f"{box.describe()} exited with {box.proc.returncode} before it was ready\n"
                f"command: {(box.workdir / 'box.cmd').read_text()}"
                f"--- stderr ---\n{tail(box.log())}"
            )
        last = options_ping(box.host, box.port, timeout=0.3)
        if last is not None and last.status == 200:
            return
        time.sleep(0.1)
    got = last.start_line if last else "no answer"
    raise BoxError(
        f"{box.describe()} did not answer OPTIONS with 200 within {timeout:.0f} s ({got})\n"
        f"command: {(box.workdir / 'box.cmd').read_text()}"
        f"--- stderr ---\n{tail(box.log())}"
    )
