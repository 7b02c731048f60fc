"""Footprint of sems_lite: per-board build sizes, per-kernel instruction counts, and the
memory, start-up time and imports of a running box.

    python bench/footprint.py                 board sizes (what `make cross-all` prints)
    python bench/footprint.py --callgrind     + instructions per 160-sample frame per kernel
    python bench/footprint.py --box           + RSS idle / with calls, start-up, modules
    python bench/footprint.py --all           all three
    ... --json                                JSON lines only, no tables
    ... --box --configs router --calls 10     one config, one call count

Sizes: per board built by `make cross` / `make package`, the .so's file size and the bytes
its LOAD segments map, the .ipk's size and its Installed-Size.

Callgrind: the C kernels (native/*.c, `-Os` as the embedded profile, zig for
x86_64-linux-musl or `--cc`) linked into a small driver that calls one kernel REPS times
on one frame; `valgrind --tool=callgrind --toggle-collect=<kernel>` counts the
instructions inside the kernel (callees included), divided by REPS. x86-64 instructions:
the same C on MIPS or ARM executes a different but comparable number.

Box (x86-64, this Python): `sems-lite run` with etc/sems_lite.yaml ("default") and with
boards/openwrt's router config ("router"), each on free loopback ports:
- start-up: from the process start to the first 200 to an OPTIONS (polled every 10 ms);
- modules: len(sys.modules) once idle (a SIGUSR1 handler installed before the box runs);
- RSS idle (VmRSS, and Pss) 1 s after start-up, then with N echo calls up, each streaming
  PCMU both ways (sipp RTPSTREAM looping a 1 s signal; the box echoes it). max_calls and
  the RTP range are raised where the config's are too small for N (the JSON says so).
Every wait is bounded; sipp and the box are killed on any failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "boards"))
sys.path.insert(0, str(ROOT / "bench"))

import board as boards  # noqa: E402  (boards/ is not a package)
from common import emit_json, free_port, free_port_range, print_table  # noqa: E402

# --- sizes ----------------------------------------------------------------------------


def mapped_bytes(path: Path) -> int | None:
    """Sum of MemSiz over the LOAD program headers, or None without readelf."""
    try:
        out = subprocess.run(
            ["readelf", "-l", "-W", str(path)], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    # LOAD Offset VirtAddr PhysAddr FileSiz MemSiz Flg Align
    return sum(
        int(m.group(1), 16) for m in re.finditer(r"^\s*LOAD(?:\s+\S+){4}\s+(\S+)", out, re.M)
    )


def ipk_installed_size(path: Path) -> int | None:
    """Installed-Size from the control file of an .ipk (tar.gz of control.tar.gz, ...)."""
    try:
        with tarfile.open(path) as outer:
            member = next(m for m in outer.getmembers() if m.name.endswith("control.tar.gz"))
            inner_file = outer.extractfile(member)
            if inner_file is None:
                return None
            with tarfile.open(fileobj=inner_file) as inner:
                ctl = next(m for m in inner.getmembers() if m.name.endswith("control"))
                text = inner.extractfile(ctl).read().decode()  # type: ignore[union-attr]
    except (OSError, StopIteration, tarfile.TarError):
        return None
    m = re.search(r"^Installed-Size:\s*(\d+)", text, re.M)
    return int(m.group(1)) if m else None


def measure(build: Path = ROOT / "build") -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for name in boards.names():
        so = build / name / "libsems_kernels.so"
        row: dict[str, object] = {"board": name, "built": so.is_file()}
        if so.is_file():
            row["so_bytes"] = so.stat().st_size
            row["mapped_bytes"] = mapped_bytes(so)
            flags = build / name / "flags"
            row["flags"] = flags.read_text().strip() if flags.is_file() else None
        ipks = sorted((build / name).glob("*.ipk")) if (build / name).is_dir() else []
        if ipks:
            row["ipk_bytes"] = ipks[-1].stat().st_size
            row["installed_bytes"] = ipk_installed_size(ipks[-1])
        rows.append(row)
    return rows


def print_sizes(rows: list[dict[str, object]]) -> None:
    table = []
    for r in rows:
        if r["built"]:
            table.append(
                [
                    r["board"],
                    r["so_bytes"],
                    r["mapped_bytes"] or "?",
                    r.get("ipk_bytes", "-"),
                    r.get("installed_bytes") or "-",
                ]
            )
        else:
            table.append([r["board"], "not built", "", "", ""])
    print_table(table, ["board", ".so bytes", "mapped", ".ipk bytes", "installed"])


# --- instructions per kernel (callgrind) ----------------------------------------------

FRAME = 160
REPS = 1000
# kernel -> the C function callgrind counts
KERNELS = {
    "ulaw_encode": "sk_ulaw_encode",
    "ulaw_decode": "sk_ulaw_decode",
    "alaw_encode": "sk_alaw_encode",
    "alaw_decode": "sk_alaw_decode",
    "gain": "sk_gain",
    "add": "sk_add",
    "mix x5": "sk_mix",
    "resample 8k->16k": "sk_resample",
    "resample 16k->8k": "sk_resample",
    "tone (2 sines)": "sk_tone_read",
    "dtmf feed": "sk_dtmf_feed",
}
DRIVER_C = r"""
/* Calls one kernel REPS times on one 20 ms frame (argv[1] names it); for callgrind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sems_kernels.h"
#define N 160
static int16_t pcm[2 * N], pcm2[N], out[4 * N], frames[5 * N], minus[5 * N];
static uint8_t law[N];
int main(int argc, char **argv)
{
    sk_resampler rs;
    sk_tone tone;
    sk_dtmf dtmf;
    sk_dtmf_event ev[8];
    uint32_t x = 4475;
    long reps = argc > 2 ? atol(argv[2]) : 1000, r;
    const char *k = argc > 1 ? argv[1] : "";
    int i;
    for (i = 0; i < 5 * N; i++) { /* noise at about -10 dBFS */
        x = x * 1103515245u + 12345u;
        frames[i] = (int16_t)((int32_t)(x >> 16) - 32768) / 3;
    }
    memcpy(pcm, frames, sizeof pcm);
    memcpy(pcm2, frames + 2 * N, sizeof pcm2);
    sk_ulaw_encode(pcm, law, N);
    sk_resampler_init(&rs, strcmp(k, "resample 8k->16k") == 0);
    sk_tone_init(&tone, 188978561u, 236223201u, 8000); /* 350 + 440 Hz at 8 kHz */
    sk_dtmf_init(&dtmf, 8000);
    for (r = 0; r < reps; r++) {
        if (!strcmp(k, "ulaw_encode")) sk_ulaw_encode(pcm, law, N);
        else if (!strcmp(k, "ulaw_decode")) sk_ulaw_decode(law, out, N);
        else if (!strcmp(k, "alaw_encode")) sk_alaw_encode(pcm, law, N);
        else if (!strcmp(k, "alaw_decode")) sk_alaw_decode(law, out, N);
        else if (!strcmp(k, "gain")) sk_gain(pcm, out, N, 2896);
        else if (!strcmp(k, "add")) sk_add(pcm, pcm2, out, N);
        else if (!strcmp(k, "mix x5")) sk_mix(frames, 5, N, out, minus);
        else if (!strcmp(k, "resample 8k->16k")) sk_resample(&rs, pcm, N, out);
        else if (!strcmp(k, "resample 16k->8k")) sk_resample(&rs, pcm, 2 * N, out);
        else if (!strcmp(k, "tone (2 sines)")) sk_tone_read(&tone, out, N);
        else if (!strcmp(k, "dtmf feed")) sk_dtmf_feed(&dtmf, pcm, N, ev, 8);
        else { fprintf(stderr, "unknown kernel %s\n", k); return 2; }
    }
    printf("%d %d\n", out[0], law[0]); /* the results are used */
    return 0;
}
"""


def build_driver(workdir: Path, cc: list[str], opt: str) -> Path:
    """The kernel driver, compiled with the kernels' own sources and flags (with symbols)."""
    src = workdir / "kbench.c"
    src.write_text(DRIVER_C)
    exe = workdir / "kbench"
    sources = sorted(str(p) for p in (ROOT / "native").glob("*.c"))
    cmd = [*cc, "-std=c99", opt, "-g", f"-I{ROOT / 'native'}", "-o", str(exe), str(src), *sources]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    return exe


def default_cc() -> tuple[list[str], str]:
    """zig for x86_64-linux-musl as the x86-64 board builds it, else the system cc."""
    import importlib.util

    if importlib.util.find_spec("ziglang") is None:
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            raise RuntimeError("no C compiler: pip install ziglang, or apt-get install gcc")
        return [cc], "cc"
    os.environ.setdefault("ZIG_GLOBAL_CACHE_DIR", str(ROOT / "build" / "zig-cache"))
    os.environ.setdefault("ZIG_LOCAL_CACHE_DIR", str(ROOT / "build" / "zig-cache"))
    return [sys.executable, "-m", "ziglang", "cc", "-target", "x86_64-linux-musl"], "zig"


def callgrind_counts(cc: list[str] | None = None, opt: str = "-Os") -> list[dict[str, Any]]:
    """Instructions per frame of each kernel, or [] (with a note) without valgrind."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise RuntimeError("valgrind not found (apt-get install valgrind)")
    compiler, label = (cc, cc[0]) if cc else default_cc()
    rows = []
    with tempfile.TemporaryDirectory(prefix="sems_callgrind_") as tmp:
        work = Path(tmp)
        exe = build_driver(work, compiler, opt)
        for kernel, function in KERNELS.items():
            out = work / "callgrind.out"
            subprocess.run(
                [
                    valgrind,
                    "--tool=callgrind",
                    f"--callgrind-out-file={out}",
                    f"--toggle-collect={function}",
                    str(exe),
                    kernel,
                    str(REPS),
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
            m = re.search(r"^(?:summary|totals):\s*(\d+)", out.read_text(), re.M)
            if m is None:
                raise RuntimeError(f"no instruction total in callgrind output for {kernel}")
            per_frame = int(m.group(1)) / REPS
            rows.append(
                {
                    "kernel": kernel,
                    "function": function,
                    "instructions_per_frame": round(per_frame),
                    "instructions_per_sample": round(per_frame / FRAME, 2),
                    "compiler": label,
                    "opt": opt,
                }
            )
    return rows


# --- the box on x86-64: start-up, modules, RSS idle and with calls -------------------

CONFIGS = {
    "default": ROOT / "etc" / "sems_lite.yaml",
    "router": ROOT / "boards" / "openwrt" / "files" / "sems_lite.yaml",
}
READY_TIMEOUT = 30.0
SETTLE = 1.0  # s after start-up before the idle reading
CALL_RATE = 20  # calls/s while bringing calls up
CALLS_UP_SLACK = 15.0  # s beyond N / rate for every call to be up
MODULES_TIMEOUT = 5.0
# Runs the box as `python -m sems_lite` does, with a SIGUSR1 handler installed first that
# writes the names in sys.modules to the file named by SEMS_BENCH_MODULES.
WRAPPER = """\
import os, runpy, signal, sys
def _dump(signum, frame):
    with open(os.environ["SEMS_BENCH_MODULES"], "w") as f:
        f.write("\\n".join(sorted(sys.modules)))
signal.signal(signal.SIGUSR1, _dump)
sys.argv[0] = "sems-lite"
runpy.run_module("sems_lite", run_name="__main__", alter_sys=True)
"""


def box_config(
    kind: str, workdir: Path, sip_port: int, control_port: int, calls: int
) -> tuple[Path, dict[str, Any]]:
    """A copy of a shipped config on our ports; returns (path, what was changed)."""
    import yaml

    src = CONFIGS[kind]
    cfg = yaml.safe_load(src.read_text())
    changed: dict[str, Any] = {}
    cfg["sip"]["listen"] = [f"udp:127.0.0.1:{sip_port}", f"tcp:127.0.0.1:{sip_port}"]
    cfg.setdefault("control", {})["listen"] = f"127.0.0.1:{control_port}"
    low, high = (int(p) for p in cfg["rtp"]["ports"].split("-"))
    need = max(high - low + 1, 4 * calls + 16)  # two ports a call, twice over
    lo, hi = free_port_range(need, low=30000, high=60000)
    cfg["rtp"]["ports"] = f"{lo}-{hi}"
    if need > high - low + 1:
        changed["rtp_ports"] = need
    limits = cfg.setdefault("limits", {})
    if limits.get("max_calls", 100) < calls:
        limits["max_calls"] = calls
        changed["max_calls"] = calls
    # prompts: relative paths are relative to the shipped file; the router's are absolute
    # paths of the installed package, here the checkout's etc/prompts
    for settings in (cfg.get("app_config") or {}).values():
        for key in ("announce_path", "default_announce"):
            value = settings.get(key) if isinstance(settings, dict) else None
            if isinstance(value, str):
                if value.startswith("/usr/share/sems_lite/prompts"):
                    value = str(ROOT / "etc") + value[len("/usr/share/sems_lite") :]
                settings[key] = str((src.parent / value).resolve())
    path = workdir / f"{kind}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path, changed


def options_answered(sock: socket.socket, port: int, n: int) -> bool:
    local = f"127.0.0.1:{sock.getsockname()[1]}"
    msg = (
        f"OPTIONS sip:ping@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {local};branch=z9hG4bK-fp-{n};rport\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:bench@{local}>;tag=fp\r\n"
        f"To: <sip:ping@127.0.0.1:{port}>\r\nCall-ID: fp-{n}-{os.getpid()}@bench\r\n"
        "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    sock.sendto(msg.encode(), ("127.0.0.1", port))
    try:
        return sock.recv(65535).startswith(b"SIP/2.0 200")
    except (TimeoutError, ConnectionRefusedError):
        return False


def memory_kb(pid: int) -> dict[str, int | None]:
    """VmRSS and VmHWM from /proc/<pid>/status, Pss from smaps_rollup."""
    out: dict[str, int | None] = {"rss_kb": None, "hwm_kb": None, "pss_kb": None}
    keys = {"VmRSS": "rss_kb", "VmHWM": "hwm_kb"}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name = line.split(":")[0]
            if name in keys:
                out[keys[name]] = int(line.split()[1])
    with contextlib.suppress(OSError):
        m = re.search(r"^Pss:\s+(\d+)", Path(f"/proc/{pid}/smaps_rollup").read_text(), re.M)
        out["pss_kb"] = int(m.group(1)) if m else None
    return out


@contextlib.contextmanager
def running_box(cfg: Path, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = dict(os.environ, SEMS_BENCH_MODULES=str(workdir / "modules.txt"))
    with open(workdir / "box.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", WRAPPER, "run", "--config", str(cfg)],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def wait_started(proc: subprocess.Popen[bytes], port: int, started: float, log: Path) -> float:
    """Seconds from `started` to the first 200 to OPTIONS."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.01)
        n = 0
        while time.monotonic() - started < READY_TIMEOUT:
            if proc.poll() is not None:
                raise RuntimeError(f"box exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
            n += 1
            if options_answered(sock, port, n):
                return time.monotonic() - started
    raise RuntimeError(f"box did not answer OPTIONS within {READY_TIMEOUT} s")


def loaded_modules(proc: subprocess.Popen[bytes], workdir: Path) -> list[str]:
    dump = workdir / "modules.txt"
    proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + MODULES_TIMEOUT
    while time.monotonic() < deadline:
        if dump.is_file() and dump.stat().st_size:
            time.sleep(0.05)  # let the handler finish writing
            return dump.read_text().split()
        time.sleep(0.02)
    raise RuntimeError("the box did not write its module list")


def calls_up(control_port: int) -> int | None:
    from sems_lite.ctl import CtlError, rpc

    try:
        return int(rpc(f"http://127.0.0.1:{control_port}", "status", timeout=2.0)["calls"])
    except (CtlError, KeyError, TypeError, ValueError):
        return None


def rtp_packets(control_port: int) -> dict[str, int]:
    """sems_lite_rtp_packets_total by direction, from the box's /metrics."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{control_port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return {}
    rx = r'^sems_lite_rtp_packets_total\{direction="(in|out)"\} (\d+)'
    return {d: int(v) for d, v in re.findall(rx, text, re.M)}


def signal_ulaw(seconds: float = 1.0) -> bytes:
    """A 1 s two-tone signal in PCMU for sipp to loop."""
    from sems_lite import native

    n = int(8000 * seconds)
    pcm = array(
        "h",
        (
            int(6000 * math.sin(2 * math.pi * 440 * i / 8000))
            + int(4000 * math.sin(2 * math.pi * 1130 * i / 8000))
            for i in range(n)
        ),
    )
    return native.ulaw_encode(pcm.tobytes())


def place_calls(workdir: Path, sip_port: int, calls: int, hold_s: float) -> subprocess.Popen[bytes]:
    """sipp bringing `calls` echo calls up at CALL_RATE, each streaming PCMU for hold_s."""
    raw = workdir / "signal.ulaw"
    if not raw.is_file():
        raw.write_bytes(signal_ulaw())
    text = (ROOT / "tests/interop/scenarios/uac_rtp_stream.xml").read_text()
    if "signal.ulaw,1,0" not in text:
        raise RuntimeError("uac_rtp_stream.xml changed: no 'signal.ulaw,1,0' to loop")
    scenario = workdir / "calls.xml"
    scenario.write_text(text.replace("signal.ulaw,1,0", f"{raw},-1,0"))  # loop until BYE
    media, _ = free_port_range(4 * calls + 16, low=20000, high=30000)
    cmd = [
        "sipp", "-sf", str(scenario), f"127.0.0.1:{sip_port}",
        "-i", "127.0.0.1", "-p", str(free_port()),
        "-mi", "127.0.0.1", "-mp", str(media),
        "-s", "echo",
        "-r", str(CALL_RATE), "-l", str(calls), "-m", str(calls),
        "-d", str(int(hold_s * 1000)),
        "-timeout", f"{int(hold_s + calls / CALL_RATE + 30)}s", "-timeout_error",
        "-nostdin", "-trace_err", "-error_file", str(workdir / f"sipp{calls}.err"),
    ]  # fmt: skip
    with open(workdir / f"sipp{calls}.log", "wb") as log:
        return subprocess.Popen(cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=log)


def stop_sipp(sipp: subprocess.Popen[bytes], timeout: float) -> int:
    try:
        return sipp.wait(timeout)
    except subprocess.TimeoutExpired:
        sipp.kill()
        sipp.wait(5)
        return -9


def measure_box(kind: str, call_counts: list[int]) -> dict[str, Any]:
    """Start-up, modules, idle memory and memory with each number of calls, one box."""
    from sems_lite import native

    most = max(call_counts, default=0)
    result: dict[str, Any] = {"bench": "footprint-box", "config": kind}
    with tempfile.TemporaryDirectory(prefix=f"sems_fp_{kind}_") as tmp:
        work = Path(tmp)
        sip_port, control_port = free_port(), free_port()
        cfg, changed = box_config(kind, work, sip_port, control_port, most)
        result["config_file"] = str(CONFIGS[kind].relative_to(ROOT))
        result["changed_for_bench"] = changed
        result["kernels"] = native.IMPLEMENTATION
        result["python"] = sys.version.split()[0]
        started = time.monotonic()
        with running_box(cfg, work) as proc:
            result["startup_s"] = round(wait_started(proc, sip_port, started, work / "box.log"), 3)
            time.sleep(SETTLE)
            result["idle"] = memory_kb(proc.pid)
            modules = loaded_modules(proc, work)
            result["modules"] = len(modules)
            result["modules_third_party"] = sorted(
                {m.split(".")[0] for m in modules} & {"yaml", "_yaml", "cffi", "_cffi_backend"}
            )
            result["modules_sems_lite"] = sum(1 for m in modules if m.startswith("sems_lite"))
            result["with_calls"] = []
            for calls in call_counts:
                ramp = calls / CALL_RATE
                sipp = place_calls(work, sip_port, calls, hold_s=ramp + CALLS_UP_SLACK)
                try:
                    up, deadline = 0, time.monotonic() + ramp + CALLS_UP_SLACK - 3
                    while time.monotonic() < deadline and sipp.poll() is None:
                        up = calls_up(control_port) or 0
                        if up >= calls:
                            break
                        time.sleep(0.25)
                    before, t0 = rtp_packets(control_port), time.monotonic()
                    time.sleep(1.0)  # a second of media on every call
                    after, t1 = rtp_packets(control_port), time.monotonic()
                    reading: dict[str, Any] = {"calls": calls, "calls_up": calls_up(control_port)}
                    reading.update(memory_kb(proc.pid))
                    reading["rtp_pps"] = {  # media flows both ways while memory is read
                        d: round((after[d] - before.get(d, 0)) / (t1 - t0)) for d in after
                    }
                finally:
                    code = stop_sipp(sipp, ramp + CALLS_UP_SLACK + 30)
                reading["sipp_exit"] = code  # 0: every call completed
                result["with_calls"].append(reading)
    return result


def baseline_modules() -> int:
    """len(sys.modules) of this Python doing nothing, for comparison."""
    out = subprocess.run(
        [sys.executable, "-c", "import sys; print(len(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return int(out.stdout)


def print_box(results: list[dict[str, Any]], baseline: int) -> None:
    rows = []
    for r in results:
        idle = r["idle"]
        rows.append([r["config"], "idle", idle["rss_kb"], idle["pss_kb"], "", r["startup_s"]])
        for c in r["with_calls"]:
            rows.append(
                [
                    r["config"],
                    f"{c['calls']} calls",
                    c["rss_kb"],
                    c["pss_kb"],
                    c["calls_up"],
                    "",
                    "/".join(str(c["rtp_pps"].get(d, "?")) for d in ("in", "out")),
                ]
            )
    header = ["config", "state", "RSS kB", "PSS kB", "calls up", "start-up s", "RTP pps in/out"]
    print_table([row + [""] * (len(header) - len(row)) for row in rows], header)
    for r in results:
        print(
            f"{r['config']}: {r['modules']} modules at idle ({r['modules_sems_lite']} sems_lite, "
            f"bare python {baseline}); kernels {r['kernels']}; changed for the bench: "
            f"{r['changed_for_bench'] or 'nothing'}"
        )


# --- main -----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="JSON lines only, no tables")
    parser.add_argument("--callgrind", action="store_true", help="kernel instruction counts")
    parser.add_argument("--box", action="store_true", help="RSS, start-up and modules")
    parser.add_argument("--all", action="store_true", help="sizes, callgrind and box")
    parser.add_argument("--configs", default="default,router", help="box configs to run")
    parser.add_argument("--calls", default="10,100", help="echo calls to hold, e.g. 10,100")
    parser.add_argument("--cc", help="C compiler for the kernel driver (default: zig)")
    parser.add_argument("--opt", default="-Os", help="optimisation for the kernels (-Os, -O3)")
    args = parser.parse_args()
    if args.json:
        emit_json({"bench": "footprint", "boards": measure()})
    else:
        print_sizes(measure())
    if args.callgrind or args.all:
        rows = callgrind_counts(args.cc.split() if args.cc else None, args.opt)
        if args.json:
            emit_json({"bench": "footprint-callgrind", "frame": FRAME, "kernels": rows})
        else:
            print()
            print_table(
                [
                    [r["kernel"], r["instructions_per_frame"], r["instructions_per_sample"]]
                    for r in rows
                ],
                ["kernel (160-sample frame)", "instructions", "per sample"],
            )
            print(f"(x86-64, {rows[0]['compiler']} {rows[0]['opt']}; valgrind --tool=callgrind)")
    if args.box or args.all:
        counts = [int(c) for c in args.calls.split(",") if c]
        results = [measure_box(kind, counts) for kind in args.configs.split(",") if kind]
        baseline = baseline_modules()
        for r in results:
            r["modules_bare_python"] = baseline
            if args.json:
                emit_json(r)
        if not args.json:
            print()
            print_box(results, baseline)
            for r in results:
                print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
