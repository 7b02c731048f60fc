"""cffi build script for the C kernels: the extension module `sems_lite._native`.

The cdef is the marked block of `sems_kernels.h`, read verbatim, so the header stays the
single source of every kernel signature (the same text also works for ABI mode,
`ffi.cdef(cdef_text()); ffi.dlopen(...)`, on a board where the kernels ship as a .so).

Run by setuptools through `cffi_modules` (see setup.py), or by hand:
`python native/build_kernels.py` builds the extension in the current directory.
"""

from __future__ import annotations

import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER = os.path.join(HERE, "sems_kernels.h")
SOURCES = ("g711.c", "pcm.c", "resample.c", "tone.c", "dtmf.c", "rtp_tx.c", "rtp_echo.c")
BEGIN, END = "/* cffi-cdef-begin */", "/* cffi-cdef-end */"


def cdef_text(header: str = HEADER) -> str:
    """The declarations between the cffi markers of the header."""
    with open(header, encoding="utf-8") as f:
        text = f.read()
    start, stop = text.find(BEGIN), text.find(END)
    if start < 0 or stop < start:
        raise ValueError(f"{header}: cffi-cdef markers missing")
    return text[start + len(BEGIN) : stop]


def compile_args(profile: str | None = None) -> list[str]:
    """-Os for routers by default; SEMS_LITE_PROFILE=server tunes for the build host."""
    if profile is None:
        profile = os.environ.get("SEMS_LITE_PROFILE", "embedded")
    if profile == "server":
        return ["-std=c99", "-O3", "-march=native"]
    return ["-std=c99", "-Os"]


def _rel(path: str) -> str:
    # setuptools wants source paths relative to setup.py, which is the working directory
    return os.path.relpath(path)


ffibuilder = FFI()
ffibuilder.cdef(cdef_text())
ffibuilder.set_source(
    "sems_lite._native",
    '#include "sems_kernels.h"',
    sources=[_rel(os.path.join(HERE, name)) for name in SOURCES],
    include_dirs=[_rel(HERE)],
    depends=[_rel(HEADER)],
    extra_compile_args=compile_args(),
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
