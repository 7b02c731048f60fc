"""bench/procfs.py: /proc parsers on sample text, and the readers on live processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))  # bench/ is no package

import procfs

# /proc/PID/stat of a process whose name holds a space and a ')'.
STAT = (
    "4242 (py thon) x) S 17 4242 4242 0 -1 4194560 1000 0 0 0 "
    "123 45 0 0 20 0 1 0 100 1000000 2000 18446744073709551615"
)
STATUS = "Name:\tpython\nVmPeak:\t  30000 kB\nVmHWM:\t   26000 kB\nVmRSS:\t   25000 kB\n"


def test_parse_stat_counts_fields_after_the_last_parenthesis():
    ticks, ppid, state = procfs.parse_stat(STAT)
    assert ticks == 123 + 45
    assert ppid == 17
    assert chr(state) == "S"


def test_parse_stat_rejects_a_truncated_line():
    with pytest.raises(ValueError):
        procfs.parse_stat("1 (x) S 0 1")


def test_parse_status_and_children_and_schedstat():
    assert procfs.parse_status_kb(STATUS, "VmRSS") == 25000
    assert procfs.parse_status_kb(STATUS, "VmHWM") == 26000
    assert procfs.parse_status_kb(STATUS, "VmSwap") is None
    assert procfs.parse_children("12 34 56 ") == [12, 34, 56]
    assert procfs.parse_children("") == []
    assert procfs.parse_schedstat_ns("123456789 2000 30\n") == 123456789


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
def test_live_tree_cpu_and_rss():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 5
        while child.pid not in procfs.tree(os.getpid()) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert child.pid in procfs.tree(os.getpid())
        assert procfs.tree(child.pid) == [child.pid]
        before = procfs.cpu_ns([os.getpid()])
        end = time.process_time() + 0.05
        while time.process_time() < end:
            pass
        used = procfs.cpu_ns([os.getpid()]) - before
        assert 30_000_000 <= used <= 1_000_000_000
        assert procfs.rss_kb([os.getpid(), child.pid]) > procfs.rss_kb([os.getpid()]) > 1000
    finally:
        child.kill()
        child.wait()
    assert procfs.rss_kb([child.pid]) == 0  # gone: counts as nothing
