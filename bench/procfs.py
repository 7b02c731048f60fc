"""CPU time and resident memory of a process tree, from /proc (Linux).

The parsers take the files' text so they can be tested without a process. A process and
its descendants count together, so a box that forks workers is measured as a whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def parse_stat(text: str) -> tuple[int, int, int]:
    """(utime + stime in clock ticks, ppid, state as ord) from /proc/PID/stat.

    The command name (field 2) is in parentheses and may hold spaces or ')': fields are
    counted after the last ')'.
    """
    fields = text.rpartition(")")[2].split()
    if len(fields) < 13:
        raise ValueError("truncated /proc/PID/stat")
    state, ppid = fields[0], int(fields[1])
    utime, stime = int(fields[11]), int(fields[12])
    return utime + stime, ppid, ord(state[0])


def parse_status_kb(text: str, key: str) -> int | None:
    """A `kB` line of /proc/PID/status (VmRSS, VmHWM); None when it is absent."""
    prefix = key + ":"
    for line in text.splitlines():
        if line.startswith(prefix):
            parts = line.split()
            return int(parts[1]) if len(parts) >= 2 else None
    return None


def parse_children(text: str) -> list[int]:
    """/proc/PID/task/TID/children: child pids separated by spaces."""
    return [int(v) for v in text.split()]


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def tree(pid: int) -> list[int]:
    """pid and its live descendants (via each thread's `children` file)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            text = _read(f"/proc/{p}/task/{tid}/children")
            if text:
                todo.extend(parse_children(text))
    return out


def parse_schedstat_ns(text: str) -> int:
    """/proc/PID/task/TID/schedstat: ns on CPU, ns waiting, timeslices; the first."""
    return int(text.split()[0])


def _schedstat_ns(pid: int) -> int | None:
    """On-CPU ns summed over the process's live threads, or None without schedstat."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    total = 0
    for tid in tids:
        text = _read(f"/proc/{pid}/task/{tid}/schedstat")
        if text is None:
            return None
        total += parse_schedstat_ns(text)
    return total


def cpu_ns(pids: Iterable[int], source: str = "auto") -> int:
    """CPU time the processes used so far, in ns.

    source "stat": utime + stime from /proc/PID/stat (the issue's method; clock-tick
    resolution, usually 10 ms). "auto": the threads' schedstat (ns resolution, same
    quantity) where the kernel has it, else stat. Threads that already exited count in
    stat but not in schedstat; the box has none.
    """
    total = 0
    for p in pids:
        if source == "auto":
            ns = _schedstat_ns(p)
            if ns is not None:
                total += ns
                continue
        text = _read(f"/proc/{p}/stat")
        if text:
            total += parse_stat(text)[0] * 1_000_000_000 // CLOCK_TICKS
    return total


def rss_kb(pids: Iterable[int], key: str = "VmRSS") -> int:
    """Sum of a /proc/PID/status kB value over the processes (0 for those gone)."""
    total = 0
    for p in pids:
        text = _read(f"/proc/{p}/status")
        if text:
            total += parse_status_kb(text, key) or 0
    return total
