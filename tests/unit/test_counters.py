"""Counters kept in place: dict-like reads and updates, no number object kept."""

from __future__ import annotations

import sys

import pytest

from sems_lite.core.counters import Counters, ResultCounters, StatusCounters


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


def test_status_counters_read_like_a_dict_of_the_codes_counted() -> None:
    counts = StatusCounters()
    assert len(counts) == 0 and dict(counts) == {}
    counts.add(200)
    counts.add(200)
    counts.add(486)
    counts.add(0)  # a call that ended before any final response
    assert dict(counts) == {0: 1, 200: 2, 486: 1}
    assert counts[200] == 2 and 486 in counts and 404 not in counts and 9000 not in counts
    assert counts.get(404, 0) == 0 and len(counts) == 3


def test_status_counters_refuse_what_is_not_a_status_code() -> None:
    counts = StatusCounters()
    for bad in (-1, 700, 99999):
        with pytest.raises(ValueError, match="not a SIP status code"):
            counts.add(bad)
    assert dict(counts) == {}


def test_status_counters_keep_no_number_object() -> None:
    counts = StatusCounters()
    code = int("487")  # above 256: an object of its own, made at run time
    held = sys.getrefcount(code)
    counts.add(code, int("600000"))
    assert sys.getrefcount(code) == held and counts[487] == 600000


def test_result_counters_count_by_app_and_code() -> None:
    results = ResultCounters(["echo", "announcement"])
    results.add("echo", 200)
    results.add("echo", 200)
    results.add("announcement", 486)
    results.add("conference", 200)  # an app not known at start gets its own counters
    assert dict(results) == {("echo", 200): 2, ("announcement", 486): 1, ("conference", 200): 1}
    assert results["echo", 200] == 2 and ("echo", 486) not in results
    assert ("voicemail", 200) not in results and len(results) == 3
