"""Giving memory back: the C heap's free pages to the system (glibc `malloc_trim`; musl
returns them on its own and lacks it), after start-up and when the box goes idle; and
forgetting modules needed only at start (argument and YAML parsers), so that what is
imported after them reuses their memory."""

from __future__ import annotations

import functools
import gc
import sys
from collections.abc import Callable, Iterable
from typing import Any


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


def clear_lookup_caches() -> None:
    """Empty CPython's attribute lookup cache. Its 4096 slots keep a reference to the last
    name looked up in each, and names built at run time (`getattr(obj, "search")` from C
    in `re`, for one) are not interned: after a load, a few hundred such strings are the
    only live blocks in otherwise empty allocator arenas, which then stay resident (about
    5 MB after a 400-call load). The cache refills on the next lookups."""
    clear = getattr(sys, "_clear_internal_caches", None) or getattr(sys, "_clear_type_cache", None)
    if clear is not None:  # CPython; 3.13 renamed it
        clear()


def drop_empty_storage(*containers: dict[Any, Any] | set[Any] | list[Any]) -> None:
    """Give back the storage of each container that is empty. An emptied dict or set
    keeps the table its busiest moment needed, and a late resize may have put a small one
    in an arena of the load, where it alone keeps the arena resident; `clear()` frees it."""
    for container in containers:
        if not container:
            container.clear()


def release() -> bool:
    """Drop lookup caches, collect cycles and trim the C heap; True if the heap could be
    trimmed."""
    clear_lookup_caches()
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
