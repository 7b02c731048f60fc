"""Counters kept in place: dict-like reads and updates, no number object kept."""

from __future__ import annotations

import sys

import pytest

from sems_lite.core.counters import Counters


def test_counters_read_and_update_like_a_dict() -> None:
    counts = Counters("requests", "octets")
    counts["requests"] += 1
    counts["octets"] += 160 * 50
    assert counts == {"requests": 1, "octets": 8000}
    assert dict(counts.items()) == {"requests": 1, "octets": 8000}
    assert counts.get("missing") is None and len(counts) == 2


def test_names_are_fixed() -> None:
    counts = Counters("requests")
    with pytest.raises(KeyError):
        counts["responses"] += 1
    with pytest.raises(KeyError):
        counts["responses"] = 1


def test_an_update_keeps_no_number_object() -> None:
    # The reason they exist: a kept int above 256 can pin an allocator arena after a load.
    counts = Counters("packets")
    value = int("600000")  # made at run time, as a counter's new value is
    held = sys.getrefcount(value)
    counts["packets"] = value
    assert sys.getrefcount(value) == held
    assert counts["packets"] == 600000 and counts["packets"] is not value
