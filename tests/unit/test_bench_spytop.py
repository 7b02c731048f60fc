"""bench/spytop.py: the hottest functions of py-spy's collapsed stacks."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))  # bench/ is no package

from spytop import frame_name, markdown, parse_collapsed, top

RAW = """\
<module> (run.py:1);main (app.py:9);tick (engine.py:40);send (rtp.py:12) 30
<module> (run.py:1);main (app.py:9);tick (engine.py:41);send (rtp.py:15) 20
<module> (run.py:1);main (app.py:9);tick (engine.py:40) 10
<module> (run.py:1);main (app.py:9);walk (tree.py:3);walk (tree.py:5) 40
not a stack line
"""


def test_line_numbers_are_dropped():
    assert frame_name(" send (sems_lite/rtp.py:123) ") == "send (sems_lite/rtp.py)"
    assert frame_name("<module> (x.py)") == "<module> (x.py)"


def test_self_and_total_samples():
    own, total, samples = parse_collapsed(RAW)
    assert samples == 100
    assert own["send (rtp.py)"] == 50  # two lines of the same function merge
    assert own["tick (engine.py)"] == 10
    assert total["tick (engine.py)"] == 60
    assert total["walk (tree.py)"] == 40  # recursion counts once per stack
    assert total["main (app.py)"] == 100
    assert "main (app.py)" not in own


def test_top_orders_by_self_time_and_renders_a_table():
    rows = top(RAW, 2)
    assert [r.function for r in rows] == ["send (rtp.py)", "walk (tree.py)"]
    assert (rows[0].self_pct, rows[0].total_pct) == (50.0, 50.0)
    table = markdown(rows)
    assert "| 1 | `send (rtp.py)` | 50.0 | 50.0 |" in table
    assert top("", 5) == []
