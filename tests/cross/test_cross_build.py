"""`make cross` for real: build each board with zig, run its C tests under qemu-user, check
its shared object. Skipped without ziglang (in this Python) or the board's qemu; the first
build of a target takes about a minute (zig builds musl once, cached in build/zig-cache).

    python -m pytest -m cross tests/cross
"""

from __future__ import annotations

import importlib.util
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cross.test_boards import NAMES, board

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.cross


@pytest.mark.parametrize("name", NAMES)
def test_cross_build_runs_and_checks(name):
    b = board.load(name)
    if importlib.util.find_spec("ziglang") is None:
        pytest.skip("ziglang not installed (boards/install-toolchain.sh)")
    native = b["UNAME_M"] == platform.machine()
    if shutil.which("make") is None or shutil.which("readelf") is None:
        pytest.skip("no make or readelf")
    if not native and shutil.which(b["QEMU"]) is None:
        pytest.skip(f"{b['QEMU']} not installed (boards/install-toolchain.sh)")
    make = ["make", "-f", str(ROOT / "boards/cross.mk"), f"BOARD={name}"]
    result = subprocess.run(
        [*make, "cross", f"PY={sys.executable}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert "native kernels: all checks passed" in out
    if not native:
        assert f"under {b['QEMU']}" in out  # really emulated, not skipped
    so = ROOT / "build" / name / "libsems_kernels.so"
    assert f"{so}: ok for {name}" in out
    # the object is for the board: the check above passed on readelf's own reading of it
    elf = board.ElfInfo.read(so)
    assert elf.header["Machine"] == b["ELF_MACHINE"]
    assert elf.header["Data"].endswith(b["ELF_DATA"])
    assert (ROOT / "build" / name / "sems_kernels.h").read_bytes() == (
        ROOT / "native/sems_kernels.h"
    ).read_bytes()
