"""Fixtures for the interop tests: the box under test, sipp, and process hygiene.

Everything runs on loopback. Every process a test starts is stopped in teardown; the
box must exit 0 on SIGTERM, and its stderr is printed when a test fails.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from . import _sipp
from ._box import Box, BoxError, start_box, tail
from ._net import free_port, host_port, rtp_range_for_worker
from ._sipp import Sipp, scenario, sipp_path

# Each box in a test gets its own 100-port RTP slice of the worker's 400-port range.
BOX_RTP_SLICE = 100
WORKER_RTP_RANGE = 400


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "make_run: runs `make run` from the repo root (slow, may create .venv)"
    )


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    # Keep each phase's report on the item so fixtures can tell a failed test in teardown.
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def _failed(request: pytest.FixtureRequest) -> bool:
    rep = getattr(request.node, "rep_call", None)
    return rep is None or rep.failed


def require_tool(name: str) -> str:
    """Path of a tool, or skip the test with a clear reason."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"`{name}` is not on PATH (CI installs it; locally: apt-get install it)")
    return path


@pytest.fixture(scope="session")
def rtp_ports() -> tuple[int, int]:
    """This worker's RTP port range (even LOW)."""
    return rtp_range_for_worker(WORKER_RTP_RANGE)


BoxFactory = Callable[..., Box]


@pytest.fixture
def box(
    request: pytest.FixtureRequest, tmp_path: Path, rtp_ports: tuple[int, int]
) -> Iterator[BoxFactory]:
    """Factory: box(config_override=None, *, host, transports, env, args) -> Box.

    Starts `python -m sems_lite run` with the brief's config deep-merged with the
    override, on a fresh SIP port (UDP+TCP unless `transports` names them, e.g.
    ["udp"] for `--listen udp:[::1]:PORT`), and waits for a 200 to OPTIONS.
    `env` adds environment variables for the box (e.g. {"SEMS_LITE_NATIVE": "0"});
    `args` more command-line flags (e.g. ["--workers", "2"]).
    Teardown sends SIGTERM and requires exit code 0.
    """
    started: list[Box] = []

    def factory(
        config: dict[str, Any] | None = None,
        *,
        host: str = "127.0.0.1",
        transports: list[str] | None = None,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
    ) -> Box:
        low = rtp_ports[0] + BOX_RTP_SLICE * len(started)
        if low + BOX_RTP_SLICE - 1 > rtp_ports[1]:
            raise RuntimeError("too many boxes in one test for the worker's RTP range")
        port = free_port(host)
        listen = [f"{t}:{host_port(host, port)}" for t in transports] if transports else None
        try:
            b = start_box(
                tmp_path / f"box{len(started)}",
                host=host,
                port=port,
                rtp_ports=(low, low + BOX_RTP_SLICE - 1),
                config=config,
                listen=listen,
                env=env,
                args=args,
            )
        except BoxError as exc:
            pytest.fail(str(exc), pytrace=False)
        started.append(b)
        return b

    yield factory

    problems = []
    for b in started:
        code = b.stop()
        if code != 0:
            problems.append(f"{b.describe()}: exit code {code} after SIGTERM (want 0)")
    if problems or _failed(request):
        for b in started:
            print(f"===== {b.describe()} stderr =====\n{tail(b.log(), 300)}")
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def start_sipp(tmp_path: Path) -> Iterator[Callable[..., Sipp]]:
    """Factory: start_sipp(scenario, target, extra_args=(), timeout=20, *, keys, service).

    Returns a running Sipp (one call); every sipp still running at teardown is killed.
    `scenario` is a file name under scenarios/ or a Path.
    """
    if sipp_path() is None:
        require_tool("sipp")
    runs: list[Sipp] = []

    def factory(
        scenario_path: str | Path,
        target: str,
        extra_args: list[str] | tuple[str, ...] = (),
        timeout: float = 20,
        *,
        keys: dict[str, object] | None = None,
        service: str = "echo",
    ) -> Sipp:
        path = scenario_path if isinstance(scenario_path, Path) else scenario(scenario_path)
        run = _sipp.start_sipp(
            tmp_path / f"sipp{len(runs)}-{path.stem}",
            path,
            target,
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


@pytest.fixture
def run_sipp(start_sipp: Callable[..., Sipp]) -> Callable[..., subprocess.CompletedProcess]:
    """run_sipp(scenario, target, extra_args=(), timeout=20, *, keys, service, check=True).

    Runs one sipp call to the end and returns the CompletedProcess (with `.sipp`, the
    Sipp handle, for its logs). With check, a non-zero exit fails the test showing
    sipp's stderr, error log, message trace and screen.
    """

    def run(
        scenario_path: str | Path,
        target: str,
        extra_args: list[str] | tuple[str, ...] = (),
        timeout: float = 20,
        *,
        keys: dict[str, object] | None = None,
        service: str = "echo",
        check: bool = True,
    ) -> subprocess.CompletedProcess:
        handle = start_sipp(scenario_path, target, extra_args, timeout, keys=keys, service=service)
        result = handle.wait()
        result.sipp = handle  # type: ignore[attr-defined]
        if check and result.returncode != 0:
            pytest.fail(f"sipp call failed\n{handle.describe()}", pytrace=False)
        return result

    return run


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen]]:
    """Register extra subprocesses (baresip, make) to be terminated in teardown."""
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
