"""announcement: answers, plays a prompt, hangs up at its end (SEMS's announcement).

Prompt lookup, first hit wins (names from the request are checked, see media.prompts):
`<announce_path>/<domain>/<user>.wav`, `<announce_path>/<user>.wav`, `default_announce`.
If `announce_header` or `announce_param` is set, a value there (a file name without
`.wav`) is looked up in `announce_path` first.

Config (app_config.announcement): announce_path (default `prompts`), default_announce
(default `prompts/default.wav`), announce_header, announce_param, loop (default false).
Relative paths are relative to the config file's folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sems_lite.media.prompts import find_prompt, resolve


class Announcement:
    extension = ".wav"

    def __init__(self, config: Mapping[str, Any]) -> None:
        config_dir = str(config.get("config_dir", "."))
        self.announce_path = resolve(config_dir, str(config.get("announce_path", "prompts")))
        self.default_announce = resolve(
            config_dir, str(config.get("default_announce", "prompts/default" + self.extension))
        )
        self.header = config.get("announce_header")
        self.param = config.get("announce_param")
        self.loop = bool(config.get("loop", False))

    def prompt_for(self, call: Any) -> str:
        ruri = call.ruri
        user = getattr(ruri, "user_unescaped", None)
        domain = getattr(ruri, "host", None)
        names: list[tuple[str | None, ...]] = []
        if self.header:
            names.append((call.headers.get(self.header),))
        if self.param and hasattr(ruri, "params"):
            names.append((ruri.params.get(self.param.lower()),))
        names += [(domain, user), (user,)]
        return find_prompt(self.announce_path, names, self.extension, self.default_announce)

    def on_invite(self, call: Any) -> None:
        path = self.prompt_for(call)
        # The caller may be silent (a monitoring probe): no dead-RTP hang-up.
        call.dead_rtp_timeout = None
        call.answer()
        call.play(path, loop=self.loop, on_finished=lambda: call.hangup("announcement played"))


def create_app(config: Mapping[str, Any]) -> Announcement:
    return Announcement(config)
