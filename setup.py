"""Build hook for the optional C kernels; all package metadata lives in pyproject.toml.

The kernels are compiled with cffi (native/build_kernels.py). Without a working C
compiler the build warns and installs the package anyway: sems_lite.native then uses
its pure-Python fallback, which gives identical results more slowly.
"""

from __future__ import annotations

import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, ExecError, PlatformError

# What a missing or broken compiler raises (CompileError and LinkError are CCompilerErrors).
BUILD_ERRORS = (CCompilerError, ExecError, PlatformError, OSError)


def _skip(reason: object) -> None:
    print(
        f"WARNING: sems-lite C kernels not built ({reason}); "
        "installing the pure-Python fallback instead",
        file=sys.stderr,
    )


class OptionalBuildExt(build_ext):
    """build_ext that turns a failed compile into a warning."""

    def run(self) -> None:
        try:
            super().run()
        except BUILD_ERRORS as exc:
            self.extensions = []
            _skip(exc)

    def build_extensions(self) -> None:
        # keep only what compiled: editable installs copy every listed extension's output
        built = []
        for ext in self.extensions:
            try:
                self.build_extension(ext)
            except BUILD_ERRORS as exc:
                _skip(exc)
            else:
                built.append(ext)
        self.extensions = built


options: dict[str, object] = {"cmdclass": {"build_ext": OptionalBuildExt}}
try:
    import cffi  # noqa: F401  (only to know whether the hook can run)
except ImportError:
    _skip("cffi is not installed")
else:
    options["cffi_modules"] = ["native/build_kernels.py:ffibuilder"]

setup(**options)
