"""Giving memory back: the C heap's free pages to the system (glibc `malloc_trim`; musl
returns them on its own and lacks it), after start-up and when the box goes idle; and
forgetting modules needed only at start (argument and YAML parsers), so that what is
imported after them reuses their memory."""

from __future__ import annotations

import functools
import gc
import sys
from collections.abc import Callable, Iterable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    # Not `cffi.FFI().cdef()`: that imports cffi's C parser (pycparser), which then stays
    # resident, +4 MB RssAnon, more than a trim gives back. The cffi backend the kernels
    # already loaded declares the one function for free; ctypes (+0.15 MB) otherwise.
    try:
        import _cffi_backend

        signature = _cffi_backend.FFI().typeof("int(*)(size_t)")
        return _cffi_backend.load_library(None).load_function(  # type: ignore[no-any-return]
            signature, "malloc_trim"
        )
    except (ImportError, OSError, AttributeError):  # no cffi, or a libc without it
        pass
    try:
        import ctypes

        return ctypes.CDLL(None).malloc_trim  # type: ignore[no-any-return]
    except (ImportError, OSError, AttributeError):
        return None


def trim() -> bool:
    """Return the C heap's free pages to the system; True if the libc could."""
    malloc_trim = _malloc_trim()
    if malloc_trim is None:
        return False
    malloc_trim(0)
    return True


def release() -> bool:
    """Collect cycles and trim the C heap; True if the heap could be trimmed."""
    gc.collect()
    return trim()


def forget_modules(names: Iterable[str]) -> None:
    """Remove these modules from sys.modules (and from their packages' attributes), then
    collect: nothing else may hold them. Objects made from them keep working; a later
    import makes a fresh copy. C extensions stay loaded whatever is done."""
    for name in names:
        module = sys.modules.pop(name, None)
        if module is None:
            continue
        parent, _, attr = name.rpartition(".")
        if parent in sys.modules and getattr(sys.modules[parent], attr, None) is module:
            delattr(sys.modules[parent], attr)  # the import set it on the package
    gc.collect()  # module dicts, functions and classes are cycles
