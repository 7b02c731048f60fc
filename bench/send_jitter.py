"""Send-time jitter of the box's RTP: how far each packet lands from the 20 ms grid.

    python bench/send_jitter.py [--calls 1,200] [--native | --fallback] [--json-only]

For each N in --calls: start the box (`python -m sems_lite run`, default config, fresh
ports), place N concurrent calls to `announcement` (it plays etc/prompts/default.wav and
hangs up) with the small UDP UAC below, receive every stream on its own socket with a
kernel arrival time (SO_TIMESTAMPNS), answer the box's BYEs, then SIGTERM the box.

Per run, pooled over all streams: |arrival_k - (arrival_0 + k * 20 ms)| (k from the RTP
timestamp, so a skipped tick counts as lateness, not as loss) at p50/p99/max,
inter-arrival p50/p99, packets received vs expected, box CPU % over the plateau (from
the last call answered to the first BYE) and the box's RSS.

Not a test: numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import wave
from array import array
from pathlib import Path

from common import (
    REPO_ROOT,
    Box,
    box_config,
    box_implementation,
    command_line,
    cpu_ns,
    emit_json,
    free_port,
    free_port_range,
    percentile,
    print_table,
    proc_status_kb,
    wait_ready,
)

HOST = "127.0.0.1"
SERVICE = "announcement"
PTIME_NS = 20_000_000
SAMPLES_PER_FRAME = 160  # PCMU at 8 kHz, 20 ms
RTP_PT_PCMU = 0

# Linux asm-generic values (x86, ARM, RISC-V); other ABIs fall back to user-space clocks.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@qq")
_RTP_HEAD = struct.Struct("!BBHII")

INVITE_RETRANSMIT_S = 0.5  # RFC 3261 T1
INVITE_TRIES = 7
RTP_RCVBUF = 1 << 18


def prompt_packets() -> int | None:
    """Packets one announcement should send: the default prompt's length in 20 ms frames."""
    try:
        with wave.open(str(REPO_ROOT / "etc/prompts/default.wav")) as w:
            seconds = w.getnframes() / w.getframerate()
    except (OSError, wave.Error):
        return None
    return math.ceil(seconds * 1e9 / PTIME_NS)


# --- a minimal SIP UAC ------------------------------------------------------------------
_COMPACT = {"i": "call-id", "f": "from", "t": "to", "v": "via", "m": "contact"}


def parse_sip(data: bytes) -> tuple[str, list[tuple[str, str]]]:
    """Start line and headers (long lower-case names) of one datagram; body ignored."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    lines = head.split("\r\n")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        headers.append((_COMPACT.get(name, name), value.strip()))
    return lines[0], headers


def header(headers: list[tuple[str, str]], name: str) -> str:
    return next((v for n, v in headers if n == name), "")


class Leg:
    """One call: its SIP identifiers, its RTP/RTCP sockets and what arrived on them."""

    __slots__ = (
        "acked",
        "answered_ns",
        "arrivals",
        "branch",
        "bye_ns",
        "call_id",
        "failed",
        "index",
        "invite",
        "next_retransmit",
        "provisional",
        "rtcp",
        "rtp",
        "seqs",
        "stamps",
        "tries",
    )

    def __init__(self, index: int, run_tag: str, local: str, target: str) -> None:
        self.index = index
        self.rtp, self.rtcp = _rtp_pair()
        port = self.rtp.getsockname()[1]
        self.call_id = f"jitter-{run_tag}-{index}@{HOST}"
        self.branch = f"z9hG4bK-{run_tag}-{index}"
        self.invite = b""
        self.next_retransmit = 0.0
        self.tries = 0
        self.provisional = False
        self.answered_ns = 0
        self.acked = False
        self.bye_ns = 0
        self.failed = ""
        # Preallocated-ish: arrays of machine ints, not a tuple per packet.
        self.arrivals = array("q")
        self.stamps = array("I")
        self.seqs = array("H")
        self._build_invite(local, target, port)

    def _build_invite(self, local: str, target: str, rtp_port: int) -> None:
        # Only PCMU: what every G.711 announcement path encodes to.
        sdp = (
            f"v=0\r\no=bench {self.index} 1 IN IP4 {HOST}\r\ns=-\r\nc=IN IP4 {HOST}\r\n"
            f"t=0 0\r\nm=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=ptime:20\r\na=sendrecv\r\n"
        ).encode()
        self.invite = (
            f"INVITE sip:{SERVICE}@{target} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {local};branch={self.branch};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:bench@{local}>;tag=b{self.index}\r\n"
            f"To: <sip:{SERVICE}@{target}>\r\n"
            f"Call-ID: {self.call_id}\r\n"
            "CSeq: 1 INVITE\r\n"
            f"Contact: <sip:bench@{local}>\r\n"
            "Content-Type: application/sdp\r\n"
            f"Content-Length: {len(sdp)}\r\n\r\n"
        ).encode() + sdp

    def close(self) -> None:
        self.rtp.close()
        self.rtcp.close()

    @property
    def done(self) -> bool:
        return bool(self.bye_ns or self.failed)


def _rtp_pair() -> tuple[socket.socket, socket.socket]:
    """An RTP socket on an even port with RTCP on the next one (the box sends RTCP there)."""
    for _ in range(500):
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind((HOST, 0))
        port = rtp.getsockname()[1]
        if port & 1 == 0:
            rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                rtcp.bind((HOST, port + 1))
            except OSError:
                rtcp.close()
            else:
                for sock in (rtp, rtcp):
                    sock.setblocking(False)
                rtp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RTP_RCVBUF)
                return rtp, rtcp
        rtp.close()
    raise RuntimeError("no even/odd UDP port pair free")


def kernel_timestamps(sock: socket.socket) -> bool:
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


class Uac:
    """Places the calls, answers BYEs, and receives RTP — one selectors loop, no threads."""

    def __init__(self, target: tuple[str, int], calls: int, run_tag: str) -> None:
        self.target = target
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind((HOST, 0))
        self.sip.setblocking(False)
        self.sip.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RTP_RCVBUF)
        self.local = f"{HOST}:{self.sip.getsockname()[1]}"
        self.target_text = f"{target[0]}:{target[1]}"
        self.legs = [Leg(i, run_tag, self.local, self.target_text) for i in range(calls)]
        self.by_call_id = {leg.call_id: leg for leg in self.legs}
        self.kernel_ts = all(kernel_timestamps(leg.rtp) for leg in self.legs)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.sip, selectors.EVENT_READ, None)
        for leg in self.legs:
            self.selector.register(leg.rtp, selectors.EVENT_READ, leg)
            self.selector.register(leg.rtcp, selectors.EVENT_READ, False)
        self._buf = bytearray(2048)
        self._anc = socket.CMSG_SPACE(_TIMESPEC.size)
        self.rtcp_packets = 0
        self.other_packets = 0
        self.unexpected_sip = 0

    def close(self) -> None:
        self.selector.close()
        self.sip.close()
        for leg in self.legs:
            leg.close()

    # -- SIP -----------------------------------------------------------------------------
    def send_invite(self, leg: Leg, now: float) -> None:
        leg.tries += 1
        leg.next_retransmit = now + INVITE_RETRANSMIT_S * leg.tries
        self.sip.sendto(leg.invite, self.target)

    def retransmit(self, now: float) -> None:
        for leg in self.legs:
            waiting = leg.tries and not (leg.provisional or leg.answered_ns or leg.failed)
            if waiting and now >= leg.next_retransmit:
                if leg.tries >= INVITE_TRIES:
                    leg.failed = "no answer to INVITE"
                else:
                    self.send_invite(leg, now)

    def _on_sip(self, data: bytes) -> None:
        start, headers = parse_sip(data)
        leg = self.by_call_id.get(header(headers, "call-id"))
        if leg is None:
            self.unexpected_sip += 1
            return
        if start.startswith("SIP/2.0 "):
            self._on_response(leg, int(start.split()[1]), headers)
        elif start.startswith("BYE "):
            if not leg.bye_ns:
                leg.bye_ns = time.monotonic_ns()
            self._reply(headers, 200)
        else:
            self.unexpected_sip += 1
            self._reply(headers, 501)

    def _on_response(self, leg: Leg, status: int, headers: list[tuple[str, str]]) -> None:
        if "INVITE" not in header(headers, "cseq"):
            return
        if status < 200:
            leg.provisional = True
            return
        to = header(headers, "to")
        if status >= 300:
            leg.failed = leg.failed or f"INVITE answered {status}"
            self._ack(leg, to, f"sip:{SERVICE}@{self.target_text}", leg.branch)
            return
        if not leg.answered_ns:
            leg.answered_ns = time.monotonic_ns()
        contact = re.search(r"<([^>]+)>", header(headers, "contact"))
        ruri = contact.group(1) if contact else f"sip:{SERVICE}@{self.target_text}"
        # A 2xx ACK is its own transaction; re-sent for every retransmitted 200.
        self._ack(leg, to, ruri, f"{leg.branch}-ack")
        leg.acked = True

    def _ack(self, leg: Leg, to: str, ruri: str, branch: str) -> None:
        msg = (
            f"ACK {ruri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {self.local};branch={branch};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:bench@{self.local}>;tag=b{leg.index}\r\n"
            f"To: {to}\r\n"
            f"Call-ID: {leg.call_id}\r\n"
            "CSeq: 1 ACK\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        self.sip.sendto(msg.encode(), self.target)

    def _reply(self, headers: list[tuple[str, str]], status: int) -> None:
        reason = {200: "OK", 501: "Not Implemented"}[status]
        copied = [f"Via: {v}" for n, v in headers if n == "via"]
        copied += [f"{n.title()}: {header(headers, n)}" for n in ("from", "to", "call-id", "cseq")]
        msg = "\r\n".join([f"SIP/2.0 {status} {reason}", *copied, "Content-Length: 0", "", ""])
        self.sip.sendto(msg.encode(), self.target)

    # -- RTP -----------------------------------------------------------------------------
    def _drain_rtp(self, leg: Leg) -> None:
        buf, anc, sock = self._buf, self._anc, leg.rtp
        while True:
            try:
                n, ancdata, _flags, _addr = sock.recvmsg_into([buf], anc)
            except (BlockingIOError, InterruptedError):
                return
            arrival = 0
            for level, kind, cdata in ancdata:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = _TIMESPEC.unpack_from(cdata)
                    arrival = sec * 1_000_000_000 + nsec
            if not arrival:
                arrival = time.time_ns()  # the same clock as SO_TIMESTAMPNS
            if n < 12:
                self.other_packets += 1
                continue
            _b0, b1, seq, ts, _ssrc = _RTP_HEAD.unpack_from(buf)
            if b1 & 0x7F != RTP_PT_PCMU:
                self.other_packets += 1
                continue
            leg.arrivals.append(arrival)
            leg.stamps.append(ts)
            leg.seqs.append(seq)

    def _drain_rtcp(self, sock: socket.socket) -> None:
        while True:
            try:
                sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            self.rtcp_packets += 1

    def poll(self, timeout: float) -> None:
        for key, _ in self.selector.select(timeout):
            if key.data is None:
                while True:
                    try:
                        data = self.sip.recv(65535)
                    except (BlockingIOError, InterruptedError):
                        break
                    self._on_sip(data)
            elif key.data is False:
                self._drain_rtcp(key.fileobj)  # type: ignore[arg-type]
            else:
                self._drain_rtp(key.data)


# --- one run ----------------------------------------------------------------------------
def run_once(calls: int, impl: str, args: argparse.Namespace) -> dict:
    env = dict(os.environ)
    if impl == "fallback":
        env["SEMS_LITE_NATIVE"] = "0"
    else:
        env.pop("SEMS_LITE_NATIVE", None)
    reported = box_implementation(args.python, env)
    workdir = Path(tempfile.mkdtemp(prefix="sems_bench_cfg_"))
    try:
        return _measure(calls, impl, reported, env, workdir, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _measure(
    calls: int, impl: str, reported: str, env: dict, workdir: Path, args: argparse.Namespace
) -> dict:
    config, raised = box_config(calls, workdir)
    sip_port = free_port(HOST)
    low, high = free_port_range(2 * calls + 20, HOST)
    load_before = os.getloadavg()[0]
    box = Box(args.python, config, f"{HOST}:{sip_port}", f"{low}-{high}", env)
    uac: Uac | None = None
    try:
        target = (HOST, sip_port)
        wait_ready(box, target)
        rss_idle = proc_status_kb(box.pid, "VmRSS")
        uac = Uac(target, calls, f"{os.getpid():x}{calls}{impl[0]}")
        stats = _drive(box, uac, calls, args)
        hwm = proc_status_kb(box.pid, "VmHWM")
    finally:
        exit_code = box.stop()
        if uac is not None:
            uac.close()
        log_tail = box.log_tail(10)
        box.cleanup()
    options = [f"--calls={calls}", f"--{impl}"]
    if args.cps != DEFAULT_CPS:
        options.append(f"--cps={args.cps:g}")
    result = {
        "bench": "send_jitter",
        "cmd": command_line("bench/send_jitter.py", options, args.python),
        "impl": reported,
        "python": _python_version(args.python),
        "calls": calls,
        "cpus": os.cpu_count(),
        "loadavg_1m_before": round(load_before, 2),
        "clock": "kernel SO_TIMESTAMPNS" if uac.kernel_ts else "user time_ns",
        "max_calls_override": raised,
        **stats,
        "rss_idle_kb": rss_idle,
        "rss_peak_kb": hwm,
        "box_exit": exit_code,
    }
    if exit_code != 0:
        result["box_log_tail"] = log_tail
    return result


def _python_version(python: str) -> str:
    if python == sys.executable:
        return sys.version.split()[0]
    out = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"], text=True,
                         capture_output=True, check=False)  # fmt: skip
    return out.stdout.strip()


def _drive(box: Box, uac: Uac, calls: int, args: argparse.Namespace) -> dict:
    """Place the calls, wait for every BYE (or the hard timeout), sample the box meanwhile."""
    expected_each = prompt_packets()
    prompt_s = (expected_each or 300) * PTIME_NS / 1e9
    start = time.monotonic()
    ramp_s = calls / args.cps if args.cps > 0 else 0.0
    hard_deadline = start + ramp_s + prompt_s + args.timeout
    sent = 0
    all_up_ns = plateau_end_ns = 0
    wall_up = wall_end = 0  # the plateau on the packets' clock (CLOCK_REALTIME)
    cpu_up = cpu_end = (0, "")
    rss_plateau = 0
    next_rss = 0.0
    timed_out = False
    while True:
        now = time.monotonic()
        due = calls if args.cps <= 0 else min(calls, int((now - start) * args.cps) + 1)
        while sent < due:
            uac.send_invite(uac.legs[sent], now)
            sent += 1
        uac.retransmit(now)
        uac.poll(0.005 if sent < calls else 0.05)
        legs = uac.legs
        if not all_up_ns and sent == calls and all(leg.answered_ns or leg.failed for leg in legs):
            all_up_ns, wall_up = time.monotonic_ns(), time.time_ns()
            cpu_up = cpu_ns(box.pid)
        if all_up_ns and not plateau_end_ns:
            if any(leg.bye_ns for leg in legs) or box.proc.poll() is not None:
                plateau_end_ns, wall_end = time.monotonic_ns(), time.time_ns()
                cpu_end = cpu_ns(box.pid) if box.proc.poll() is None else cpu_up
            elif now >= next_rss:
                rss_plateau = max(rss_plateau, proc_status_kb(box.pid, "VmRSS") or 0)
                next_rss = now + 0.25
        if all(leg.done for leg in legs) or box.proc.poll() is not None:
            break
        if now > hard_deadline:
            timed_out = True
            break
    if timed_out:
        # SIGTERM makes the box BYE what is left; answer those BYEs for a moment.
        box.proc.send_signal(signal.SIGTERM)
        until = time.monotonic() + 3.0
        while time.monotonic() < until and not all(leg.done for leg in uac.legs):
            uac.poll(0.05)
    plateau_s = (plateau_end_ns - all_up_ns) / 1e9 if plateau_end_ns else 0.0
    cpu_pct = (
        100.0 * (cpu_end[0] - cpu_up[0]) / (plateau_end_ns - all_up_ns)
        if plateau_end_ns > all_up_ns
        else math.nan
    )
    answered = [leg for leg in uac.legs if leg.answered_ns]
    setup_s = (max(leg.answered_ns for leg in answered) / 1e9 - start) if answered else math.nan
    return {
        "answered": len(answered),
        "completed": sum(1 for leg in uac.legs if leg.bye_ns),
        "failed": sorted({leg.failed for leg in uac.legs if leg.failed}),
        "timed_out": timed_out,
        "setup_s": round(setup_s, 3),
        "plateau_s": round(plateau_s, 3),
        **stream_stats(uac.legs, expected_each, (wall_up, wall_end) if wall_end else None),
        "cpu_pct": round(cpu_pct, 2),
        "cpu_source": cpu_up[1],
        "rss_plateau_kb": rss_plateau or None,
        "rtcp_packets": uac.rtcp_packets,
    }


def stream_stats(
    legs: list[Leg], expected_each: int | None, plateau: tuple[int, int] | None = None
) -> dict:
    """Grid deviation and inter-arrival pooled over streams, plus packet accounting.

    With a plateau (wall-clock ns, all calls up), the packets inside it also give the
    steady-state lateness: each packet's offset from the grid minus the stream's smallest
    offset there. Anchored on the best packet rather than the first one, a single late
    anchor cannot shift a whole stream, and the shifts of the ramp (a stream's send slot
    in the tick moves as calls are added) stay out.
    """
    deviations: list[int] = []
    steady: list[int] = []
    gaps: list[int] = []
    received = lost_seq = skipped = 0
    for leg in legs:
        arrivals, stamps, seqs = leg.arrivals, leg.stamps, leg.seqs
        n = len(arrivals)
        received += n
        if n == 0:
            continue
        deviations.extend(_grid_deviation(arrivals, stamps, 0, n))
        if plateau is not None:
            lo, hi = plateau
            first = next((i for i in range(n) if arrivals[i] >= lo), n)
            last = next((i for i in range(first, n) if arrivals[i] > hi), n)
            steady.extend(_grid_lateness(arrivals, stamps, first, last))
        gaps.extend(arrivals[i] - arrivals[i - 1] for i in range(1, n))
        seq_span = ((seqs[-1] - seqs[0]) & 0xFFFF) + 1
        slot_span = ((stamps[-1] - stamps[0]) & 0xFFFFFFFF) // SAMPLES_PER_FRAME + 1
        lost_seq += seq_span - n
        skipped += slot_span - seq_span
    for values in (deviations, steady, gaps):
        values.sort()

    def ms(values: list[int], q: float) -> float:
        return round(percentile(values, q) / 1e6, 3)

    return {
        "packets": received,
        "expected": expected_each * len(legs) if expected_each is not None else None,
        "lost_seq": lost_seq,
        "skipped_slots": skipped,
        "dev_p50_ms": ms(deviations, 50),
        "dev_p99_ms": ms(deviations, 99),
        "dev_max_ms": ms(deviations, 100),
        "iat_p50_ms": ms(gaps, 50),
        "iat_p99_ms": ms(gaps, 99),
        "plateau_packets": len(steady),
        "plateau_late_p50_ms": ms(steady, 50),
        "plateau_late_p99_ms": ms(steady, 99),
        "plateau_late_max_ms": ms(steady, 100),
    }


def _grid_offsets(arrivals: array, stamps: array, first: int, last: int) -> list[int]:
    """arrival_k - k * ptime (ns) for packets first..last-1, k from the RTP timestamp."""
    if first >= last:
        return []
    ts0 = stamps[first]
    return [
        arrivals[i] - ((stamps[i] - ts0) & 0xFFFFFFFF) * PTIME_NS // SAMPLES_PER_FRAME
        for i in range(first, last)
    ]


def _grid_deviation(arrivals: array, stamps: array, first: int, last: int) -> list[int]:
    """|arrival_k - (arrival_first + k * ptime)|: the brief's measure, anchored on packet 0."""
    offsets = _grid_offsets(arrivals, stamps, first, last)
    return [abs(o - offsets[0]) for o in offsets] if offsets else []


def _grid_lateness(arrivals: array, stamps: array, first: int, last: int) -> list[int]:
    """Offset from the grid beyond the stream's earliest packet (>= 0)."""
    offsets = _grid_offsets(arrivals, stamps, first, last)
    best = min(offsets, default=0)
    return [o - best for o in offsets]


# --- command line -----------------------------------------------------------------------
DEFAULT_CPS = 200.0


def _calls(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("call counts must be >= 1")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=_calls, default=[1, 200], help="e.g. 1,200")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--native", dest="impl", action="store_const", const="native")
    which.add_argument(
        "--fallback",
        dest="impl",
        action="store_const",
        const="fallback",
        help="run the box with SEMS_LITE_NATIVE=0",
    )
    parser.add_argument("--json-only", action="store_true", help="no table, only JSON lines")
    parser.add_argument(
        "--cps", type=float, default=DEFAULT_CPS, help="call set-up rate (0: all at once)"
    )
    parser.add_argument(
        "--timeout", type=float, default=15.0, help="seconds allowed beyond ramp + prompt"
    )
    parser.add_argument("--python", default=sys.executable, help="interpreter for the box")
    args = parser.parse_args(argv)
    impl = args.impl or "native"
    results = []
    for n in args.calls:
        result = run_once(n, impl, args)
        emit_json(result)
        results.append(result)
    if not args.json_only:
        _table(results)
    return 0 if all(r["box_exit"] == 0 and not r["timed_out"] for r in results) else 1


def _table(results: list[dict]) -> None:
    print()
    rows = [
        (
            r["impl"],
            r["calls"],
            f"{r['packets']}/{r['expected']}",
            r["dev_p50_ms"],
            r["dev_p99_ms"],
            r["dev_max_ms"],
            r["plateau_late_p99_ms"],
            r["iat_p50_ms"],
            r["iat_p99_ms"],
            r["cpu_pct"],
            f"{(r['rss_plateau_kb'] or 0) / 1024:.1f}",
        )
        for r in results
    ]
    print_table(
        rows,
        ("impl", "calls", "rx/expected", "dev p50", "dev p99", "dev max", "late p99",
         "iat p50", "iat p99", "cpu %", "rss MB"),
    )  # fmt: skip
    print(
        "(ms; dev: |arrival - grid| over whole calls; late: lateness on the plateau; "
        "iat: inter-arrival; cpu: % of one core over the plateau)"
    )


if __name__ == "__main__":
    sys.exit(main())
