"""record_caller: answers and records what the caller says into a WAV file.

Config (app_config): `path`, the WAV file; `flush_bytes` (default 1600, 100 ms of 16-bit
audio at 8 kHz), how often the recorder appends and rewrites the header. The app never
hangs up by itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULT_FLUSH_BYTES = 1600


class RecordCaller:
    def __init__(self, config: Mapping[str, Any]) -> None:
        path = config.get("path")
        if not path:
            raise ValueError("record_caller needs app_config `path` (a WAV file path)")
        self.path = str(path)
        self.flush_bytes = int(config.get("flush_bytes", DEFAULT_FLUSH_BYTES))

    def on_invite(self, call: Any) -> None:
        call.answer()
        call.record(self.path, flush_bytes=self.flush_bytes)


def create_app(config: Mapping[str, Any]) -> RecordCaller:
    return RecordCaller(config)
