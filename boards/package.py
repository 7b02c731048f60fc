"""Build the OpenWRT package of sems_lite for one board (stdlib only).

    python boards/package.py BOARD [--python python3.11] [--out DIR]

writes build/<board>/sems-lite_<version>_<arch>.ipk from the sources and the board's
`make cross` output (build/<board>/libsems_kernels.so and sems_kernels.h). An .ipk is a
gzipped tar of ./debian-binary, ./data.tar.gz and ./control.tar.gz, which opkg on
OpenWRT 24.10 installs. The Python code is shipped as bytecode only (as OpenWRT's own
Python packages are), compiled by an interpreter of the router's Python version, and
the kernels run in cffi ABI mode (`native-abi`).
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OPENWRT = HERE / "openwrt"
PACKAGE = "sems-lite"
RELEASE = "1"
PYTHON_VERSION = "3.11"  # OpenWRT 24.10; bytecode is only good for this version
SITE = f"usr/lib/python{PYTHON_VERSION}/site-packages"
DEPENDS = ("libc", "python3-light", "python3-logging", "python3-yaml", "python3-cffi")
CONFFILES = ("/etc/config/sems_lite", "/etc/sems_lite/sems_lite.yaml")
PY_PACKAGES = ("sems_lite", "apps")
# package data that is not Python (pyproject's package-data)
DATA_GLOBS = ("web/*",)
# the host's compiled extension is for the build machine, never for the board
SKIP = re.compile(r"(^|/)(__pycache__|tests?)(/|$)|\.(so|pyd|pyc)$")
EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH", "1700000000"))  # reproducible archives

LAUNCHER = """#!/usr/bin/python3
import sys

from sems_lite.cli import main

sys.exit(main())
"""
# OpenWRT's default_postinst creates the Require-User account and enables the init script
POSTINST = """#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_postinst $0 $@
"""
PRERM = """#!/bin/sh
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_prerm $0 $@
"""
COMPILE = """import py_compile, sys
src_root, router_root = sys.argv[1], sys.argv[2]
for src in sys.argv[3:]:
    rel = src[len(src_root) + 1:]
    # legacy layout (x.pyc beside where x.py was): imports work without the sources;
    # unchecked hash: no source mtime to compare with on the router
    py_compile.compile(src, cfile=src + "c", dfile=router_root + "/" + rel, doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
"""


def _load_board_module():
    spec = importlib.util.spec_from_file_location("boards_board", HERE / "board.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


board_mod = _load_board_module()


def version() -> str:
    """sems_lite.__version__ plus the package release, as opkg compares them."""
    text = (ROOT / "sems_lite" / "__init__.py").read_text(encoding="utf-8")
    m = re.search(r'__version__\s*=\s*"([^"]+)"', text)
    if m is None:
        raise ValueError("sems_lite/__init__.py has no __version__")
    return f"{m.group(1)}-{RELEASE}"


def ipk_name(board: dict[str, str]) -> str:
    return f"{PACKAGE}_{version()}_{board['OPENWRT_ARCH']}.ipk"


def router_yaml(board: dict[str, str]) -> str:
    """The router default config with the board's RTP range and call limit."""
    text = (OPENWRT / "files" / "sems_lite.yaml").read_text(encoding="utf-8")
    text, n_ports = re.subn(
        r'(?m)^(  ports: )"[0-9]+-[0-9]+"', rf'\g<1>"{board["RTP_PORTS"]}"', text
    )
    text, n_calls = re.subn(r"(?m)^(  max_calls: )[0-9]+", rf"\g<1>{board['MAX_CALLS']}", text)
    if n_ports != 1 or n_calls != 1:
        raise ValueError("files/sems_lite.yaml: rtp.ports or limits.max_calls line not found")
    return text


def control_text(board: dict[str, str], installed_size: int) -> str:
    fields = [
        ("Package", PACKAGE),
        ("Version", version()),
        ("Depends", ", ".join(DEPENDS)),
        ("Source", "boards/openwrt"),
        ("SourceName", PACKAGE),
        ("License", "GPL-2.0-or-later"),
        ("Section", "net"),
        ("Require-User", "sems_lite:sems_lite"),
        ("Architecture", board["OPENWRT_ARCH"]),
        ("Installed-Size", str(installed_size)),
        ("Description", "A small SIP media server (echo, announcements, conference)"),
    ]
    return "".join(f"{k}: {v}\n" for k, v in fields)


def _copy(src: Path, dst: Path, mode: int = 0o644) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    dst.chmod(mode)


def _write(dst: Path, text: str, mode: int = 0o644) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(text, encoding="utf-8")
    dst.chmod(mode)


def stage_python(data: Path, python: str) -> None:
    """sems_lite/ and apps/ as bytecode under site-packages, plus their data files."""
    site = data / SITE
    sources = []
    for package in PY_PACKAGES:
        for src in sorted((ROOT / package).rglob("*")):
            rel = src.relative_to(ROOT).as_posix()
            if src.is_dir() or SKIP.search(rel):
                continue
            if src.suffix == ".py":
                _copy(src, site / rel)
                sources.append(str(site / rel))
    for pattern in DATA_GLOBS:
        for src in sorted((ROOT / "sems_lite").glob(pattern)):
            _copy(src, site / "sems_lite" / src.relative_to(ROOT / "sems_lite"))
    subprocess.run(
        [python, "-c", COMPILE, str(site), "/" + SITE, *sources],
        check=True,
    )
    for src in sources:
        os.remove(src)


def stage(board_name: str, data: Path, python: str) -> None:
    """Everything the package installs, laid out under data/ as on the router."""
    board = board_mod.load(board_name)
    build = ROOT / "build" / board_name
    so, header = build / "libsems_kernels.so", build / "sems_kernels.h"
    for f in (so, header):
        if not f.is_file():
            raise FileNotFoundError(f"{f} missing: run `make cross BOARD={board_name}` first")
    stage_python(data, python)
    # beside the package, where sems_lite.native looks for them (ABI mode)
    _copy(so, data / SITE / "sems_lite" / "libsems_kernels.so", 0o755)
    _copy(header, data / SITE / "sems_lite" / "sems_kernels.h")
    _write(data / "usr/bin/sems-lite", LAUNCHER, 0o755)
    _copy(OPENWRT / "uci2yaml.py", data / "usr/libexec/sems_lite/uci2yaml", 0o755)
    _copy(OPENWRT / "files/sems_lite.init", data / "etc/init.d/sems_lite", 0o755)
    _copy(OPENWRT / "files/sems_lite.config", data / "etc/config/sems_lite")
    _write(data / "etc/sems_lite/sems_lite.yaml", router_yaml(board))
    for prompt in sorted((ROOT / "etc" / "prompts").iterdir()):
        if prompt.is_file():
            _copy(prompt, data / "usr/share/sems_lite/prompts" / prompt.name)


def _tar_gz(root: Path, names: list[str] | None = None) -> bytes:
    """root's tree (or the named members) as a reproducible tar.gz, owned by root."""

    def owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mtime = EPOCH
        return info

    buf = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buf, mode="wb", mtime=EPOCH) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        if names is None:
            tar.add(root, arcname=".", recursive=False, filter=owned_by_root)
            for path in sorted(root.rglob("*")):
                arcname = "./" + path.relative_to(root).as_posix()
                tar.add(path, arcname=arcname, recursive=False, filter=owned_by_root)
        else:
            for name in names:
                tar.add(root / name, arcname="./" + name, filter=owned_by_root)
    return buf.getvalue()


def build_ipk(board_name: str, out_dir: Path | None = None, python: str = "") -> Path:
    """Stage, archive and write the .ipk; returns its path."""
    board = board_mod.load(board_name)
    python = python or shutil.which(f"python{PYTHON_VERSION}") or ""
    if not python:
        raise FileNotFoundError(f"python{PYTHON_VERSION} not found: the router's bytecode needs it")
    found = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if found != PYTHON_VERSION:
        raise ValueError(f"{python} is Python {found}; the router runs {PYTHON_VERSION}")
    out_dir = out_dir or ROOT / "build" / board_name
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        data, control, outer = tmp_path / "data", tmp_path / "control", tmp_path / "ipk"
        for d in (data, control, outer):
            d.mkdir()
        stage(board_name, data, python)
        size = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
        _write(control / "control", control_text(board, size))
        _write(control / "conffiles", "".join(f + "\n" for f in CONFFILES))
        _write(control / "postinst", POSTINST, 0o755)
        _write(control / "prerm", PRERM, 0o755)
        (outer / "data.tar.gz").write_bytes(_tar_gz(data))
        (outer / "control.tar.gz").write_bytes(_tar_gz(control))
        _write(outer / "debian-binary", "2.0\n")
        out_dir.mkdir(parents=True, exist_ok=True)
        ipk = out_dir / ipk_name(board)
        ipk.write_bytes(_tar_gz(outer, ["debian-binary", "data.tar.gz", "control.tar.gz"]))
    return ipk


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="package.py", description=__doc__.split("\n")[0])
    parser.add_argument("board", help="one of: " + ", ".join(board_mod.names()))
    parser.add_argument("--python", default="", help=f"a Python {PYTHON_VERSION} to compile with")
    parser.add_argument("--out", type=Path, help="output folder (default build/<board>)")
    args = parser.parse_args(argv)
    try:
        ipk = build_ipk(args.board, args.out, args.python)
    except (ValueError, OSError, subprocess.CalledProcessError) as exc:
        print(f"package.py: {exc}", file=sys.stderr)
        return 1
    print(f"{ipk}: {ipk.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
