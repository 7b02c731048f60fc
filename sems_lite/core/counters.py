"""Named counters kept in one array made at start.

An int above 256 is an object, so `count += 1` makes a new one each time. Made during a
load and kept afterwards, such an object can be the one live block in an allocator
arena (1 MB) that the load needed, and keep it resident when the load is over. Here an
update writes a machine integer in place: nothing made by it outlives it.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Mapping


class Counters(Mapping[str, int]):
    """A fixed set of named 64-bit counters, read and updated like a dict's values
    (`counters["calls"] += 1`); names cannot be added or removed."""

    __slots__ = ("_index", "_values")

    def __init__(self, *names: str) -> None:
        self._index = {name: i for i, name in enumerate(names)}
        self._values = array("q", bytes(8 * len(names)))

    def __getitem__(self, name: str) -> int:
        return self._values[self._index[name]]

    def __setitem__(self, name: str, value: int) -> None:
        self._values[self._index[name]] = value

    def __contains__(self, name: object) -> bool:
        # Mapping's default goes through __getitem__ and a caught KeyError; the UA asks
        # this for every SIP request it counts.
        return name in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return f"Counters({dict(self)!r})"


# SIP status codes are 100-699 (RFC 3261 section 21); a call's result is 0 when it ended
# before any final response was sent.
_FIRST_CODE, _LAST_CODE = 0, 699


class StatusCounters(Mapping[int, int]):
    """Counts by SIP status code, in one array made at start (a dict would make its
    table, keys and numbers during the first load). Reads like a dict of the codes
    counted at least once."""

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values = array("q", bytes(8 * (_LAST_CODE - _FIRST_CODE + 1)))

    def add(self, code: int, count: int = 1) -> None:
        if not _FIRST_CODE <= code <= _LAST_CODE:
            raise ValueError(f"not a SIP status code: {code!r}")
        self._values[code - _FIRST_CODE] += count

    def __getitem__(self, code: int) -> int:
        value = self._values[code - _FIRST_CODE] if _FIRST_CODE <= code <= _LAST_CODE else 0
        if not value:
            raise KeyError(code)
        return value

    def __iter__(self) -> Iterator[int]:
        return (i + _FIRST_CODE for i, value in enumerate(self._values) if value)

    def __len__(self) -> int:
        return sum(1 for value in self._values if value)

    def __repr__(self) -> str:
        return f"StatusCounters({dict(self)!r})"


class ResultCounters(Mapping[tuple[str, int], int]):
    """Counts by (app, final status code): one StatusCounters per app, made at start for
    the apps known then (an app first seen later gets its own when it is)."""

    __slots__ = ("_by_app",)

    def __init__(self, apps: Iterable[str]) -> None:
        self._by_app = {app: StatusCounters() for app in apps}

    def add(self, app: str, code: int) -> None:
        counters = self._by_app.get(app)
        if counters is None:
            counters = self._by_app[app] = StatusCounters()
        counters.add(code)

    def __getitem__(self, key: tuple[str, int]) -> int:
        app, code = key
        counters = self._by_app.get(app)
        if counters is None:
            raise KeyError(key)
        return counters[code]

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return ((app, code) for app, counters in self._by_app.items() for code in counters)

    def __len__(self) -> int:
        return sum(len(counters) for counters in self._by_app.values())

    def __repr__(self) -> str:
        return f"ResultCounters({dict(self)!r})"
