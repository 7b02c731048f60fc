"""record_echo: answers, echoes what the caller says and records it into a WAV file.

Unlike record_caller, the caller hears itself, so a test can tell that the call's audio
keeps flowing while the recording fails (disk full) or is closed (shutdown).

Config (app_config): `path`, the WAV file; `{n}` in it becomes the call's number (1, 2, ...
in INVITE order), so concurrent calls record into files of their own. `flush_bytes`
(default 1600, 100 ms of 16-bit audio at 8 kHz) as for record_caller.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from sems_lite.media.buffers import EchoBuffer

DEFAULT_FLUSH_BYTES = 1600
ECHO_BUFFER_FRAMES = 3  # as apps.echo: bounds the added delay


class Tee:
    """A sink that hands every frame to the recorder and to the echo buffer."""

    def __init__(self, recorder: Any, echo: EchoBuffer) -> None:
        self.recorder = recorder
        self.echo = echo

    def write(self, pcm: bytes) -> None:
        self.recorder.write(pcm)  # a failed recorder ignores writes; the echo goes on
        self.echo.write(pcm)

    def close(self) -> None:
        # The call closes its sink when it ends: that finishes the WAV file.
        self.recorder.close()


class RecordEcho:
    jitter_min_frames = 0
    jitter_max_frames = 0

    def __init__(self, config: Mapping[str, Any]) -> None:
        path = config.get("path")
        if not path:
            raise ValueError("record_echo needs app_config `path` (a WAV file path)")
        self.path = str(path)
        self.flush_bytes = int(config.get("flush_bytes", DEFAULT_FLUSH_BYTES))
        self._numbers = itertools.count(1)

    def on_invite(self, call: Any) -> None:
        call.answer()
        path = self.path.replace("{n}", str(next(self._numbers)))
        recorder = call.record(path, flush_bytes=self.flush_bytes)
        echo = EchoBuffer(ECHO_BUFFER_FRAMES * call.rate // 50 * 2)
        call.sink = Tee(recorder, echo)
        call.source = echo


def create_app(config: Mapping[str, Any]) -> RecordEcho:
    return RecordEcho(config)
