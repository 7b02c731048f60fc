"""What sipp reports: its -trace_stat CSV, its <log> lines and its exit code.

The stat file (`-trace_stat -stf FILE -fd 1`) has a header row of column names and one
row per dump, fields separated by ';' (time columns themselves hold tabs). The last row
is written when sipp ends, so its cumulative "(C)" counters are the run's totals.
"""

from __future__ import annotations

# sipp(1), "Exit codes".
EXIT_CODES = {
    0: "all calls were successful",
    1: "at least one call failed",
    97: "exit on internal command",
    99: "normal exit without calls processed",
    255: "fatal error",
    254: "fatal error binding a socket",
}

COUNTERS = (
    "TotalCallCreated",
    "SuccessfulCall(C)",
    "FailedCall(C)",
    "Retransmissions(C)",
    "FailedMaxUDPRetrans(C)",
    "FailedUnexpectedMessage(C)",
    "FailedCallRejected(C)",
    "FailedOutboundCongestion(C)",
    "FailedTimeoutOnRecv(C)",
    "FailedTimeoutOnSend(C)",
    "OutOfCallMsgs(C)",
    "DeadCallMsgs(C)",
    "CurrentCall",
)


def parse_stat_csv(text: str, delimiter: str = ";") -> dict[str, str]:
    """The last complete row of a sipp stat file, as column name -> text."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return {}
    names = [n.strip() for n in lines[0].split(delimiter)]
    for line in reversed(lines[1:]):
        values = line.split(delimiter)
        # A row being written when sipp was killed has fewer fields: take the one before.
        if len(values) >= len(names) - 1:
            return {n: v.strip() for n, v in zip(names, values, strict=False)}
    return {}


def counters(row: dict[str, str]) -> dict[str, int]:
    """The integer counters of a stat row that sipp wrote (missing ones are left out)."""
    out = {}
    for name in COUNTERS:
        value = row.get(name, "")
        if value.isdigit():
            out[name.removesuffix("(C)")] = int(value)
    return out


def failed_percent(c: dict[str, int]) -> float | None:
    """Failed calls as % of the calls sipp created; None when it created none."""
    created = c.get("TotalCallCreated", 0)
    if not created:
        return None
    return round(100.0 * c.get("FailedCall", 0) / created, 3)


def count_log_lines(text: str, tag: str) -> int:
    """How many `<log message="TAG ...">` lines a sipp log file holds."""
    prefix = tag + " "
    return sum(1 for line in text.splitlines() if line.startswith(prefix) or line == tag)


def exit_meaning(code: int | None) -> str:
    if code is None:
        return "still running"
    return EXIT_CODES.get(code & 0xFF, f"exit code {code}")
