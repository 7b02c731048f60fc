"""boards/: every board file is complete and reads the same in make and Python, and the
checks `make cross` runs on a build catch the mistakes they are there for."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("boards_board", ROOT / "boards/board.py")
board = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(board)

NAMES = board.names()
ISSUE_BOARDS = {
    "ath79-mips_24kc",
    "ramips-mipsel_24kc",
    "ipq40xx-arm_cortex-a7",
    "filogic-aarch64_cortex-a53",
    "x86-64",
}
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="no make")


def test_the_boards_of_the_issue_are_there():
    assert set(NAMES) >= ISSUE_BOARDS


@pytest.mark.parametrize("name", NAMES)
def test_board_is_complete_and_sane(name):
    b = board.load(name)
    # named <openwrt target>-<openwrt arch>, the arch possibly shortened
    target, _, arch = name.partition("-")
    assert target in b["OPENWRT_TARGET"].split("/")
    assert b["OPENWRT_ARCH"].startswith(arch) or name == "x86-64"
    _, os_name, libc = b["ZIG_TARGET"].split("-")
    assert os_name == "linux" and libc.startswith("musl")  # the libc OpenWRT uses
    assert b["QEMU"].startswith("qemu-") and b["QEMU"].endswith("-static")
    assert b["ELF_CLASS"] in ("ELF32", "ELF64")
    assert b["ELF_DATA"] in ("big endian", "little endian")
    assert b.get("FLOAT_ABI", "") in ("", "soft", "hard")
    low, high = board.port_range(b)
    calls = int(b["MAX_CALLS"])
    # the rules of rtp.ports in the config: LOW even, 1024..65535, two ports a call
    assert low % 2 == 0 and 1024 <= low < high <= 65535
    assert calls > 0 and (high - low + 1) // 2 >= calls


def test_big_endian_mips_is_a_board():
    b = board.load("ath79-mips_24kc")
    assert b["ELF_DATA"] == "big endian" and b["QEMU"] == "qemu-mips-static"
    assert b["ZIG_CPU"] == "mips32r2+soft_float" and b["FLOAT_ABI"] == "soft"


@needs_make
@pytest.mark.parametrize("name", NAMES)
def test_make_reads_the_board_as_python_does(name):
    out = subprocess.run(
        ["make", "-s", "-f", str(ROOT / "boards/cross.mk"), f"BOARD={name}", "show"],
        capture_output=True,
        text=True,
        check=True,
    )
    seen = dict(line.split("=", 1) for line in out.stdout.splitlines())
    assert seen == board.load(name)


@needs_make
def test_make_lists_the_same_boards_and_refuses_unknown_ones():
    mk = ["make", "-s", "-f", str(ROOT / "boards/cross.mk")]
    out = subprocess.run([*mk, "list"], capture_output=True, text=True, check=True)
    assert out.stdout.split() == NAMES
    bad = subprocess.run([*mk, "BOARD=no-such-board", "so"], capture_output=True, text=True)
    assert bad.returncode != 0 and "unknown board 'no-such-board'" in bad.stderr


def test_parse_rejects_what_make_would_read_differently(tmp_path):
    good = "".join(f"{k} := x\n" for k in board.REQUIRED)
    assert board.parse("# comment\n\n" + good)["ZIG_CPU"] == "x"
    with pytest.raises(ValueError, match=r"b:4: expected 'KEY := value'"):
        board.parse(good.replace("ZIG_CPU := x", "ZIG_CPU = x"), "b")
    with pytest.raises(ValueError, match="'#' in a value"):
        board.parse(good.replace("ZIG_CPU := x", "ZIG_CPU := x # note"))
    with pytest.raises(ValueError, match="missing QEMU"):
        board.parse(good.replace("QEMU := x\n", ""))
    with pytest.raises(ValueError, match="unknown board 'nope'"):
        board.load("nope")


def test_kernel_functions_come_from_the_cdef_block():
    names = board.kernel_functions()
    assert "sk_ulaw_encode" in names and "sk_dtmf_feed" in names
    assert "sk_sat16" not in names  # a helper below the block, not part of the ABI


# readelf -h -l -d -A --dyn-syms -W output, cut to the lines the checks read
MIPS_SO = """\
  Class:                             ELF32
  Data:                              2's complement, big endian
  Type:                              DYN (Shared object file)
  Machine:                           MIPS R3000
  Flags:                             0x70001007, noreorder, pic, cpic, o32, mips32r2
 0x0000000e (SONAME)                     Library soname: [libsems_kernels.so]
FP ABI: Soft float
     0: 00000000     0 NOTYPE  LOCAL  DEFAULT  UND
     1: 00010b68   216 FUNC    GLOBAL DEFAULT [MIPS PIC]    10 sk_dtmf_init
     2: 00010c40  1796 FUNC    GLOBAL DEFAULT [MIPS PIC]    10 sk_dtmf_feed
    14: 00000000     0 NOTYPE  GLOBAL DEFAULT  UND memset
    15: 00000000     0 NOTYPE  WEAK   DEFAULT  UND __cxa_finalize
"""
GLIBC_LINES = """\
 0x0000000000000001 (NEEDED)             Shared library: [libc.so.6]
 0x0000000000000001 (NEEDED)             Shared library: [libm.so.6]
     3: 0000000000000000     0 FUNC    GLOBAL DEFAULT  UND __snprintf_chk@GLIBC_2.3.4 (16)
"""
ATH79 = board.load("ath79-mips_24kc")
KERNELS = ["sk_dtmf_init", "sk_dtmf_feed"]


def test_readelf_output_is_read():
    elf = board.ElfInfo(MIPS_SO + GLIBC_LINES)
    assert elf.header["Machine"] == "MIPS R3000" and elf.float_abi == "soft"
    assert elf.needed == ["libc.so.6", "libm.so.6"]
    assert elf.undefined == {"memset", "__snprintf_chk"}  # weak ones may stay unresolved
    assert elf.exported == set(KERNELS)


def test_a_good_object_passes():
    assert board.check_so(ATH79, board.ElfInfo(MIPS_SO), KERNELS) == []


def test_the_checks_catch_each_mistake():
    problems = board.check_so(ATH79, board.ElfInfo(MIPS_SO + GLIBC_LINES), KERNELS)
    assert any("NEEDED ['libc.so.6', 'libm.so.6']" in p for p in problems)
    assert any("__snprintf_chk" in p for p in problems)
    little = MIPS_SO.replace("big endian", "little endian")
    assert board.check_so(ATH79, board.ElfInfo(little), KERNELS) == [
        "Data is \"2's complement, little endian\", board wants 'big endian'"
    ]
    hard = MIPS_SO.replace("Soft float", "Hard float (double precision)")
    assert "float ABI is 'hard'" in board.check_so(ATH79, board.ElfInfo(hard), KERNELS)[0]
    missing = board.check_so(ATH79, board.ElfInfo(MIPS_SO), [*KERNELS, "sk_mix"])
    assert missing == ["kernels of the cdef not exported: ['sk_mix']"]
    arm = board.load("ipq40xx-arm_cortex-a7")
    assert any(
        "Machine is 'MIPS R3000'" in p for p in board.check_so(arm, board.ElfInfo(MIPS_SO), [])
    )


def test_a_dynamic_test_executable_is_refused():
    dynamic = MIPS_SO + "      [Requesting program interpreter: /lib/ld-musl-mips-sf.so.1]\n"
    assert board.check_static(ATH79, board.ElfInfo(MIPS_SO)) == []
    assert "not static" in board.check_static(ATH79, board.ElfInfo(dynamic))[0]
