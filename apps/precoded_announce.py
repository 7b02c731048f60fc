"""precoded_announce: like announcement, but plays prompts stored already encoded
(`<name>.pcmu` / `<name>.pcma`), so the box sends them without transcoding.

The file matching the call's codec is preferred; a file in the other law is transcoded.
Config (app_config.precoded_announce): announce_path (default `prompts`),
default_announce (default `prompts/default`, without extension).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from sems_lite.media.precoded import PrecodedPlayer
from sems_lite.media.prompts import find_prompt, resolve

EXTENSIONS = {"PCMU": (".pcmu", ".pcma"), "PCMA": (".pcma", ".pcmu")}


class PrecodedAnnounce:
    def __init__(self, config: Mapping[str, Any]) -> None:
        config_dir = str(config.get("config_dir", "."))
        self.announce_path = resolve(config_dir, str(config.get("announce_path", "prompts")))
        self.default_announce = resolve(
            config_dir, str(config.get("default_announce", "prompts/default"))
        )

    def prompt_for(self, call: Any) -> str:
        codec = call.negotiated.codec.name.upper() if call.negotiated else "PCMU"
        user = getattr(call.ruri, "user_unescaped", None)
        domain = getattr(call.ruri, "host", None)
        for ext in EXTENSIONS.get(codec, (".pcmu", ".pcma")):
            default = self.default_announce + ext
            found = find_prompt(self.announce_path, [(domain, user), (user,)], ext, "")
            if found:
                return found
            if os.path.isfile(default):
                fallback = default
                break
        else:
            fallback = self.default_announce + ".pcmu"
        return fallback

    def on_invite(self, call: Any) -> None:
        call.dead_rtp_timeout = None
        call.answer()
        call.source = PrecodedPlayer(
            self.prompt_for(call), on_finished=lambda: call.hangup("announcement played")
        )


def create_app(config: Mapping[str, Any]) -> PrecodedAnnounce:
    return PrecodedAnnounce(config)
