"""dtmf_collect: answers and writes every DTMF digit it hears to a file, one line each.

Config (app_config): `out`, the file to append "<digit> <duration_ms>" lines to. The file
is opened and closed per digit so the test can read it while the call is up. The app
never hangs up by itself: the caller ends the call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DtmfCollect:
    def __init__(self, config: Mapping[str, Any]) -> None:
        out = config.get("out")
        if not out:
            raise ValueError("dtmf_collect needs app_config `out` (a file path)")
        self.out = str(out)

    def on_invite(self, call: Any) -> None:
        call.answer()

    def on_dtmf(self, call: Any, digit: str, duration_ms: int) -> None:
        with open(self.out, "a", encoding="ascii") as f:
            f.write(f"{digit} {duration_ms}\n")


def create_app(config: Mapping[str, Any]) -> DtmfCollect:
    return DtmfCollect(config)
