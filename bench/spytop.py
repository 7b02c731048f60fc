"""The hottest functions of a py-spy profile (`py-spy record --format raw`).

Each raw line is a collapsed stack, root first, frames separated by ';', then a space and
the number of samples: `<module> (x.py:3);main (x.py:9);tick (y.py:40) 17`. A frame is
`function (file:line)`; the line is dropped so each function counts once. "self" is the
samples where the function was the innermost frame, "total" those where it was anywhere
on the stack (counted once per stack, so recursion does not inflate it).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from typing import NamedTuple

_LINE_NO = re.compile(r":\d+\)$")


class Hot(NamedTuple):
    function: str
    self_samples: int
    total_samples: int
    self_pct: float
    total_pct: float


def frame_name(frame: str) -> str:
    """`tick (sems_lite/media/engine.py:40)` -> `tick (sems_lite/media/engine.py)`."""
    return _LINE_NO.sub(")", frame.strip())


def parse_collapsed(text: str) -> tuple[Counter[str], Counter[str], int]:
    """(self samples, total samples, all samples) per function of collapsed stacks."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in text.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [frame_name(f) for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        samples += n
        own[frames[-1]] += n
        for name in set(frames):
            total[name] += n
    return own, total, samples


def top(text: str, count: int = 15) -> list[Hot]:
    """The `count` functions with the most self samples."""
    own, total, samples = parse_collapsed(text)
    if not samples:
        return []
    return [
        Hot(
            name, n, total[name], round(100 * n / samples, 1), round(100 * total[name] / samples, 1)
        )
        for name, n in own.most_common(count)
    ]


def markdown(rows: list[Hot]) -> str:
    lines = ["| # | function | self % | total % |", "|---:|---|---:|---:|"]
    lines += [
        f"| {i} | `{r.function}` | {r.self_pct} | {r.total_pct} |" for i, r in enumerate(rows, 1)
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(markdown(top(f.read(), int(sys.argv[2]) if len(sys.argv) > 2 else 15)))
