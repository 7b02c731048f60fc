"""Finding a prompt file for a request without ever leaving the prompt folder.

The user and domain come from the caller's request, so every name is checked: no path
separators, no NUL or control characters, nothing starting with '.', and the resolved
real path (symlinks followed) must stay inside the folder. A refused name is logged as a
warning and the default prompt is used.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("sems_lite.prompts")


def resolve(config_dir: str, path: str) -> str:
    """A configured path: absolute as given, relative to the config file's folder."""
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(config_dir, path))


def safe_component(name: str | None) -> bool:
    """True if `name` can be one element of a path under our control."""
    if not name or len(name) > 255:
        return False
    if name.startswith(".") or "/" in name or "\\" in name:
        return False
    return name.isprintable()


def inside(base: str, path: str) -> bool:
    """True if `path`, symlinks resolved, is within the real folder `base`."""
    real_base = os.path.realpath(base)
    real = os.path.realpath(path)
    return real == real_base or real.startswith(real_base + os.sep)


def find_prompt(
    base: str,
    names: list[tuple[str | None, ...]],
    extension: str,
    default: str,
    what: str = "prompt",
) -> str:
    """The first existing `base/<parts...><extension>` among `names`, else `default`.

    Each entry of `names` is a tuple of path elements (e.g. (domain, user) then (user,));
    an entry with an unsafe element is refused with a warning and skipped.
    """
    for parts in names:
        if any(part is None for part in parts):
            continue
        if not all(safe_component(part) for part in parts):
            log.warning(
                "refused %s name %r: not a plain file name", what, "/".join(map(str, parts))
            )
            continue
        path = os.path.join(base, *parts[:-1], f"{parts[-1]}{extension}")  # type: ignore[arg-type]
        if not os.path.isfile(path):
            continue
        if not inside(base, path):
            log.warning("refused %s %s: it resolves outside %s", what, path, base)
            continue
        return os.path.realpath(path)
    return default
