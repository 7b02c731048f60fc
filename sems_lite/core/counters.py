"""Named counters kept in one array made at start.

An int above 256 is an object, so `count += 1` makes a new one each time. Made during a
load and kept afterwards, such an object can be the one live block in an allocator
arena (1 MB) that the load needed, and keep it resident when the load is over. Here an
update writes a machine integer in place: nothing made by it outlives it.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping


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

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return f"Counters({dict(self)!r})"
