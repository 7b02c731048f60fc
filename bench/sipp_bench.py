"""The sipp-driven benchmark of issue 5: echo, announcement, conference and call rate.

    python bench/sipp_bench.py                       # short matrix (make bench, < 5 min)
    python bench/sipp_bench.py --matrix full         # 10..800 channels (make bench-full)
    python bench/sipp_bench.py --workload echo --channels 100 [--impl fallback]
    python bench/sipp_bench.py --workload echo --channels 100 --profile 10

Every run starts its own box (`python -m sems_lite run` on a generated bench config) and
its own sipp on loopback, and measures the box's CPU over the plateau where all calls are
up (minus its idle CPU, per channel), the RTP inter-arrival at the caller from a tcpdump
capture on lo, and the box's RSS idle / at the plateau / after the load. One JSON line
per run, a table at the end. Method and results: bench/README.md.

Not a test: numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import procfs
from benchconf import STREAM_AUDIO, write_config
from capture import Tcpdump, tcpdump_path
from common import (
    Box,
    box_implementation,
    command_line,
    emit_json,
    free_port,
    free_port_range,
    print_table,
    wait_ready,
)
from pcapread import iter_udp
from rtp_timing import interarrival_stats, rtp_streams
from sipprun import HOST, SippRun, scenario_copy
from sippstat import exit_meaning, failed_percent

MEDIA = ("echo", "announcement", "conf10", "conf50")
WORKLOADS = (*MEDIA, "callrate")
ROOM_SIZE = {"conf10": 10, "conf50": 50}
MATRICES = {
    "short": {
        "echo": [10, 100],
        "announcement": [100],
        "conf10": [10],
        "callrate": [200, 500],
    },
    "full": {
        "echo": [10, 50, 100, 200, 400, 800],
        "announcement": [10, 50, 100, 200, 400, 800],
        "conf10": [10, 50, 100, 200, 400, 800],
        "conf50": [50, 100, 200, 400, 800],
        "callrate": [200, 500, 800, 1000],
    },
}
PROMPT_S = 30.0  # the announcement's prompt; its calls end on their own after it
RSS_BACK_KB = 5 * 1024  # "back within 5 MB of idle"
UP_GRACE_S = 15.0  # beyond the ramp, for all calls to be answered
SAMPLE_S = 0.5  # RSS sampling period on the plateau
SATURATED_PCT = 90.0  # box CPU on the plateau, % of its one core
SATURATED_P50_MS = 21.0  # median inter-arrival drifting off 20 ms: ticks run late


class RunTimeout(Exception):
    """A run went past its hard time limit (SIGALRM)."""


def _alarm(_signum: int, _frame: object) -> None:
    raise RunTimeout


def _terminate(_signum: int, _frame: object) -> None:
    raise SystemExit(143)  # unwinds through the finally blocks, which stop every process


# --- one run -------------------------------------------------------------------------
def box_env(impl: str) -> dict[str, str]:
    env = dict(os.environ)
    if impl == "fallback":
        env["SEMS_LITE_NATIVE"] = "0"
    else:
        env.pop("SEMS_LITE_NATIVE", None)
    return env


def run_budget_s(workload: str, n: int, args: argparse.Namespace) -> float:
    """The hard time limit of one run: generous, but finite."""
    if workload == "callrate":
        return 60 + 3 * args.callrate_seconds + args.callrate_settle
    ramp = n / args.ramp_rate
    hold = PROMPT_S if workload == "announcement" else args.warmup + args.plateau
    return 90 + args.idle + 3 * ramp + hold + args.settle + (args.profile or 0)


class Run:
    """Everything one run starts, so that `close` can stop all of it."""

    def __init__(self, workload: str, n: int, args: argparse.Namespace) -> None:
        self.workload, self.n, self.args = workload, n, args
        self.workdir = Path(tempfile.mkdtemp(prefix="sems_sipp_bench_"))
        self.box: Box | None = None
        self.sipp: SippRun | None = None
        self.capture: Tcpdump | None = None
        self.profiler = None
        self.rtp_range = (0, 0)
        self.pids: list[int] = []
        self.result: dict = {}

    def close(self) -> None:
        for stop in (
            lambda: self.capture and self.capture.stop(),
            lambda: self.profiler and _stop_profiler(self.profiler),
            lambda: self.sipp and self.sipp.kill(),
            lambda: self.box and self.box.stop(),
        ):
            try:
                stop()
            except Exception as exc:  # keep stopping the others
                self.result.setdefault("cleanup_errors", []).append(repr(exc))
        if self.box is not None:
            self.result["box_exit"] = self.box.exit_code
            if self.box.exit_code not in (0, None):
                self.result["box_log_tail"] = self.box.log_tail(10)
            self.box.cleanup()
        if not self.args.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            self.result["workdir"] = str(self.workdir)

    # -- the box ------------------------------------------------------------------------
    def start_box(self, max_calls: int, room_size: int) -> tuple[str, int]:
        args = self.args
        config = write_config(self.workdir, max_calls=max_calls, room_size=room_size)
        sip_port = free_port(HOST)
        self.rtp_range = free_port_range(2 * max_calls + 40, HOST)
        env = box_env(args.impl)
        self.result["impl"] = box_implementation(args.python, env)
        self.box = Box(
            args.python,
            str(config),
            f"{HOST}:{sip_port}",
            f"{self.rtp_range[0]}-{self.rtp_range[1]}",
            env,
            ("--workers", str(args.workers)),
        )
        self.result["workers"] = args.workers
        target = (HOST, sip_port)
        wait_ready(self.box, target)
        self.pids = procfs.tree(self.box.pid)
        return target

    def cpu(self) -> int:
        return procfs.cpu_ns(self.pids, self.args.cpu_source)

    def rss(self) -> int:
        return procfs.rss_kb(self.pids)

    def measure_idle(self) -> float:
        """% of a core the box uses with no call (its fixed cost), over --idle seconds."""
        c0, t0 = self.cpu(), time.monotonic_ns()
        time.sleep(self.args.idle)
        c1, t1 = self.cpu(), time.monotonic_ns()
        self.result["rss_idle_kb"] = self.rss()
        return 100.0 * (c1 - c0) / (t1 - t0)


def _start_profiler(pid: int, seconds: float, out: Path):  # -> subprocess.Popen
    import subprocess

    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    cmd = [exe, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "250",
           "-f", "raw", "-o", str(out), "--nonblocking"]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _stop_profiler(proc) -> None:  # subprocess.Popen
    import subprocess

    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def media_run(run: Run) -> None:
    """echo, announcement, conference: N calls up, a plateau, then the calls end."""
    args, n, workload, res = run.args, run.n, run.workload, run.result
    room = ROOM_SIZE.get(workload, 0)
    target = run.start_box(max_calls=n + 10, room_size=room)
    idle_pct = run.measure_idle()
    ramp_s = n / args.ramp_rate
    hold_s = 1.5 * ramp_s + UP_GRACE_S / 2 + args.warmup + args.plateau + 3 + (args.profile or 0)
    if workload == "announcement":
        scenario = scenario_copy("wait_bye", run.workdir, {})
        extra = ["-s", "announcement"]
        budget = ramp_s + PROMPT_S + UP_GRACE_S + 20
    else:
        scenario = scenario_copy("stream_call", run.workdir, {"@AUDIO@": str(STREAM_AUDIO)})
        rooms = run.workdir / "calls.csv"
        names = [f"conf-{i // room}" if room else "echo" for i in range(n)]
        rooms.write_text("SEQUENTIAL\n" + "".join(f"{name};\n" for name in names))
        extra = ["-inf", str(rooms), "-d", str(int(hold_s * 1000))]
        budget = hold_s + 2 * ramp_s + UP_GRACE_S + 20
    extra += ["-m", str(n), "-l", str(n), "-r", f"{args.ramp_rate:g}"]
    run.sipp = sipp = SippRun(run.workdir, scenario, f"{target[0]}:{target[1]}", extra, budget)
    started = time.monotonic()
    # 1. all calls up (sipp logs "UP" after each ACK)
    up_deadline = started + 1.5 * ramp_s + UP_GRACE_S
    up = 0
    while time.monotonic() < up_deadline and sipp.running():
        up = sipp.count_log("UP")
        if up >= n:
            break
        time.sleep(0.1)
    res["calls_up"] = up = sipp.count_log("UP")
    res["setup_s"] = round(time.monotonic() - started, 2)
    if up == 0:
        raise RuntimeError(f"no call came up; sipp: {sipp.errors_tail()}")
    # 2. the capture, then a short settling time
    if not args.no_capture and tcpdump_path():
        low, high = run.rtp_range
        bpf = f"udp and src portrange {low}-{high} and dst port {sipp.media_port}"
        run.capture = Tcpdump(run.workdir / "rtp.pcap", bpf)
        run.capture.wait_listening()
    time.sleep(args.warmup)
    # 3. the plateau: it must end before the first call does
    first_end = started + (PROMPT_S if workload == "announcement" else hold_s) - 1.0
    plateau = min(args.plateau, first_end - time.monotonic())
    if plateau < 1.0:
        raise RuntimeError(f"no plateau left ({plateau:.1f}s): raise --ramp-rate")
    if args.profile:
        run.profiler = _start_profiler(run.box.pid, args.profile, run.workdir / "spy.txt")
    wall0, c0, m0 = time.time_ns(), run.cpu(), time.monotonic_ns()
    rss_peak, still_up = 0, sipp.running()
    end = time.monotonic() + plateau
    while time.monotonic() < end:
        rss_peak = max(rss_peak, run.rss())
        time.sleep(min(SAMPLE_S, max(end - time.monotonic(), 0)))
    c1, m1, wall1 = run.cpu(), time.monotonic_ns(), time.time_ns()
    still_up = still_up and sipp.running()
    if run.capture is not None:
        run.capture.stop()
    if run.profiler is not None:
        _stop_profiler(run.profiler)
        res["profile"] = _profile(run.workdir / "spy.txt", run.profiler)
        run.profiler = None
    # 4. the calls end (sipp's BYEs, or the box's after the prompt), then the leftovers
    res["sipp_exit"] = sipp.wait(started + budget + 5 - time.monotonic())
    res["sipp_exit_meaning"] = exit_meaning(res["sipp_exit"])
    time.sleep(args.settle)
    res["rss_after_kb"] = run.rss()
    plateau_pct = 100.0 * (c1 - c0) / (m1 - m0)
    stats = sipp.stats()
    res.update(
        {
            "cpu_pct_idle": round(idle_pct, 3),
            "cpu_pct_plateau": round(plateau_pct, 3),
            "cpu_pct_per_channel": round((plateau_pct - idle_pct) / up, 4),
            "plateau_s": round((m1 - m0) / 1e9, 2),
            "sipp_alive_through_plateau": still_up,
            "rss_plateau_kb": rss_peak,
            "failures": stats.get("FailedCall"),
            "sipp": stats,
        }
    )
    if run.capture is not None:
        res.update(_timing(run.capture, (wall0, wall1), up, (m1 - m0) / 1e9))
    # Past this the box no longer keeps up: CPU per channel is just 100 % / N.
    res["saturated"] = plateau_pct >= SATURATED_PCT or res.get("p50_ms", 0) > SATURATED_P50_MS


def _timing(cap: Tcpdump, window: tuple[int, int], calls: int, seconds: float) -> dict:
    data = cap.path.read_bytes() if cap.path.exists() else b""
    if not data:
        return {"capture": "empty"}
    stats = interarrival_stats(rtp_streams(iter_udp(data), payload_type=0, window_ns=window))
    return {
        "p99_ms": stats["iat_p99_ms"],
        "p50_ms": stats["iat_p50_ms"],
        "max_ms": stats["iat_max_ms"],
        "rtp_streams": stats["streams"],
        "rtp_packets": stats["packets"],
        "rtp_expected": round(calls * seconds * 50),
        "rtp_lost_seq": stats["lost_seq"],
        "capture_dropped": cap.dropped,
    }


def _profile(path: Path, proc) -> dict:
    import spytop

    if not path.exists():
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        return {"error": f"py-spy wrote nothing: {err.strip()[-300:]}"}
    rows = spytop.top(path.read_text(), 15)
    return {"top": [r._asdict() for r in rows], "markdown": spytop.markdown(rows)}


def callrate_run(run: Run) -> None:
    """INVITE/200/ACK/BYE/200 at `rate` calls/s for --callrate-seconds, no media."""
    args, rate, res = run.args, run.n, run.result
    count = int(rate * args.callrate_seconds)
    # Calls last a round trip: a few seconds' worth of concurrent calls is plenty.
    target = run.start_box(max_calls=max(1000, 4 * rate), room_size=0)
    idle_pct = run.measure_idle()
    scenario = scenario_copy("call_rate", run.workdir, {})
    budget = 3 * args.callrate_seconds + 30
    extra = ["-s", "echo", "-r", str(rate), "-m", str(count), "-l", str(max(count, 1))]
    extra += ["-recv_timeout", "10000"]  # an unanswered call fails instead of hanging
    c0, m0 = run.cpu(), time.monotonic_ns()
    run.sipp = sipp = SippRun(run.workdir, scenario, f"{target[0]}:{target[1]}", extra, budget)
    rss_peak = 0
    while sipp.running() and time.monotonic_ns() - m0 < (budget + 5) * 1e9:
        rss_peak = max(rss_peak, run.rss())
        time.sleep(SAMPLE_S)
    res["sipp_exit"] = sipp.wait(1)
    c1, m1 = run.cpu(), time.monotonic_ns()
    res["sipp_exit_meaning"] = exit_meaning(res["sipp_exit"])
    stats = sipp.stats()
    time.sleep(args.callrate_settle)  # transactions linger 32 s (Timer J) before freed
    res["rss_after_kb"] = run.rss()
    created = stats.get("TotalCallCreated") or 0
    busy_ns = (c1 - c0) - idle_pct / 100 * (m1 - m0)
    res.update(
        {
            "calls": created,
            "duration_s": round((m1 - m0) / 1e9, 2),
            "cpu_pct_idle": round(idle_pct, 3),
            "cpu_pct_load": round(100.0 * (c1 - c0) / (m1 - m0), 2),
            "cpu_ms_per_call": round(busy_ns / 1e6 / created, 4) if created else None,
            "failed_pct": failed_percent(stats),
            "failures": stats.get("FailedCall"),
            "retransmissions": stats.get("Retransmissions"),
            "rss_plateau_kb": rss_peak,
            "sipp": stats,
        }
    )


def run_once(workload: str, n: int, args: argparse.Namespace) -> dict:
    run = Run(workload, n, args)
    options = ["--workload", workload, "--impl", args.impl, "--workers", str(args.workers)]
    options += ["--rates" if workload == "callrate" else "--channels", str(n)]
    options += _changed_options(args, workload)
    res = run.result
    res.update(
        {
            "bench": "sipp_bench",
            "workload": workload,
            "N": n,
            "room_size": ROOM_SIZE.get(workload),
            "impl": args.impl,
            "cmd": command_line("bench/sipp_bench.py", options, args.python),
            "cpus": os.cpu_count(),
            "loadavg_1m_before": round(os.getloadavg()[0], 2),
        }
    )
    budget = run_budget_s(workload, n, args)
    signal.alarm(math.ceil(budget))
    try:
        (callrate_run if workload == "callrate" else media_run)(run)
    except RunTimeout:
        res["error"] = f"hard timeout after {budget:.0f}s"
    except (RuntimeError, OSError, ValueError) as exc:
        res["error"] = str(exc)[-600:]
    finally:
        signal.alarm(0)
        run.close()
    idle, after = res.get("rss_idle_kb"), res.get("rss_after_kb")
    if idle and after:
        res["rss_back_within_5mb"] = after - idle <= RSS_BACK_KB
    if args.profile:
        res["profiled"] = True  # py-spy's sampling costs the box CPU: not a clean figure
    return res


# --- command line --------------------------------------------------------------------
# Options that change what a run measures: repeated in its `cmd` when not the default.
_TUNING = {
    "media": ("plateau", "warmup", "idle", "ramp_rate", "settle", "cpu_source", "no_capture",
              "profile"),
    "callrate": ("idle", "callrate_seconds", "callrate_settle", "cpu_source"),
}  # fmt: skip


def _changed_options(args: argparse.Namespace, workload: str) -> list[str]:
    defaults = parse_args([])
    out = []
    for name in _TUNING["callrate" if workload == "callrate" else "media"]:
        value = getattr(args, name)
        if value != getattr(defaults, name):
            flag = "--" + name.replace("_", "-")
            out += (
                [flag]
                if value is True
                else [flag, f"{value:g}" if isinstance(value, float) else str(value)]
            )
    return out


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("values must be >= 1")
    return values


def _workloads(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in names if v not in WORKLOADS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"workloads are {', '.join(WORKLOADS)}")
    return names


def plan(args: argparse.Namespace) -> list[tuple[str, int]]:
    """(workload, N) pairs in run order: the matrix, narrowed by the options."""
    matrix = MATRICES[args.matrix]
    runs = []
    for workload in args.workload or list(matrix):
        if workload == "callrate":
            values = args.rates or matrix.get("callrate") or MATRICES["full"]["callrate"]
        else:
            values = args.channels or matrix.get(workload) or MATRICES["full"][workload]
        runs += [(workload, v) for v in values]
    return runs


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--matrix", choices=sorted(MATRICES), default="short")
    p.add_argument("--workload", type=_workloads, help="comma list: " + ",".join(WORKLOADS))
    p.add_argument("--channels", type=_ints, help="calls per media run, e.g. 10,100")
    p.add_argument("--rates", type=_ints, help="call rates for callrate, e.g. 200,500")
    p.add_argument("--impl", choices=("native", "fallback"), default="native",
                   help="fallback: run the box with SEMS_LITE_NATIVE=0")  # fmt: skip
    p.add_argument("--plateau", type=float, default=10.0, help="seconds measured, all calls up")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds after all calls are up")
    p.add_argument("--idle", type=float, default=2.0, help="seconds of idle CPU measured")
    p.add_argument("--ramp-rate", type=float, default=200.0, help="call set-up rate (calls/s)")
    p.add_argument("--settle", type=float, default=3.0, help="seconds before RSS 'after'")
    p.add_argument("--callrate-seconds", type=float, default=5.0, help="length of a callrate run")
    p.add_argument("--callrate-settle", type=float, default=34.0,
                   help="seconds before RSS 'after' a callrate run (Timer J: 32 s)")  # fmt: skip
    p.add_argument("--cpu-source", choices=("auto", "stat"), default="auto",
                   help="auto: thread schedstat (ns), else /proc/PID/stat (10 ms)")  # fmt: skip
    p.add_argument("--no-capture", action="store_true", help="no tcpdump (no p99)")
    p.add_argument("--profile", type=float, metavar="SECONDS",
                   help="py-spy the box for SECONDS on the plateau; print the top 15")  # fmt: skip
    p.add_argument("--keep", action="store_true", help="keep each run's work folder")
    p.add_argument("--json-only", action="store_true", help="no table, only JSON lines")
    p.add_argument("--python", default=sys.executable, help="interpreter for the box")
    p.add_argument("--workers", type=int, default=1,
                   help="box worker processes (server profile); 0: one per CPU")  # fmt: skip
    args = p.parse_args(argv)
    if args.profile and args.profile > args.plateau:
        args.plateau = args.profile
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGALRM, _alarm)
    signal.signal(signal.SIGTERM, _terminate)
    results = []
    for workload, n in plan(args):
        res = run_once(workload, n, args)
        profile = res.get("profile", {})
        emit_json({k: v for k, v in res.items() if k != "profile"} | (
            {"profile_top": profile.get("top")} if profile else {}))  # fmt: skip
        results.append(res)
        if profile.get("markdown"):
            print(profile["markdown"], flush=True)
    if not args.json_only:
        table(results)
    return 0 if all("error" not in r and r.get("box_exit") == 0 for r in results) else 1


def _mb(kb: int | None) -> str:
    return f"{kb / 1024:.1f}" if kb else "-"


def table(results: list[dict]) -> None:
    print()
    media = [r for r in results if r["workload"] != "callrate"]
    if media:
        print_table(
            [
                (
                    r["workload"], r["N"], r.get("impl"), r.get("calls_up", "-"),
                    r.get("cpu_pct_per_channel", "-"), r.get("cpu_pct_plateau", "-"),
                    r.get("p50_ms", "-"), r.get("p99_ms", "-"), r.get("max_ms", "-"),
                    r.get("rtp_lost_seq", "-"),
                    f"{_mb(r.get('rss_idle_kb'))}/{_mb(r.get('rss_plateau_kb'))}"
                    f"/{_mb(r.get('rss_after_kb'))}",
                    r.get("failures", "-"),
                    "ERROR" if "error" in r else "saturated" if r.get("saturated") else "ok",
                )
                for r in media
            ],
            ("workload", "N", "impl", "up", "cpu%/ch", "cpu%", "iat p50", "iat p99",
             "iat max", "lost", "rss idle/plat/after MB", "failed", ""),
        )  # fmt: skip
        print("(cpu%/ch: % of one core per channel over the plateau, idle subtracted; iat: RTP")
        print(" inter-arrival at the caller from a capture on lo, ms)")
    rate = [r for r in results if r["workload"] == "callrate"]
    if rate:
        print()
        print_table(
            [
                (
                    r["N"], r.get("impl"), r.get("calls", "-"), r.get("failed_pct", "-"),
                    r.get("retransmissions", "-"), r.get("cpu_ms_per_call", "-"),
                    r.get("cpu_pct_load", "-"),
                    f"{_mb(r.get('rss_idle_kb'))}/{_mb(r.get('rss_plateau_kb'))}"
                    f"/{_mb(r.get('rss_after_kb'))}",
                    "ERROR" if "error" in r else "ok",
                )
                for r in rate
            ],
            ("calls/s", "impl", "calls", "failed %", "retrans", "cpu ms/call", "cpu%",
             "rss idle/peak/after MB", ""),
        )  # fmt: skip
    for r in results:
        if "error" in r:
            print(f"{r['workload']} N={r['N']}: {r['error']}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
