"""The whole box on an emulated router: Debian's python3.11 for the board's arch runs
`sems_lite run` under qemu-user on the board's C kernels (ABI mode), with audioop hidden as
on OpenWRT; sipp on the host calls its echo and announcement apps over loopback and the
test checks the audio that comes back.

    make -f boards/cross.mk BOARD=ipq40xx-arm_cortex-a7 cross-test   (builds what it needs)

Without make, every board with a Debian arch runs whose sysroot (boards/sysroot.sh) and
kernels (make cross) are built; the others are skipped. SEMS_LITE_CROSS_BOARD picks one.
With SEMS_LITE_CROSS_WHEEL (a wheel from boards/crossenv-wheel.sh, `make ... cross-wheel`)
that wheel is installed instead and must run on its compiled extension (`native`).
Emulated Python is slow (start-up takes seconds), so the timeouts are generous but bounded,
and the call delay is printed, not judged.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.interop import _rtp
from tests.interop._announce import (
    announce_call,
    app_box_config,
    prompt_problems,
    prompt_reference,
    stream_audio,
)
from tests.interop._box import Box, default_config, merged, tail, wait_ready
from tests.interop._calls import call_length_ms, media_of, rtp_socket, signal_payloads
from tests.interop._net import free_port, rtp_range_for_worker
from tests.interop._sipp import Sipp, scenario, sipp_path, start_sipp

pytestmark = pytest.mark.cross

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("boards_stage", ROOT / "boards/stage.py")
stage = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(stage)

BOX_ARCHES = ("armhf", "arm64", "mipsel")
_chosen = os.environ.get("SEMS_LITE_CROSS_BOARD")
WHEEL = os.environ.get("SEMS_LITE_CROSS_WHEEL")
EXPECTED = "native" if WHEEL else "native-abi"
BOARDS = [_chosen] if _chosen else stage.boards.names()
BOARDS = [n for n in BOARDS if stage.boards.load(n)["DEBIAN_ARCH"] in BOX_ARCHES or _chosen]

VERSION_TIMEOUT = 120.0  # s: one emulated start of the CLI
READY_TIMEOUT = 180.0  # s: emulated start-up until OPTIONS is answered
CALL_TIMEOUT = 60.0  # s: one call, set-up to BYE
STOP_TIMEOUT = 60.0
ECHO_SECONDS = 3.0
MIN_MATCHED = 0.90  # of the frames sent; the host, not the box, may drop one under load
NO_AUDIOOP = 'raise ImportError("audioop hidden: OpenWRT\'s Python has none")\n'


@dataclass
class Target:
    board: str
    qemu: str
    sysroot: Path
    staged: Path
    kernels: Path | None  # None: the wheel's own extension
    pythonpath: str
    cwd: Path  # not the checkout: `-m` puts the working directory first on sys.path

    def command(self, *args: str) -> list[str]:
        python = self.sysroot / "usr/bin/python3.11"
        return [self.qemu, "-L", str(self.sysroot), str(python), *args]

    def env(self) -> dict[str, str]:
        # a clean environment: nothing of the host venv may leak into the target Python
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONPATH": self.pythonpath,
            "PYTHONUNBUFFERED": "1",
            "SEMS_LITE_LOG_TIME": "1",
        }
        if self.kernels is not None:
            env["SEMS_LITE_KERNELS"] = str(self.kernels)
        return env


@pytest.fixture(scope="module", params=BOARDS)
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Target:
    name = request.param
    b = stage.boards.load(name)
    if b["DEBIAN_ARCH"] not in BOX_ARCHES:
        pytest.skip(f"{name}: the box test covers Debian {', '.join(BOX_ARCHES)} Pythons only")
    if shutil.which(b["QEMU"]) is None:
        pytest.skip(f"{b['QEMU']} not on PATH (boards/install-toolchain.sh)")
    if not stage.sysroot_ready(name):
        pytest.skip(f"no sysroot for {name}: sh boards/sysroot.sh {b['DEBIAN_ARCH']}")
    kernels = None if WHEEL else stage.box_kernels(name)
    if kernels is not None and not kernels.is_file():
        pytest.skip(f"{kernels} not built: make -f boards/cross.mk BOARD={name} cross-test")
    if sipp_path() is None:
        pytest.skip("sipp not on PATH (apt-get install sip-tester)")
    staged = stage.stage_wheel(name, Path(WHEEL)) if WHEEL else stage.stage(name)
    # audioop shadowed as on OpenWRT (no package; none at all from 3.13): the box must run
    # on the C kernels and the audioop-free paths alone
    hide = tmp_path_factory.mktemp(f"noaudioop-{name}")
    (hide / "audioop.py").write_text(NO_AUDIOOP)
    path = f"{hide}:{staged}"
    return Target(name, b["QEMU"], stage.sysroot(name), staged, kernels, path, hide)


def test_version_says_native(target: Target) -> None:
    """native-abi: the board's .so through ffi.dlopen; native: the wheel's extension."""
    out = subprocess.run(
        target.command("-m", "sems_lite", "--version"),
        env=target.env(),
        cwd=target.cwd,
        capture_output=True,
        text=True,
        timeout=VERSION_TIMEOUT,
    )
    assert out.returncode == 0, out.stderr
    print(f"{target.board}: {out.stdout.strip()}")
    assert f" {EXPECTED} " in out.stdout, f"{out.stdout}\n{out.stderr}"
    assert "python 3.11" in out.stdout
    assert "not used" not in out.stderr, out.stderr  # the kernels loaded without a warning


@pytest.fixture(scope="module")
def box(target: Target, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    """sems_lite run under qemu with echo and announcement, answering OPTIONS."""
    workdir = tmp_path_factory.mktemp(f"box-{target.board}")
    prompts = target.staged / "etc/prompts"
    apps = app_box_config(
        "announcement",
        "announcement",
        announce_path=str(prompts),
        default_announce=str(prompts / "default.wav"),
    )
    port = free_port()
    low, high = rtp_range_for_worker(100)
    cfg = merged(default_config(), apps)
    cfg["sip"]["listen"] = [f"udp:127.0.0.1:{port}"]
    cfg["rtp"]["ports"] = f"{low}-{high}"
    cfg["limits"]["max_calls"] = 8
    cfg["log_level"] = "info"  # debug lines cost real time under emulation
    cfg_path = workdir / "sems_lite.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    cmd = target.command("-m", "sems_lite", "run", "--config", str(cfg_path))
    (workdir / "box.cmd").write_text(" ".join(cmd) + "\n")
    started = time.monotonic()
    with open(workdir / "box.stderr.log", "wb") as err:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=target.env(), cwd=workdir
        )
    b = Box(proc, "127.0.0.1", port, (low, high), workdir, cfg)
    try:
        wait_ready(b, READY_TIMEOUT)
    except BaseException:
        b.stop(STOP_TIMEOUT)
        raise
    print(f"{target.board}: box answered OPTIONS {time.monotonic() - started:.1f} s after start")
    if "not used" in b.log():  # native.py warns when it falls back from the kernels
        b.stop(STOP_TIMEOUT)
        pytest.fail(f"the box did not run on the C kernels\n{tail(b.log(), 40)}")
    yield b
    code = b.stop(STOP_TIMEOUT)
    assert code == 0, f"exit code {code} after SIGTERM (want 0)\n{tail(b.log(), 100)}"


@pytest.fixture
def sipp_factory(tmp_path: Path) -> Iterator[Callable[..., Sipp]]:
    """start_sipp(scenario, target, extra_args=(), timeout=..., *, keys, service) -> Sipp."""
    runs: list[Sipp] = []

    def factory(
        name: str,
        where: str,
        extra_args: list[str] | tuple[str, ...] = (),
        timeout: float = CALL_TIMEOUT,
        *,
        keys: dict[str, object] | None = None,
        service: str = "echo",
    ) -> Sipp:
        run = start_sipp(
            tmp_path / f"sipp{len(runs)}-{name}",
            scenario(name),
            where,
            extra_args,
            timeout=timeout,
            keys=keys,
            service=service,
        )
        runs.append(run)
        return run

    yield factory
    for run in runs:
        run.kill()


def _problems_on_failure(box: Box) -> str:
    return f"--- box stderr ---\n{tail(box.log(), 80)}"


def test_echo_call_returns_the_audio(
    target: Target, box: Box, sipp_factory: Callable[..., Sipp]
) -> None:
    with rtp_socket() as sock:
        sipp = sipp_factory(
            "uac_echo_call",
            box.target,
            ["-d", str(call_length_ms(ECHO_SECONDS))],
            keys={"rtp_port": sock.getsockname()[1]},
        )
        media = media_of(sipp, CALL_TIMEOUT)
        assert _rtp.PT_PCMU in media.fmts, f"answer does not accept PCMU: {media}"
        rec = _rtp.stream(sock, media.dest, signal_payloads(ECHO_SECONDS), tail=1.0)
    result = sipp.wait()
    assert result.returncode == 0, f"sipp call failed\n{sipp.describe()}"
    report = _rtp.analyse_echo(rec)
    print(f"{target.board}: echo {report.summary()}")
    # Each echoed packet must carry one of the sent frames (exact PCMU, or a fit with
    # correlation >= 0.99), in order, each once. The whole-stream correlation of the
    # interop test is only printed: an emulated box on a busy host may drop a late frame
    # from its jitter buffer, which shifts the rest of the stream by 20 ms.
    assert report.matched >= MIN_MATCHED * report.sent, (
        f"{report.summary()}\n{_problems_on_failure(box)}"
    )
    order = [index for index, _ in report.frames]
    assert order == sorted(set(order)), f"echoed frames out of order or repeated: {order}"
    assert report.payload_types == {_rtp.PT_PCMU} and len(report.ssrcs) == 1, report.summary()


def test_announcement_call_plays_the_prompt(
    target: Target, box: Box, sipp_factory: Callable[..., Sipp]
) -> None:
    rec, sipp = announce_call(box, sipp_factory, "announcement", CALL_TIMEOUT)
    packets = rec.rtp()
    assert packets, f"no RTP from the box\n{sipp.describe()}\n{_problems_on_failure(box)}"
    assert sipp.log_times("BYE"), "the box did not hang up when the prompt ended"
    heard, law, _ = stream_audio(packets)
    reference = prompt_reference(target.staged / "etc/prompts/default.wav", law)
    problems = prompt_problems(heard, reference)
    print(f"{target.board}: announcement {len(packets)} packets {law}, problems: {problems}")
    assert not problems, "\n".join(problems)
