"""Board files and the checks `make cross` runs on what it builds (stdlib only).

A board file `boards/<name>.board` holds `KEY := value` lines and `#` comment lines, so make
includes it as it is and this module reads it the same way (see boards/README.md).

    python boards/board.py list                    board names, one a line
    python boards/board.py get BOARD KEY           one value
    python boards/board.py check-so BOARD FILE     the shared object fits the board
    python boards/board.py check-static BOARD FILE the test executable is static, for the board
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEADER = HERE.parent / "native" / "sems_kernels.h"
SUFFIX = ".board"
REQUIRED = (
    "OPENWRT_TARGET",
    "OPENWRT_ARCH",
    "ZIG_TARGET",
    "ZIG_CPU",
    "UNAME_M",
    "QEMU",
    "DEBIAN_ARCH",
    "ELF_CLASS",
    "ELF_DATA",
    "ELF_MACHINE",
    "SO_NEEDED",
    "MAX_CALLS",
    "RTP_PORTS",
)
# every libc exports these: the compiler may emit calls to the mem* ones even in libc-free
# C code (clang turns a memcmp tested for equality into bcmp), the batched RTP send
# (native/rtp_tx.c) calls sendto, and the batched echo (native/rtp_echo.c) recvfrom and
# errno (a function behind the macro in glibc and musl)
LIBC_SYMBOLS = frozenset(
    {"memset", "memcpy", "memmove", "memcmp", "bcmp", "sendto", "recvfrom", "__errno_location"}
)
_LINE = re.compile(r"^([A-Z][A-Z0-9_]*)\s*:=\s*(.*)$")
# a readelf --dyn-syms row: Num: Value Size Type Bind Vis [arch note] Ndx Name [(version)]
_SYMBOL = re.compile(
    r"^\s*\d+:\s+\S+\s+\S+\s+(\S+)\s+(\S+)\s+\S+(?:\s+\[[^\]]*\])?\s+(\S+)\s+(\S+)"
)


def names(directory: Path = HERE) -> list[str]:
    """Every board defined in directory, sorted."""
    return sorted(p.name[: -len(SUFFIX)] for p in directory.glob("*" + SUFFIX))


def parse(text: str, source: str = "<board>") -> dict[str, str]:
    """KEY := value lines into a dict; ValueError names the line that is neither that,
    a comment nor blank, and any required key that is missing."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if m is None:
            raise ValueError(f"{source}:{number}: expected 'KEY := value', got {raw!r}")
        if "#" in m.group(2):
            # make would cut the value at '#' and this reader would not: refuse both
            raise ValueError(f"{source}:{number}: '#' in a value (comments go on own lines)")
        values[m.group(1)] = m.group(2).strip()
    missing = [k for k in REQUIRED if k not in values]
    if missing:
        raise ValueError(f"{source}: missing {', '.join(missing)}")
    return values


def load(name: str, directory: Path = HERE) -> dict[str, str]:
    """The board file `<directory>/<name>.board` as a dict."""
    path = directory / (name + SUFFIX)
    if not path.is_file():
        known = ", ".join(names(directory)) or "none"
        raise ValueError(f"unknown board {name!r} (known: {known})")
    return parse(path.read_text(encoding="utf-8"), str(path))


def port_range(board: dict[str, str]) -> tuple[int, int]:
    """RTP_PORTS 'LOW-HIGH' as two ints (the format of rtp.ports in the YAML config)."""
    low, _, high = board["RTP_PORTS"].partition("-")
    return int(low), int(high)


def kernel_functions(header: Path = HEADER) -> list[str]:
    """Names of the functions declared in the header's cffi-cdef block."""
    text = header.read_text(encoding="utf-8")
    start, stop = text.find("/* cffi-cdef-begin */"), text.find("/* cffi-cdef-end */")
    if start < 0 or stop < start:
        raise ValueError(f"{header}: cffi-cdef markers missing")
    return re.findall(r"\b(sk_\w+)\s*\(", text[start:stop])


class ElfInfo:
    """What readelf says about one file: header fields, NEEDED, dynamic symbols, interpreter."""

    def __init__(self, readelf_output: str) -> None:
        self.header: dict[str, str] = {}
        self.needed: list[str] = []
        self.undefined: set[str] = set()
        self.exported: set[str] = set()
        self.interpreter = False
        self.float_abi = ""  # 'soft' or 'hard' where the ELF says (32-bit ARM and MIPS)
        for line in readelf_output.splitlines():
            key, sep, value = line.strip().partition(":")
            if sep and key in ("Class", "Data", "Machine", "Flags", "Type"):
                self.header.setdefault(key, value.strip())
            if "(NEEDED)" in line:
                self.needed.append(line.rsplit("[", 1)[1].rstrip("]"))
            if "Requesting program interpreter" in line:
                self.interpreter = True
            if key == "FP ABI" or (key == "Flags" and "float ABI" in value):
                low = value.lower()
                self.float_abi = "soft" if "soft" in low else "hard" if "hard" in low else ""
            m = _SYMBOL.match(line)
            if m is not None:
                kind, bind, ndx, name = m.group(1, 2, 3, 4)
                name = name.split("@")[0]
                if ndx == "UND" and bind == "GLOBAL":  # WEAK ones may stay unresolved
                    self.undefined.add(name)
                elif ndx != "UND" and bind in ("GLOBAL", "WEAK") and kind == "FUNC":
                    self.exported.add(name)

    @classmethod
    def read(cls, path: Path | str, readelf: str = "readelf") -> ElfInfo:
        out = subprocess.run(
            [readelf, "-h", "-l", "-d", "-A", "--dyn-syms", "-W", str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        return cls(out.stdout)


def _header_problems(board: dict[str, str], elf: ElfInfo) -> list[str]:
    problems = []
    for key, field in (("ELF_CLASS", "Class"), ("ELF_MACHINE", "Machine")):
        if elf.header.get(field) != board[key]:
            problems.append(f"{field} is {elf.header.get(field)!r}, board wants {board[key]!r}")
    if not elf.header.get("Data", "").endswith(board["ELF_DATA"]):
        problems.append(f"Data is {elf.header.get('Data')!r}, board wants {board['ELF_DATA']!r}")
    want = board.get("FLOAT_ABI", "")
    if want and elf.float_abi != want:
        problems.append(f"float ABI is {elf.float_abi or 'unknown'!r}, board wants {want!r}")
    return problems


def check_so(board: dict[str, str], elf: ElfInfo, functions: list[str]) -> list[str]:
    """Problems with a board's shared object: wrong machine, NEEDED beyond SO_NEEDED,
    undefined symbols a bare libc lacks, or a kernel of the cdef not exported."""
    problems = _header_problems(board, elf)
    allowed = set(board["SO_NEEDED"].split())
    extra = [n for n in elf.needed if n not in allowed]
    if extra:
        problems.append(f"NEEDED {extra} beyond what the board has ({sorted(allowed)})")
    unknown = sorted(elf.undefined - LIBC_SYMBOLS)
    if unknown:
        problems.append(f"undefined symbols beyond {sorted(LIBC_SYMBOLS)}: {unknown}")
    missing = [f for f in functions if f not in elf.exported]
    if missing:
        problems.append(f"kernels of the cdef not exported: {missing}")
    return problems


def check_static(board: dict[str, str], elf: ElfInfo) -> list[str]:
    """Problems with a board's test executable: wrong machine, or not statically linked."""
    problems = _header_problems(board, elf)
    if elf.interpreter or elf.needed:
        problems.append(f"not static (interpreter: {elf.interpreter}, NEEDED {elf.needed})")
    return problems


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["list"] and len(argv) == 1:
            print("\n".join(names()))
            return 0
        if argv[:1] == ["get"] and len(argv) == 3:
            print(load(argv[1])[argv[2]])
            return 0
        if argv[:1] in (["check-so"], ["check-static"]) and len(argv) == 3:
            board, elf = load(argv[1]), ElfInfo.read(argv[2])
            if argv[0] == "check-so":
                problems = check_so(board, elf, kernel_functions())
            else:
                problems = check_static(board, elf)
            for p in problems:
                print(f"{argv[2]}: {p}", file=sys.stderr)
            if not problems:
                print(f"{argv[2]}: ok for {argv[1]} (NEEDED: {' '.join(elf.needed) or 'none'})")
            return 1 if problems else 0
    except (ValueError, KeyError, OSError, subprocess.CalledProcessError) as e:
        print(f"board.py: {e}", file=sys.stderr)
        return 2
    print(__doc__.split("\n\n", 2)[2], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
