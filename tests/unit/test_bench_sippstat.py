"""bench/sippstat.py: sipp's stat file, log lines and exit codes."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))  # bench/ is no package

from sippstat import (
    count_log_lines,
    counters,
    exit_meaning,
    failed_percent,
    parse_stat_csv,
)

# The shape sipp 3.6 writes: ';' between fields, tabs inside the time fields, a
# trailing ';' on every line.
HEADER = (
    "StartTime;LastResetTime;CurrentTime;ElapsedTime(P);ElapsedTime(C);TargetRate;"
    "TotalCallCreated;CurrentCall;SuccessfulCall(P);SuccessfulCall(C);FailedCall(P);"
    "FailedCall(C);FailedMaxUDPRetrans(C);Retransmissions(C);"
)


def row(created: int, current: int, ok: int, failed: int, retrans: int) -> str:
    when = "2026-11-26\t16:32:35.649870\t1795710755.649870"
    return (
        f"{when};{when};{when};00:00:01;00:00:05;500;{created};{current};0;{ok};0;{failed};"
        f"{failed};{retrans};"
    )


def test_the_last_row_holds_the_totals():
    text = "\n".join([HEADER, row(500, 20, 480, 0, 3), row(2500, 0, 2475, 25, 40)]) + "\n"
    last = parse_stat_csv(text)
    assert last["CurrentTime"].endswith("1795710755.649870")
    c = counters(last)
    assert c["TotalCallCreated"] == 2500
    assert c["SuccessfulCall"] == 2475
    assert c["FailedCall"] == 25
    assert c["Retransmissions"] == 40
    assert c["CurrentCall"] == 0
    assert "FailedCall(P)" not in c and "ElapsedTime" not in c
    assert failed_percent(c) == 1.0


def test_a_row_cut_short_by_a_kill_falls_back_to_the_previous_one():
    text = "\n".join([HEADER, row(100, 0, 100, 0, 0), row(300, 5, 295, 0, 0)[:40]])
    assert counters(parse_stat_csv(text))["TotalCallCreated"] == 100


def test_empty_or_header_only_files():
    assert parse_stat_csv("") == {}
    assert parse_stat_csv(HEADER + "\n") == {}
    assert failed_percent({}) is None
    assert failed_percent({"TotalCallCreated": 0, "FailedCall": 0}) is None


def test_log_lines_are_counted_by_tag():
    logs = "UP 14000\nUP 14000\nUPPER 1\nsomething UP\nUP\n"
    assert count_log_lines(logs, "UP") == 3


def test_exit_codes():
    assert exit_meaning(0) == "all calls were successful"
    assert exit_meaning(1) == "at least one call failed"
    assert exit_meaning(-1) == "fatal error"  # -1 as an unsigned byte
    assert exit_meaning(None) == "still running"
    assert exit_meaning(42) == "exit code 42"
