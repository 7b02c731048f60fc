"""sems_lite.memory: trimming the C heap without loading anything big for it."""

from __future__ import annotations

import subprocess
import sys

from sems_lite import memory


def test_release_collects_and_reports_whether_it_could_trim() -> None:
    assert memory.release() is (memory._malloc_trim() is not None)


def test_trimming_does_not_load_the_cffi_c_parser() -> None:
    # cffi's cdef() parser (pycparser) stayed resident after the first trim: +4 MB.
    code = (
        "import sys\nfrom sems_lite import memory\nmemory.release()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('pycparser', 'cffi'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
