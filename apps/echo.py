"""echo: answers and sends back what it hears, at most one frame later.

Config (app_config.echo): `answer_delay` seconds (default 0): when above zero the box
rings (180) first and answers after that long — useful to test CANCEL or ring-back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sems_lite.media.buffers import EchoBuffer

# Three 20 ms frames: absorbs arrival jitter, bounds the added delay.
ECHO_BUFFER_FRAMES = 3


class Echo:
    # Echo plays each packet out on the next tick and never lets the jitter buffer grow:
    # the caller hears itself at most one frame late; a burst costs a frame, not latency.
    jitter_min_frames = 0
    jitter_max_frames = 0

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.answer_delay = float(config.get("answer_delay", 0) or 0)

    def on_invite(self, call: Any) -> None:
        buffer = EchoBuffer(ECHO_BUFFER_FRAMES * call.rate // 50 * 2)
        call.sink = buffer
        call.source = buffer
        if self.answer_delay > 0:
            call.ring()
            call.set_timer(self.answer_delay, call.answer)
        else:
            call.answer()


def create_app(config: Mapping[str, Any]) -> Echo:
    return Echo(config)
