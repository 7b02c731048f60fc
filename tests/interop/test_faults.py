"""Faults against the real box on loopback, each followed by a check that nothing is left.

| test                              | fault                                         |
|-----------------------------------|-----------------------------------------------|
| test_timer_f_bye_never_answered   | the caller never answers the box's BYE        |
| test_timer_h_invite_never_acked   | the caller sends RTP but never ACKs the 200   |
| test_rtp_port_range_exhausted     | room for 2 calls' ports, a third call comes   |
| test_prompt_removed_while_playing | the prompt file is unlinked or truncated      |
| test_disk_full_while_recording    | the recording folder fills up (ENOSPC)        |
| test_sigterm_with_recordings_open | SIGTERM while two calls record                |

"Nothing left" means: the control interface reports 0 calls, the box has the same open
file descriptors as before the fault (/proc/PID/fd), and a new echo call works (its
ports were returned). Each test prints one `FAULT |` line with its figures (run with
`-s` to see them); /work/notes/faults_table.md is built from those lines.

A caller that vanishes without BYE (dead-RTP timeout) is covered by test_call_control.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from sems_lite.ctl import rpc

from . import _audio, _rtp
from ._box import READY_TIMEOUT, REPO_ROOT, Box, BoxError, default_config, merged, tail, wait_ready
from ._calls import call_length_ms, echo_problems, media_of, rtp_socket, signal_payloads
from ._net import free_port, host_port
from .test_overload import (
    check_echoes,
    open_fds,
    proc_status_kb,
    start_echo_calls,
    stream_in_threads,
)
from .test_recorder import check_wav, match_sent, wav_layout

pytestmark = pytest.mark.interop

T1 = 0.5  # RFC 3261 timer T1: the box's timers F, H and L are 64*T1
T2 = 4.0
TIMER_64T1 = 64 * T1
TIMER_SLACK = 1.5  # seconds of scheduling slack around a 32 s timer on a busy machine
MIN_SNR_DB = 30.0
RECORD_FLUSH = 1600  # bytes: 100 ms of 16-bit audio at 8 kHz


# --- what "nothing left over" means ---------------------------------------------------------
def control(port: int) -> dict[str, Any]:
    return {"control": {"listen": f"127.0.0.1:{port}"}}


def with_echo(config: dict[str, Any]) -> dict[str, Any]:
    """Keep the echo route next to a test's own, for the call that proves ports are free."""
    out = dict(config)
    out["apps"] = {"echo": "apps.echo", **config.get("apps", {})}
    out["routing"] = [{"user": "echo", "app": "echo"}, *config.get("routing", [])]
    return out


class Watch:
    """The box's resources before a fault, to compare with afterwards."""

    def __init__(self, b: Box, url: str) -> None:
        self.box = b
        self.url = url
        assert rpc(url, "status")["calls"] == 0
        self.fds = open_fds(b.proc.pid)
        self.rss_kb = proc_status_kb(b.proc.pid)

    def settle(self, timeout: float = 10.0) -> tuple[int, list[str]]:
        """Wait until no call is left and the fds are back; the last (calls, fds) seen."""
        deadline = time.monotonic() + timeout
        while True:
            calls = rpc(self.url, "status")["calls"]
            fds = open_fds(self.box.proc.pid)
            if (calls == 0 and len(fds) <= len(self.fds)) or time.monotonic() > deadline:
                return calls, fds
            time.sleep(0.1)

    def check_clean(self, start_sipp: Callable[..., Any]) -> str:
        """Assert nothing is left and a new echo call works; a summary for the table."""
        calls, fds = self.settle()
        rss = proc_status_kb(self.box.proc.pid)
        assert calls == 0, f"calls left: {rpc(self.url, 'calls.list')}"
        extra = sorted(set(fds) - set(self.fds))
        assert len(fds) <= len(self.fds), f"file descriptors left open: {extra}"
        echo_call_works(self.box, start_sipp)
        calls_after, _ = self.settle()
        assert calls_after == 0, "the check call was left behind"
        assert "Traceback" not in self.box.log(), "traceback in the box's log"
        return (
            f"calls left 0; fds {len(self.fds)} -> {len(fds)}; "
            f"RSS {self.rss_kb} -> {rss} kB; new echo call clean"
        )


def echo_call_works(b: Box, start_sipp: Callable[..., Any], seconds: float = 1.0) -> None:
    with rtp_socket() as sock:
        sipp = start_sipp(
            "uac_echo_call",
            b.target,
            ["-d", str(int(seconds * 1000) + 600)],
            keys={"rtp_port": sock.getsockname()[1]},
        )
        rec = _rtp.stream(sock, media_of(sipp).dest, signal_payloads(seconds), tail=0.2)
        result = sipp.wait()
    assert result.returncode == 0, f"the check call failed\n{sipp.describe()}"
    problems = echo_problems(_rtp.analyse_echo(rec))
    assert not problems, "the check call's echo: " + "; ".join(problems)


def figures(test: str, fault: str, held: str) -> None:
    print(f"\nFAULT | {test} | {fault} | {held}")


# --- sipp's message trace --------------------------------------------------------------------
_TRACE_RX = re.compile(
    r"^-+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\n\S+ message received \[\d+\] bytes :\n\n(.*)$",
    re.M,
)


def received(messages: str, start: str) -> list[float]:
    """Seconds (sipp's local clock) at which messages whose first line starts with `start`
    arrived, retransmissions included (sipp traces every datagram it reads)."""
    out = []
    for stamp, first_line in _TRACE_RX.findall(messages):
        if first_line.startswith(start):
            out.append(datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp())
    return out


def retransmit_schedule(count: int, cap: float) -> list[float]:
    """Offsets of a UDP retransmission series: T1, doubling up to `cap` (17.1.2.2, 17.2.1)."""
    out, at, interval = [0.0], 0.0, T1
    while len(out) < count:
        at += interval
        out.append(at)
        interval = min(2 * interval, cap)
    return out


def expected_sends(cap: float, within: float) -> int:
    """How many times a message is sent (first + retransmissions) before `within` s."""
    n = 1
    while retransmit_schedule(n + 1, cap)[-1] < within:
        n += 1
    return n


# --- 1. timer F --------------------------------------------------------------------------------
def test_timer_f_bye_never_answered(box, start_sipp):
    """The operator hangs up (control `calls.hangup`); sipp never answers the BYE. The box
    retransmits it on the RFC 3261 schedule, gives up at 64*T1 and forgets the call."""
    ctl = free_port()
    url = f"http://127.0.0.1:{ctl}"
    b = box(control(ctl))
    watch = Watch(b, url)
    hold_ms = int((TIMER_64T1 + 2.5) * 1000)  # sipp stays silent past the box's timer F
    with rtp_socket() as sock:
        sipp = start_sipp(
            "uac_bye_unanswered",
            b.target,
            ["-d", str(hold_ms)],
            timeout=TIMER_64T1 + 20,
            keys={"rtp_port": sock.getsockname()[1]},
        )
        sipp.wait_log(r"ACKED ")
        (call,) = rpc(url, "calls.list")
        assert rpc(url, "calls.hangup", [call["id"]]) is True
        states, gone_at = set(), None
        deadline = time.time() + TIMER_64T1 + 10
        while time.time() < deadline:
            listed = rpc(url, "calls.list")
            if not listed:
                gone_at = time.time()
                break
            states.add(listed[0]["state"])
            time.sleep(0.1)
        result = sipp.wait()
    assert result.returncode == 0, f"sipp failed\n{sipp.describe()}"
    byes = received(sipp.messages(), "BYE ")
    assert byes, f"no BYE reached sipp\n{sipp.describe()}"
    offsets = [t - byes[0] for t in byes]
    want = retransmit_schedule(expected_sends(T2, TIMER_64T1), T2)
    print(f"BYE sent at {[round(o, 2) for o in offsets]} s; expected {want}")
    assert len(offsets) == len(want), f"{len(offsets)} BYEs, want {len(want)}: {offsets}"
    late = [(o, w) for o, w in zip(offsets, want, strict=True) if abs(o - w) > 0.4]
    assert not late, f"BYE retransmissions off the T1..T2 schedule (sent, due): {late}"
    assert gone_at is not None, f"the call is still listed {TIMER_64T1 + 10:.0f} s after BYE"
    (first_bye,) = sipp.log_times("BYE")
    gave_up = gone_at - first_bye
    assert states == {"ending"}, f"call states seen while the BYE was pending: {states}"
    assert abs(gave_up - TIMER_64T1) <= TIMER_SLACK, (
        f"the box dropped the call {gave_up:.1f} s after its first BYE, want 64*T1 = 32 s"
    )
    clean = watch.check_clean(start_sipp)
    figures(
        "test_timer_f_bye_never_answered",
        "operator hangs up, caller never answers the BYE",
        f"{len(byes)} BYEs at {', '.join(f'{o:.1f}' for o in offsets)} s; call dropped after "
        f"{gave_up:.1f} s (64*T1); {clean}",
    )


# --- 2. timer H / L -----------------------------------------------------------------------------
def test_timer_h_invite_never_acked(box, start_sipp):
    """The caller takes the 200 and sends RTP but never ACKs: the box resends the 200 up to
    64*T1, then ends the session with a BYE (RFC 3261 13.3.1.4) and frees its ports."""
    ctl = free_port()
    url = f"http://127.0.0.1:{ctl}"
    b = box(control(ctl))
    watch = Watch(b, url)
    stream_seconds = TIMER_64T1 + 3.0
    payloads = signal_payloads(stream_seconds)
    rec = _rtp.StreamRecord()
    with rtp_socket() as sock:
        sipp = start_sipp(
            "uac_no_ack",
            b.target,
            timeout=TIMER_64T1 + 20,
            keys={"rtp_port": sock.getsockname()[1]},
        )
        sender = threading.Thread(
            target=_rtp.stream,
            args=(sock, media_of(sipp).dest, payloads),
            kwargs={"record": rec, "tail": 0.2},
            daemon=True,
        )
        sender.start()
        states = set()
        while sipp.proc.poll() is None:
            states.update(c["state"] for c in rpc(url, "calls.list"))
            time.sleep(0.2)
        result = sipp.wait()
        sender.join(stream_seconds + 5)
    assert result.returncode == 0, f"no BYE after the unacknowledged 200\n{sipp.describe()}"
    (answered,) = sipp.log_times("ANSWERED")
    (bye,) = sipp.log_times("BYE")
    oks = received(sipp.messages(), "SIP/2.0 200")
    offsets = [t - oks[0] for t in oks]
    want = retransmit_schedule(expected_sends(T2, TIMER_64T1), T2)
    print(f"200 sent at {[round(o, 2) for o in offsets]} s; expected {want}")
    assert len(offsets) == len(want), f"{len(offsets)} 200 OKs, want {len(want)}: {offsets}"
    ended_after = bye - answered
    assert abs(ended_after - TIMER_64T1) <= TIMER_SLACK, (
        f"BYE came {ended_after:.1f} s after the unacknowledged 200, want 64*T1 = 32 s"
    )
    assert states == {"answered"}, f"call states seen before the BYE: {states}"
    # The RTP the caller sent was taken (echoed) until the BYE, and the media stopped then.
    echoed = [a for a in rec.rtp() if a.wall < bye]
    after = [a for a in rec.rtp() if a.wall > bye + 0.1]
    assert len(echoed) >= 0.9 * sum(1 for t in rec.send_wall if t < bye), "no echo before BYE"
    assert not after, f"{len(after)} RTP packets from the box after its BYE"
    clean = watch.check_clean(start_sipp)
    figures(
        "test_timer_h_invite_never_acked",
        "caller sends RTP for 35 s, never ACKs the 200",
        f"{len(oks)} 200 OKs ({', '.join(f'{o:.1f}' for o in offsets)} s); BYE after "
        f"{ended_after:.1f} s; {len(echoed)} RTP packets echoed before it, 0 after; {clean}",
    )


# --- a box with a small RTP range or a private tmpfs ---------------------------------------
def _unshare_usable() -> str | None:
    """Why a private mount namespace with a tmpfs is not possible here (None: it is)."""
    if os.geteuid() != 0:
        return "needs root for `unshare -m` and a tmpfs mount"
    if shutil.which("unshare") is None:
        return "`unshare` (util-linux) is not on PATH"
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "true"], capture_output=True, timeout=10
    )
    if probe.returncode != 0:
        return f"`unshare -m` refused: {probe.stderr.decode(errors='replace').strip()}"
    return None


def _launch(
    workdir: Path, config: dict[str, Any], rtp_ports: tuple[int, int], prefix: list[str]
) -> Box:
    """Start the box like _box.start_box, behind a command prefix (e.g. unshare)."""
    workdir.mkdir(parents=True, exist_ok=True)
    host, port = "127.0.0.1", free_port()
    target = host_port(host, port)
    cfg = merged(default_config(), config)
    cfg["sip"]["listen"] = [f"udp:{target}", f"tcp:{target}"]
    cfg["rtp"]["ports"] = f"{rtp_ports[0]}-{rtp_ports[1]}"
    cfg_path = workdir / "sems_lite.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    cmd = [
        *prefix,
        sys.executable, "-m", "sems_lite", "run", "--config", str(cfg_path),
        "--listen", target, "--rtp-ports", f"{rtp_ports[0]}-{rtp_ports[1]}",
        "--log-level", "debug",
    ]  # fmt: skip
    (workdir / "box.cmd").write_text(" ".join(cmd) + "\n")
    env = dict(os.environ, PYTHONUNBUFFERED="1", SEMS_LITE_LOG_TIME="1")
    with (
        open(workdir / "box.stderr.log", "wb") as err,
        open(workdir / "box.stdout.log", "wb") as out,
    ):
        proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env
        )
    b = Box(proc, host, port, rtp_ports, workdir, cfg)
    try:
        wait_ready(b, READY_TIMEOUT)
    except BaseException:
        b.stop()
        raise
    return b


@pytest.fixture
def fault_box(
    request: pytest.FixtureRequest, tmp_path: Path, rtp_ports: tuple[int, int]
) -> Iterator[Callable[..., Box]]:
    """Factory: fault_box(config, *, rtp_pairs=None, tmpfs=None) -> Box (one per test).

    `rtp_pairs` limits the RTP range to that many RTP/RTCP port pairs. `tmpfs=(folder,
    size)` runs the box in a private mount namespace with a tmpfs of `size` mounted on
    `folder`, seen by nobody else. Teardown wants exit code 0 after SIGTERM.
    """
    started: list[Box] = []

    def factory(
        config: dict[str, Any],
        *,
        rtp_pairs: int | None = None,
        tmpfs: tuple[Path, str] | None = None,
    ) -> Box:
        assert not started, "one fault_box per test"
        if rtp_pairs:
            # The top of the worker's range: boxes allocate from the bottom of their slice,
            # so a few ports up here are the least likely to be held by anyone else.
            high = rtp_ports[1] - (rtp_ports[1] - rtp_ports[0] + 1) % 2
            low = high - 2 * rtp_pairs + 1
        else:
            low, high = rtp_ports[0], rtp_ports[0] + 99
        prefix: list[str] = []
        if tmpfs is not None:
            folder, size = tmpfs
            folder.mkdir(parents=True, exist_ok=True)
            script = 'mount -t tmpfs -o size="$1" tmpfs "$2" && shift 2 && exec "$@"'
            prefix = ["unshare", "-m", "--propagation", "private"]
            prefix += ["sh", "-c", script, "sh", size, str(folder)]
        try:
            b = _launch(tmp_path / "box", config, (low, high), prefix)
        except BoxError as exc:
            pytest.fail(str(exc), pytrace=False)
        started.append(b)
        return b

    yield factory
    for b in started:
        code = b.stop()
        rep = getattr(request.node, "rep_call", None)
        if code != 0 or rep is None or rep.failed:
            print(f"===== {b.describe()} stderr =====\n{tail(b.log(), 300)}")
        if code != 0:
            pytest.fail(f"{b.describe()}: exit code {code} after SIGTERM (want 0)", pytrace=False)


# --- 3. exhausted RTP port range ------------------------------------------------------------
def test_rtp_port_range_exhausted(fault_box, start_sipp, run_sipp):
    """Ports for two calls: a third gets 503 with Retry-After while the two keep a clean
    echo; afterwards both port pairs are back (two new calls at once work)."""
    ctl = free_port()
    url = f"http://127.0.0.1:{ctl}"
    b = fault_box({**control(ctl), "limits": {"max_calls": 10}}, rtp_pairs=2)
    watch = Watch(b, url)
    seconds = 4.0
    calls = start_echo_calls(b, start_sipp, 2, seconds)
    threads, records = stream_in_threads(calls, signal_payloads(seconds))
    time.sleep(1.0)
    with rtp_socket() as sock:
        third = run_sipp("uac_invite_503", b.target, keys={"rtp_port": sock.getsockname()[1]})
    retry = re.search(r"RETRY_AFTER (\d+)", third.sipp.logs())
    listed = rpc(url, "calls.list")
    for t in threads:
        t.join(seconds + 5)
    problems = check_echoes(calls, records)
    assert not problems, "\n".join(problems)
    assert retry is not None and int(retry.group(1)) > 0, third.sipp.logs()
    assert len(listed) == 2, f"while the third call was refused: {listed}"
    assert "RTP port range exhausted" in b.log()
    matched = [_rtp.analyse_echo(r).matched for r in records]
    sent = [len(r.payloads) for r in records]
    # Both pairs returned: two calls at once again (each needs a pair).
    calls_settled, _ = watch.settle()
    assert calls_settled == 0
    again = start_echo_calls(b, start_sipp, 2, 1.0)
    threads, records = stream_in_threads(again, signal_payloads(1.0))
    for t in threads:
        t.join(6)
    problems = check_echoes(again, records)
    assert not problems, "after the first two ended: " + "\n".join(problems)
    clean = watch.check_clean(start_sipp)
    figures(
        "test_rtp_port_range_exhausted",
        "RTP range of 2 port pairs, a 3rd call while 2 echo calls run",
        f"3rd call: 503 Retry-After {retry.group(1)}; the 2 calls kept a clean echo "
        f"({matched[0]}/{sent[0]} and {matched[1]}/{sent[1]} frames, no sequence gaps); "
        f"2 new calls at once after them; {clean}",
    )


# --- 4. prompt removed while it plays --------------------------------------------------------
LONG_PROMPT_S = 280  # 4.5 MB of PCM: above the prompt cache's item limit, so it is streamed
SHORT_PROMPT_S = 6  # cached in memory when the call starts
FAULT_AT_S = 2.0


def tone_wav(path: Path, seconds: float, freq: int = 400) -> None:
    """A loud tone WAV (16-bit, 8 kHz): one period repeated, cheap at any length."""
    period = _audio.RATE // freq
    one = array("h", (int(12000 * math.sin(2 * math.pi * i / period)) for i in range(period)))
    samples = int(seconds * _audio.RATE)
    _audio.write_wav(path, (one.tobytes() * (samples // period + 1))[: 2 * samples])


@pytest.mark.parametrize(
    ("prompt", "action"),
    [(p, a) for p in ("streamed", "cached") for a in ("unlink", "truncate")],
)
def test_prompt_removed_while_playing(box, start_sipp, tmp_path, prompt, action):
    """What the box does (asserted):
    - a streamed (long) prompt that is unlinked keeps playing from the open file until
      the caller hangs up; the file is closed at the end of the call;
    - a streamed prompt truncated to 0 bytes ends its announcement at once: the box BYEs;
    - a cached (short) prompt plays on from memory either way and the box BYEs at its end.
    No traceback, nothing left, and the next call works."""
    folder = tmp_path / "prompts"
    folder.mkdir()
    tone_wav(folder / "default.wav", 1.0, freq=500)
    path = folder / "long.wav"
    tone_wav(path, LONG_PROMPT_S if prompt == "streamed" else SHORT_PROMPT_S)
    ctl = free_port()
    url = f"http://127.0.0.1:{ctl}"
    config = {
        **control(ctl),
        "apps": {"announcement": "apps.announcement"},
        "routing": [{"user": "long", "app": "announcement"}],
        "app_config": {
            "announcement": {
                "announce_path": str(folder),
                "default_announce": str(folder / "default.wav"),
            }
        },
    }
    b = box(with_echo(config))
    watch = Watch(b, url)
    fault_at = 0.0
    prompt_fds: list[str] = []

    def fault() -> None:
        nonlocal fault_at, prompt_fds
        prompt_fds = [f for f in open_fds(b.proc.pid) if f.endswith("long.wav")]
        fault_at = time.time()
        if action == "unlink":
            path.unlink()
        else:
            os.truncate(path, 0)

    rec, result, sipp = announcement_call(b, start_sipp, fault)
    assert result.returncode == 0, f"the call did not end cleanly\n{sipp.describe()}"
    box_bye = sipp.log_times("BOX_BYE")
    caller_bye = sipp.log_times("CALLER_BYE")
    ended_at = (box_bye or caller_bye)[0]
    loud_before = [a for a in rec.rtp() if a.wall < fault_at and audible(a)]
    loud_after = [a for a in rec.rtp() if fault_at + 0.3 < a.wall < ended_at and audible(a)]
    played_after = ended_at - fault_at
    assert len(loud_before) >= 0.8 * FAULT_AT_S / _rtp.PTIME, "the prompt did not play"
    if prompt == "streamed":
        assert len(prompt_fds) == 1, f"a streamed prompt is read from an open file: {prompt_fds}"
    else:
        assert not prompt_fds, f"a cached prompt holds no file open: {prompt_fds}"
    if prompt == "streamed" and action == "unlink":
        outcome = "keeps playing from the open file until the caller hangs up"
        assert caller_bye and not box_bye, sipp.logs()
        assert len(loud_after) >= 0.8 * (played_after - 0.3) / _rtp.PTIME
    elif prompt == "streamed":
        outcome = "the announcement ends at once and the box sends BYE"
        assert box_bye, sipp.logs()
        assert played_after < 1.0, f"BYE {played_after:.2f} s after the truncation"
    else:
        outcome = "plays on from the prompt cache to its end, then BYE"
        assert box_bye, sipp.logs()
        want = SHORT_PROMPT_S - FAULT_AT_S
        assert abs(played_after - want) < 1.0, f"BYE {played_after:.1f} s after, want ~{want}"
        assert len(loud_after) >= 0.8 * (played_after - 0.5) / _rtp.PTIME
    # The next call for the same prompt: with the file gone the default prompt plays; the
    # empty file is refused with an error logged and the box hangs up at once.
    rec2, result2, sipp2 = announcement_call(b, start_sipp)
    assert result2.returncode == 0 and sipp2.log_times("BOX_BYE"), sipp2.describe()
    (answered2,) = sipp2.log_times("ANSWERED")
    next_took = sipp2.log_times("BOX_BYE")[0] - answered2
    next_loud = sum(1 for a in rec2.rtp() if audible(a))
    if action == "unlink":
        following = f"next call: the default prompt, {next_loud} audible packets"
        assert abs(next_loud - 50) <= 5 and 0.8 < next_took < 2.0, (next_loud, next_took)
    else:
        following = "next call: the empty file refused (logged), BYE at once"
        assert next_loud == 0 and next_took < 1.0, (next_loud, next_took)
        assert f"playback of {path} failed" in b.log()
    assert "Traceback" not in b.log()
    clean = watch.check_clean(start_sipp)
    figures(
        f"test_prompt_removed_while_playing[{prompt}-{action}]",
        f"{action} the {prompt} prompt {FAULT_AT_S:.0f} s into the announcement",
        f"{outcome} ({len(loud_after)} audible packets in the {played_after:.1f} s after); "
        f"{following}; {clean}",
    )


def announcement_call(
    b: Box, start_sipp: Callable[..., Any], fault: Callable[[], None] | None = None
) -> tuple[_rtp.StreamRecord, subprocess.CompletedProcess, Any]:
    """One call to the `long` announcement, recording the RTP that comes; `fault` runs
    FAULT_AT_S after the ACK. Either side may hang up (uac_bye_either_side)."""
    rec = _rtp.StreamRecord()
    with rtp_socket() as sock:
        sipp = start_sipp(
            "uac_bye_either_side",
            b.target,
            timeout=30,
            keys={"rtp_port": sock.getsockname()[1]},
            service="long",
        )
        sipp.wait_log(r"ANSWERED ")
        if fault is not None:
            _rtp.listen(sock, FAULT_AT_S, rec)
            fault()
        while sipp.proc.poll() is None:
            _rtp.listen(sock, 0.1, rec)
        result = sipp.wait()
        _rtp.listen(sock, 0.2, rec)
    return rec, result, sipp


def audible(arrival: _rtp.Arrival) -> bool:
    packet = arrival.packet
    return packet is not None and _audio.rms(_audio.from_ulaw(packet.payload)) > 1000


# --- 5. disk full while recording -------------------------------------------------------------
TMPFS_SIZE = "32k"  # about 2 s of 16-bit 8 kHz audio


def test_disk_full_while_recording(fault_box, start_sipp, tmp_path):
    """The recording folder is a 32 kB tmpfs (private mount namespace): after about 2 s
    writes fail with ENOSPC. The call goes on (the echo stays clean to the end), the
    recorder closes its file with a header that matches what reached the disk, and the
    error is logged with the path, without a traceback."""
    reason = _unshare_usable()
    if reason:
        pytest.skip(reason)
    folder = tmp_path / "full"
    wav = folder / "rec.wav"
    ctl = free_port()
    url = f"http://127.0.0.1:{ctl}"
    config = {
        **control(ctl),
        "apps": {"rec": "tests.interop.apps.record_echo"},
        "routing": [{"user": "rec", "app": "rec"}],
        "app_config": {"rec": {"path": str(wav), "flush_bytes": RECORD_FLUSH}},
    }
    b = fault_box(with_echo(config), tmpfs=(folder, TMPFS_SIZE))
    seen = Path(f"/proc/{b.proc.pid}/root") / str(wav).lstrip("/")  # the box's view
    watch = Watch(b, url)
    seconds = 5.0
    payloads = signal_payloads(seconds)
    sent_lin = _audio.from_ulaw(b"".join(payloads))
    with rtp_socket() as sock:
        sipp = start_sipp(
            "uac_echo_call",
            b.target,
            ["-d", str(call_length_ms(seconds))],
            keys={"rtp_port": sock.getsockname()[1]},
            service="rec",
        )
        rec = _rtp.stream(sock, media_of(sipp).dest, payloads, tail=0.2)
        # Mid-call (the caller has not hung up yet): the error is logged, the file closed.
        in_call = rpc(url, "calls.list")
        fds_in_call = open_fds(b.proc.pid)
        recorded = check_wav(seen)
        _, data_at, data_size = wav_layout(seen)
        file_size = seen.stat().st_size
        result = sipp.wait()
    assert result.returncode == 0, f"the call did not go on to its BYE\n{sipp.describe()}"
    assert len(in_call) == 1 and in_call[0]["state"] == "confirmed", in_call
    report = _rtp.analyse_echo(rec)
    problems = echo_problems(report)
    assert not problems, "echo while the disk was full: " + "; ".join(problems)
    log = b.log()
    assert f"recording to {wav} stopped: [Errno 28] No space left on device" in log, log
    assert "Traceback" not in log
    assert not [f for f in fds_in_call if f.endswith("rec.wav")], "recording file still open"
    seconds_kept = len(recorded) / 2 / _audio.RATE
    assert 0.5 < seconds_kept < seconds - 1, f"{seconds_kept:.2f} s recorded"
    assert file_size == data_at + data_size, "bytes beyond the header's data size"
    offset, snr = match_sent(recorded, sent_lin)
    assert offset == 0 and snr > MIN_SNR_DB, f"recording: offset {offset}, SNR {snr:.1f} dB"
    clean = watch.check_clean(start_sipp)
    figures(
        "test_disk_full_while_recording",
        f"recording into a {TMPFS_SIZE} tmpfs, 5 s call (ENOSPC after ~2 s)",
        f"call went on: echo {report.matched}/{report.sent} frames, clean; ENOSPC logged with "
        f"the path, no traceback; WAV closed mid-call, valid, {seconds_kept:.2f} s = what was "
        f"sent (SNR {snr:.0f} dB); {clean}",
    )


# --- 6. SIGTERM with recordings open ----------------------------------------------------------
def test_sigterm_with_recordings_open(box, start_sipp, tmp_path):
    """Two calls record (and echo) when SIGTERM comes: both get BYE, the box exits 0, and
    both WAV files are complete (header sizes match the data, the tail shorter than a
    flush included) and hold exactly the audio each caller sent."""
    folder = tmp_path / "rec"
    folder.mkdir()
    config = {
        "apps": {"rec": "tests.interop.apps.record_echo"},
        "routing": [{"user": "rec", "app": "rec"}],
        "app_config": {"rec": {"path": str(folder / "rec-{n}.wav"), "flush_bytes": 16000}},
    }
    b = box(config)
    seconds, stop_after = 4.0, 2.3
    signals = [signal_payloads(seconds, seed=600 + n) for n in range(2)]
    calls, records, threads = [], [], []
    for _ in range(2):
        sock = rtp_socket()
        sipp = start_sipp(
            "uac_wait_bye", b.target, keys={"rtp_port": sock.getsockname()[1]}, service="rec"
        )
        calls.append((sipp, sock, media_of(sipp).dest))  # INVITE order: rec-1, then rec-2
    for n, (_sipp, sock, dest) in enumerate(calls):
        records.append(_rtp.StreamRecord())
        threads.append(
            threading.Thread(
                target=_rtp.stream,
                args=(sock, dest, signals[n]),
                kwargs={"record": records[n], "ssrc": 0x600 + n, "tail": 0.1},
                daemon=True,
            )
        )
    for t in threads:
        t.start()
    time.sleep(stop_after)
    stopped_at = time.time()
    code = b.stop()
    for t in threads:
        t.join(seconds + 5)
    results = [sipp.wait() for sipp, _sock, _dest in calls]
    for _sipp, sock, _dest in calls:
        sock.close()
    assert code == 0, f"exit code {code} after SIGTERM"
    held = []
    for n, ((sipp, _sock, _dest), result) in enumerate(zip(calls, results, strict=True)):
        assert result.returncode == 0, f"call {n + 1} got no BYE\n{sipp.describe()}"
        (bye,) = sipp.log_times("BYE")
        assert bye - stopped_at < 5.0, f"call {n + 1}: BYE {bye - stopped_at:.1f} s after"
        path = folder / f"rec-{n + 1}.wav"
        recorded = check_wav(path)
        _, data_at, data_size = wav_layout(path)
        assert path.stat().st_size == data_at + data_size, f"{path.name}: unaccounted bytes"
        frames = len(recorded) // (2 * _audio.FRAME)
        assert len(recorded) % (2 * _audio.FRAME) == 0, f"{path.name}: a torn frame"
        sent_before_stop = sum(1 for t in records[n].send_wall if t < stopped_at)
        sent_before_bye = sum(1 for t in records[n].send_wall if t < bye)
        assert sent_before_stop - 3 <= frames <= sent_before_bye, (
            f"{path.name}: {frames} frames; {sent_before_stop} sent before SIGTERM, "
            f"{sent_before_bye} before the BYE"
        )
        offset, snr = match_sent(recorded, _audio.from_ulaw(b"".join(signals[n])))
        assert offset == 0 and snr > MIN_SNR_DB, f"{path.name}: offset {offset}, SNR {snr:.1f}"
        held.append(f"rec-{n + 1}.wav {frames} frames of {sent_before_stop} sent, SNR {snr:.0f} dB")
    assert "Traceback" not in b.log()
    figures(
        "test_sigterm_with_recordings_open",
        f"SIGTERM {stop_after} s into 2 recording calls (flush every 1 s)",
        f"both BYE'd, exit 0; WAVs valid and complete: {'; '.join(held)}",
    )


def test_sigterm_closes_recording_when_bye_unanswered(box, start_sipp, tmp_path):
    """SIGTERM while a recording call's caller never answers the BYE: the box exits 0 after
    its shutdown grace, and the recording must still hold everything the box received."""
    wav = tmp_path / "rec.wav"
    config = {
        "apps": {"rec": "tests.interop.apps.record_echo"},
        "routing": [{"user": "rec", "app": "rec"}],
        "app_config": {"rec": {"path": str(wav), "flush_bytes": 16000}},
    }
    b = box(config)
    seconds = 2.5  # 125 frames: 100 are flushed at 2 s, 25 wait in the recorder's buffer
    with rtp_socket() as sock:
        sipp = start_sipp(
            "uac_bye_unanswered",
            b.target,
            ["-d", "10000"],
            timeout=30,
            keys={"rtp_port": sock.getsockname()[1]},
            service="rec",
        )
        rec = _rtp.stream(sock, media_of(sipp).dest, signal_payloads(seconds), tail=0.1)
        stopped = time.monotonic()
        code = b.stop()
        took = time.monotonic() - stopped
    sipp.kill()
    assert code == 0 and took < 6.0, f"exit code {code} after {took:.1f} s"
    frames = len(check_wav(wav)) // (2 * _audio.FRAME)
    assert frames >= len(rec.payloads) - 2, (
        f"the recording holds {frames} of the {len(rec.payloads)} frames the box received"
    )
