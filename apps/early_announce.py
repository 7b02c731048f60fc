"""early_announce: plays the prompt as early media (183 with SDP), then ends the INVITE
with a final reply — or hands the call on (SEMS's early_announce).

Config (app_config.early_announce): the announcement keys (announce_path,
default_announce, announce_header, announce_param), plus
  final_code (default 404), final_reason (default "Not Found"),
  continue_app: an app name: after the prompt the call goes to that app instead of
  being rejected (e.g. `echo`, which answers it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apps.announcement import Announcement


class EarlyAnnounce(Announcement):
    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.final_code = int(config.get("final_code", 404))
        self.final_reason = str(config.get("final_reason", "Not Found"))
        self.continue_app = config.get("continue_app")
        if not 300 <= self.final_code <= 699:
            raise ValueError(f"final_code must be 300..699, not {self.final_code}")

    def on_invite(self, call: Any) -> None:
        path = self.prompt_for(call)
        call.dead_rtp_timeout = None
        if call.negotiated is None:
            # No offer in the INVITE: early media is impossible, go straight to the end.
            self._after_prompt(call)
            return
        call.progress()
        call.play(path, on_finished=lambda: self._after_prompt(call))

    def _after_prompt(self, call: Any) -> None:
        if self.continue_app:
            call.source = None
            call.handover(self.continue_app)
        else:
            call.reject(self.final_code, self.final_reason)


def create_app(config: Mapping[str, Any]) -> EarlyAnnounce:
    return EarlyAnnounce(config)
