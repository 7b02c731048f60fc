"""Install sems_lite into a board's target sysroot, for the whole-box test under qemu-user.

    python boards/stage.py BOARD [WHEEL]   copy (or install the wheel), print the directory

The sysroot is Debian's Python for the board's arch (boards/sysroot.sh DEBIAN_ARCH). The
box goes to <sysroot>/opt/sems_lite/: the sems_lite and apps packages as source (no host
extension, no host bytecode) and etc/ (config and prompts). The kernels are not copied:
the box test points SEMS_LITE_KERNELS at `box_kernels(BOARD)`, the board's own build.
With a wheel from boards/crossenv-wheel.sh, the wheel is installed instead (to
<sysroot>/opt/sems_lite-wheel/) and carries its compiled extension.
"""

from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BUILD = ROOT / "build"
sys.path.insert(0, str(HERE))

import board as boards  # noqa: E402  (boards/ is not a package)

STAGE = "opt/sems_lite"
WHEEL_STAGE = "opt/sems_lite-wheel"
# host-only files: the x86 cffi extension and bytecode of the host's Python
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "*.egg-info")


def sysroot(name: str) -> Path | None:
    """build/sysroot-<DEBIAN_ARCH> of the board, None if Debian has no Python for it."""
    arch = boards.load(name)["DEBIAN_ARCH"]
    return BUILD / f"sysroot-{arch}" if arch else None


def sysroot_ready(name: str) -> bool:
    """boards/sysroot.sh finished for the board's arch (it writes its stamp last)."""
    root = sysroot(name)
    return root is not None and (root / ".sysroot-stamp").is_file()


def box_kernels(name: str) -> Path:
    """The .so the box test loads: the board's build, or, where the board's float ABI is
    not the Debian sysroot's (SYSROOT_ZIG_TARGET set, e.g. soft-float mipsel), the build of
    the same C for the sysroot's ABI that `make cross-test` leaves in sysroot-abi/."""
    sub = "sysroot-abi/" if boards.load(name).get("SYSROOT_ZIG_TARGET") else ""
    return BUILD / name / f"{sub}libsems_kernels.so"


def _fresh(name: str, where: str) -> Path:
    root = sysroot(name)
    if root is None:
        raise ValueError(f"{name}: no DEBIAN_ARCH, so no target Python to stage into")
    if not root.is_dir():
        raise FileNotFoundError(f"{root} missing: run boards/sysroot.sh first")
    dest = root / where
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    return dest


def stage(name: str) -> Path:
    """Copy sems_lite, apps and etc into the board's sysroot (replacing an older copy)."""
    dest = _fresh(name, STAGE)
    for part in ("sems_lite", "apps", "etc"):
        shutil.copytree(ROOT / part, dest / part, ignore=_SKIP)
    return dest


def stage_wheel(name: str, wheel: Path) -> Path:
    """Install a wheel into the board's sysroot the way pip lays out a pure-path install
    (unpacked as it is: its files sit at the wheel's root), plus etc/ for the prompts."""
    dest = _fresh(name, WHEEL_STAGE)
    with zipfile.ZipFile(wheel) as whl:
        whl.extractall(dest)
    shutil.copytree(ROOT / "etc", dest / "etc", ignore=_SKIP)
    return dest


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        print(stage_wheel(argv[0], Path(argv[1])) if len(argv) == 2 else stage(argv[0]))
    except (ValueError, OSError) as e:
        print(f"stage.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
