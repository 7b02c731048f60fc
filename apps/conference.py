"""conference: everyone in a room hears the mix of all the others (SEMS's conference).

The room is the R-URI user (or the value of an R-URI parameter, `room_param`, e.g. RFC
4240's `conf`). Mixing happens once per room per media tick: the engine first reads every
stream (each participant's frame lands in its slot), then the first participant asked for
output in that tick makes the room mix everyone at once with the N-way kernel (which also
yields each participant's mix without their own signal, saturated, never wrapped).

Config (app_config.conference):
  max_participants (default 10; beyond it 486 Busy Here), room_param (default none),
  listen_only_param (default `listen`: an R-URI parameter that makes a participant
  listen-only, not mixed in), first_participant_prompt (a WAV played to someone who enters
  an empty room), join_sound / leave_sound (WAVs played to the room; default: short tones),
  lonely_user_timeout (seconds alone before the box hangs up; 0 = never, default 300).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sems_lite import native
from sems_lite.media.player import FilePlayer, Playlist, TonePlayer
from sems_lite.media.prompts import resolve

log = logging.getLogger("sems_lite.conference")


class Participant:
    """A call's sink and source inside a room."""

    __slots__ = ("call", "frame", "listen_only", "output", "prompt", "room")

    def __init__(self, room: Room, call: Any, listen_only: bool) -> None:
        self.room = room
        self.call = call
        self.listen_only = listen_only
        self.frame: bytes | None = None  # what the participant said this tick
        self.output: bytes | None = None  # what they hear this tick
        self.prompt: Playlist | None = None  # a prompt just for them, before the mix

    def write(self, pcm: bytes) -> None:
        self.frame = pcm

    def read(self, nbytes: int) -> bytes | None:
        if self.prompt is not None:
            frame = self.prompt.read(nbytes)
            if frame is not None:
                return bytes(frame)
            self.prompt = None
        self.room.mix(self.call.media_tick, nbytes)
        out, self.output = self.output, None
        return out


class Room:
    __slots__ = ("_mixed_tick", "name", "participants", "sounds")

    def __init__(self, name: str) -> None:
        self.name = name
        self.participants: list[Participant] = []
        self.sounds = Playlist()  # join/leave sounds everyone hears
        self._mixed_tick = -1

    def mix(self, tick: int, nbytes: int) -> None:
        """Mix this tick for everyone, once (the first reader of the tick triggers it)."""
        if tick == self._mixed_tick:
            return
        self._mixed_tick = tick
        people = self.participants
        speakers = [p for p in people if not p.listen_only]
        silence = bytes(nbytes)
        frames = [_fit(p.frame, nbytes) if p.frame else silence for p in speakers]
        for p in people:
            p.frame = None
        sound = self.sounds.read(nbytes)
        if speakers:
            total, others = native.mix(frames)
        else:
            total, others = silence, []
        if sound is not None:
            sound = _fit(bytes(sound), nbytes)
            total = native.add(total, sound)
            others = [native.add(o, sound) for o in others]
        for p, out in zip(speakers, others, strict=True):
            p.output = out
        for p in people:
            if p.listen_only:
                p.output = total


def _fit(frame: bytes, nbytes: int) -> bytes:
    if len(frame) == nbytes:
        return frame
    return frame[:nbytes] if len(frame) > nbytes else frame + bytes(nbytes - len(frame))


class Conference:
    def __init__(self, config: Mapping[str, Any]) -> None:
        config_dir = str(config.get("config_dir", "."))
        self.max_participants = int(config.get("max_participants", 10))
        self.room_param = config.get("room_param")
        self.listen_only_param = str(config.get("listen_only_param", "listen"))
        self.lonely_user_timeout = float(config.get("lonely_user_timeout", 300))

        def path(key: str) -> str | None:
            value = config.get(key)
            return resolve(config_dir, str(value)) if value else None

        self.first_prompt = path("first_participant_prompt")
        self.join_sound = path("join_sound")
        self.leave_sound = path("leave_sound")
        self.rooms: dict[str, Room] = {}
        self._lonely: dict[str, Any] = {}  # room -> timer handle

    def room_name(self, call: Any) -> str:
        ruri = call.ruri
        if self.room_param and hasattr(ruri, "params"):
            value = ruri.params.get(str(self.room_param).lower())
            if value:
                return value
        return getattr(ruri, "user_unescaped", None) or "default"

    def on_invite(self, call: Any) -> None:
        name = self.room_name(call)
        room = self.rooms.get(name)
        if room is not None and len(room.participants) >= self.max_participants:
            log.info("conference %s: full (%d), 486", name, self.max_participants)
            call.reject(486, "Busy Here")
            return
        if room is None:
            room = self.rooms[name] = Room(name)
        params = getattr(call.ruri, "params", {})
        listen_only = self.listen_only_param.lower() in params
        me = Participant(room, call, listen_only)
        if not room.participants and self.first_prompt:
            me.prompt = Playlist([FilePlayer(self.first_prompt, rate=call.rate)])
        room.participants.append(me)
        call.sink = me
        call.source = me
        call.answer()
        self._sound(room, self.join_sound, 880, call.rate)
        log.info("conference %s: %d participant(s)", name, len(room.participants))
        self._check_lonely(room, call)

    def on_end(self, call: Any, reason: str) -> None:
        for name, room in list(self.rooms.items()):
            kept = [p for p in room.participants if p.call is not call]
            if len(kept) == len(room.participants):
                continue
            room.participants = kept
            if not kept:
                del self.rooms[name]
                self._cancel_lonely(name)
            else:
                self._sound(room, self.leave_sound, 440, call.rate)
                log.info("conference %s: %d participant(s)", name, len(kept))
                self._check_lonely(room, kept[0].call)

    def _sound(self, room: Room, path: str | None, freq: int, rate: int) -> None:
        if len(room.participants) < 2:
            return
        room.sounds.add(FilePlayer(path, rate=rate) if path else TonePlayer(freq, 150, rate=rate))

    def _check_lonely(self, room: Room, call: Any) -> None:
        self._cancel_lonely(room.name)
        if self.lonely_user_timeout > 0 and len(room.participants) == 1:
            alone = room.participants[0].call
            self._lonely[room.name] = alone.set_timer(
                self.lonely_user_timeout, alone.hangup, "alone in the conference"
            )

    def _cancel_lonely(self, name: str) -> None:
        handle = self._lonely.pop(name, None)
        if handle is not None:
            handle.cancel()


def create_app(config: Mapping[str, Any]) -> Conference:
    return Conference(config)
