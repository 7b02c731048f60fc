"""Giving memory back when the box goes idle: a full collection, then the C heap's free
pages to the system (glibc `malloc_trim`; musl returns them on its own and lacks it)."""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        from cffi import FFI

        ffi = FFI()
        ffi.cdef("int malloc_trim(size_t pad);")
        return ffi.dlopen(None).malloc_trim  # type: ignore[no-any-return]
    except (ImportError, OSError, AttributeError):  # no cffi, or a libc without it
        return None


def release() -> bool:
    """Collect cycles and trim the C heap; True if the heap could be trimmed."""
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
