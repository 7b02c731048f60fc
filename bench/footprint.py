"""Size of each board's native kernels: build/<board>/libsems_kernels.so from `make cross`.

    python bench/footprint.py [--json]

Prints, per board that has been built, the file size and the bytes its LOAD segments map
(what the object costs in memory, before sharing). Boards not built yet are listed as such.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "boards"))

import board as boards  # noqa: E402  (boards/ is not a package)


def mapped_bytes(path: Path) -> int | None:
    """Sum of MemSiz over the LOAD program headers, or None without readelf."""
    try:
        out = subprocess.run(
            ["readelf", "-l", "-W", str(path)], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    # LOAD Offset VirtAddr PhysAddr FileSiz MemSiz Flg Align
    return sum(
        int(m.group(1), 16) for m in re.finditer(r"^\s*LOAD(?:\s+\S+){4}\s+(\S+)", out, re.M)
    )


def measure(build: Path = ROOT / "build") -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for name in boards.names():
        so = build / name / "libsems_kernels.so"
        row: dict[str, object] = {"board": name, "built": so.is_file()}
        if so.is_file():
            row["so_bytes"] = so.stat().st_size
            row["mapped_bytes"] = mapped_bytes(so)
            flags = build / name / "flags"
            row["flags"] = flags.read_text().strip() if flags.is_file() else None
        rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="one JSON line, no table")
    args = parser.parse_args()
    rows = measure()
    if args.json:
        print(json.dumps({"bench": "footprint", "boards": rows}))
        return 0
    print(f"{'board':32} {'.so bytes':>10} {'mapped':>10}")
    for r in rows:
        if r["built"]:
            print(f"{r['board']:32} {r['so_bytes']:>10} {r['mapped_bytes'] or '?':>10}")
        else:
            print(f"{r['board']:32} {'not built':>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
