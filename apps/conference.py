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

Rates: a room mixes at the highest rate among its participants (8 kHz G.711 callers with
16 kHz L16 ones mix at 16 kHz); each participant whose own rate differs has a pair of
resamplers (in and out) that keep their filter state from tick to tick.

Other apps put an answered call into a room with `Conference.join(call, room)` (pin_collect,
conf_auth) and hand the call over to this app, so that its end reaches `on_end`.

Dial-out (SEMS's, on when `dialout_suffix` is set, e.g. "@10.0.0.1:5070"): a participant
types `#*`, the number, `*`; the box calls `sip:<number><suffix>` (From user
`dialout_caller`, default "sems"; cancelled after `dialout_timeout` s, default 60) while the
caller stays in the room. On the answer caller and callee talk in a private room; the
caller then types `*` to bring both into the main room, or `#` to hang the callee up and go
back alone (`#` while it rings cancels the call). A failed call (busy, no answer, hang-up)
sends the caller back with a low beep. The keys are parsed by `DialoutKeys` (sans-IO).
Without a suffix the app takes no digits at all, so its calls skip in-band DTMF detection.
"""

from __future__ import annotations

import logging
import warnings
from array import array
from collections.abc import Mapping
from enum import Enum
from typing import Any

from sems_lite import native
from sems_lite.media.player import FilePlayer, Playlist, TonePlayer
from sems_lite.media.prompts import resolve

log = logging.getLogger("sems_lite.conference")


class Participant:
    """A call's sink and source inside a room."""

    __slots__ = ("call", "frame", "link", "listen_only", "output", "prompt", "room")

    def __init__(self, room: Room, call: Any, listen_only: bool) -> None:
        self.room = room
        self.call = call
        self.listen_only = listen_only
        self.frame: bytes | None = None  # what the participant said this tick
        self.output: bytes | None = None  # what they hear this tick
        self.prompt: Playlist | None = None  # a prompt just for them, before the mix
        self.link: RateLink | None = None  # resamplers while the room runs at another rate

    def write(self, pcm: bytes) -> None:
        self.frame = pcm

    def read(self, nbytes: int) -> bytes | None:
        if self.prompt is not None:
            frame = self.prompt.read(nbytes)
            if frame is not None:
                return bytes(frame)
            self.prompt = None
        self.room.mix(self.call.media_tick, nbytes, self.call.rate)
        out, self.output = self.output, None
        return out


class RateLink:
    """A participant's way into and out of a room at another rate (resampler state kept)."""

    __slots__ = ("inbound", "outbound", "rate", "room_rate")

    def __init__(self, rate: int, room_rate: int) -> None:
        self.rate = rate
        self.room_rate = room_rate
        self.inbound = converter(rate, room_rate)
        self.outbound = converter(room_rate, rate)


def converter(from_rate: int, to_rate: int) -> Any:
    """Something with `process(pcm) -> pcm` that changes the rate, keeping state."""
    if to_rate == 2 * from_rate or from_rate == 2 * to_rate:
        return native.Resampler(to_rate > from_rate)  # the half-band kernel (8k <-> 16k)
    return _RateCv(from_rate, to_rate)


class _RateCv:
    """Any other ratio (rare: no codec needs one yet): audioop.ratecv where it exists, else
    linear interpolation in Python (slow, but a box without audioop still mixes)."""

    __slots__ = ("_audioop", "_from", "_last", "_pos", "_state", "_to")

    def __init__(self, from_rate: int, to_rate: int) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                import audioop
        except ImportError:
            audioop = None
        self._audioop = audioop
        self._from = from_rate
        self._to = to_rate
        self._state = None
        self._last = 0  # the sample before this frame, for the interpolation
        self._pos = 0  # position of the next output sample, in units of 1 / to_rate input samples

    def process(self, pcm: bytes) -> bytes:
        if self._audioop is not None:
            out, self._state = self._audioop.ratecv(pcm, 2, 1, self._from, self._to, self._state)
            return out
        x = array("h", pcm)
        out = array("h")
        n, pos, step, den = len(x), self._pos, self._from, self._to
        prev = self._last
        while pos < n * den:
            i, frac = divmod(pos, den)
            a = x[i - 1] if i > 0 else prev
            out.append(a + (x[i] - a) * frac // den)
            pos += step
        self._pos = pos - n * den
        self._last = x[-1] if n else prev
        return out.tobytes()


class Room:
    __slots__ = ("_mixed_tick", "name", "participants", "rate", "sounds")

    def __init__(self, name: str) -> None:
        self.name = name
        self.participants: list[Participant] = []
        self.sounds = Playlist()  # join/leave sounds everyone hears, at the room's rate
        self.rate = 8000  # the highest participant rate, updated every mix
        self._mixed_tick = -1

    def mix(self, tick: int, nbytes: int, rate: int = 8000) -> None:
        """Mix this tick for everyone, once (the first reader of the tick triggers it).

        `nbytes` and `rate` are the reader's: the room's frame is as long in time.
        """
        if tick == self._mixed_tick:
            return
        self._mixed_tick = tick
        people = self.participants
        room_rate = rate
        for p in people:
            if p.call.rate > room_rate:
                room_rate = p.call.rate
        self.rate = room_rate
        size = nbytes * room_rate // rate
        silence = bytes(size)
        speakers = []
        frames = []
        for p in people:
            if p.call.rate == room_rate:
                p.link = None
            elif p.link is None or p.link.room_rate != room_rate or p.link.rate != p.call.rate:
                p.link = RateLink(p.call.rate, room_rate)
            if not p.listen_only:
                speakers.append(p)
                frame = p.frame
                if frame and p.link is not None:
                    frame = p.link.inbound.process(frame)
                frames.append(_fit(frame, size) if frame else silence)
            p.frame = None
        sound = self.sounds.read(size)
        if speakers:
            total, others = native.mix(frames)
        else:
            total, others = silence, []
        if sound is not None:
            sound = _fit(bytes(sound), size)
            total = native.add(total, sound)
            others = [native.add(o, sound) for o in others]
        for p, out in zip(speakers, others, strict=True):
            p.output = out if p.link is None else p.link.outbound.process(out)
        for p in people:
            if p.listen_only:
                p.output = total if p.link is None else p.link.outbound.process(total)


def _fit(frame: bytes, nbytes: int) -> bytes:
    if len(frame) == nbytes:
        return frame
    return frame[:nbytes] if len(frame) > nbytes else frame + bytes(nbytes - len(frame))


# --- dial-out keys, sans-IO ----------------------------------------------------------------

MAX_DIALOUT_DIGITS = 32
FAIL_BEEP_HZ = 300  # the caller is back in the room after a failed dial-out
CONNECT_REFUSED_HZ = 250  # `*` could not bring both in: the main room is full
_DIGITS = frozenset("0123456789")


class Phase(Enum):
    IDLE = "idle"  # in the room, watching for `#*`
    PREFIX = "prefix"  # `#` seen
    DIGITS = "digits"  # `#*` seen: collecting the number until `*`
    RINGING = "ringing"  # the number is being called
    PRIVATE = "private"  # the callee answered: talking alone with it


class KeyAction(Enum):
    DIAL = "dial"  # call `DialoutKeys.number`
    CONNECT = "connect"  # bring caller and callee into the main room
    DROP = "drop"  # hang the callee up (or cancel the ringing call); back alone


class DialoutKeys:
    """One participant's keys in, dial-out actions out: `#*` number `*` dials; while it
    rings `#` cancels; once answered `*` connects and `#` drops. A `#` while typing the
    number abandons it. The app reports the answer (`answered`) and a failed or ended
    callee (`reset`)."""

    __slots__ = ("number", "phase")

    def __init__(self) -> None:
        self.phase = Phase.IDLE
        self.number = ""

    def feed(self, digit: str) -> KeyAction | None:
        phase = self.phase
        if phase is Phase.IDLE:
            if digit == "#":
                self.phase = Phase.PREFIX
        elif phase is Phase.PREFIX:
            # `##*` still starts a dial-out: the second `#` is a new prefix.
            self.phase = (
                Phase.DIGITS if digit == "*" else Phase.PREFIX if digit == "#" else Phase.IDLE
            )
            self.number = ""
        elif phase is Phase.DIGITS:
            if digit in _DIGITS:
                if len(self.number) < MAX_DIALOUT_DIGITS:
                    self.number += digit
            elif digit == "*":
                if not self.number:
                    self.phase = Phase.IDLE
                    return None
                self.phase = Phase.RINGING
                return KeyAction.DIAL
            elif digit == "#":
                self.phase = Phase.IDLE
                self.number = ""
        elif phase is Phase.RINGING:
            if digit == "#":
                self.reset()
                return KeyAction.DROP
        elif phase is Phase.PRIVATE and digit in ("*", "#"):
            self.reset()
            return KeyAction.CONNECT if digit == "*" else KeyAction.DROP
        return None

    def answered(self) -> None:
        """The callee is on the line (also after a refused `*`): `*` and `#` act now."""
        self.phase = Phase.PRIVATE

    def reset(self) -> None:
        self.phase = Phase.IDLE
        self.number = ""


class _Dialout:
    """A participant's dial-out: their keys, the room they dialled from, the callee."""

    __slots__ = ("callee", "caller", "keys", "listen_only", "private", "room")

    def __init__(self, caller: Any) -> None:
        self.caller = caller
        self.keys = DialoutKeys()
        self.room = ""
        self.listen_only = False  # how the caller was in the room, to return the same way
        self.callee: Any = None
        self.private: Room | None = None


class Conference:
    def __init__(self, config: Mapping[str, Any]) -> None:
        config_dir = str(config.get("config_dir", "."))
        self.max_participants = int(config.get("max_participants", 10))
        self.room_param = config.get("room_param")
        self.listen_only_param = str(config.get("listen_only_param", "listen"))
        self.lonely_user_timeout = float(config.get("lonely_user_timeout", 300))
        self.dialout_suffix = str(config.get("dialout_suffix") or "")
        self.dialout_caller = str(config.get("dialout_caller", "sems"))
        self.dialout_timeout = float(config.get("dialout_timeout", 60))

        def path(key: str) -> str | None:
            value = config.get(key)
            return resolve(config_dir, str(value)) if value else None

        self.first_prompt = path("first_participant_prompt")
        self.join_sound = path("join_sound")
        self.leave_sound = path("leave_sound")
        self.rooms: dict[str, Room] = {}
        self._private: dict[str, Room] = {}  # caller and callee before `*` (not dialable)
        self._lonely: dict[str, Any] = {}  # room -> timer handle
        self._dialouts: dict[Any, _Dialout] = {}  # caller's call -> their dial-out
        self._callees: dict[Any, _Dialout] = {}  # callee's call while ringing or private
        if self.dialout_suffix:
            # Only then does the app take digits (the UA listens for in-band DTMF for it).
            self.on_dtmf = self._on_dtmf

    def room_name(self, call: Any) -> str:
        ruri = call.ruri
        if self.room_param and hasattr(ruri, "params"):
            value = ruri.params.get(str(self.room_param).lower())
            if value:
                return value
        return getattr(ruri, "user_unescaped", None) or "default"

    def on_invite(self, call: Any) -> None:
        name = self.room_name(call)
        params = getattr(call.ruri, "params", {})
        listen_only = self.listen_only_param.lower() in params
        if self.join(call, name, listen_only=listen_only) is None:
            call.reject(486, "Busy Here")
            return
        call.answer()

    def join(
        self,
        call: Any,
        room: str,
        *,
        listen_only: bool = False,
        prompt: Playlist | None = None,
    ) -> Participant | None:
        """Put `call` into `room` (created if new); None if the room is full.

        The call's audio goes to and comes from the room from the next tick on; `prompt`
        plays to this caller alone first. A call already in a room stays where it is.
        A caller from another app must then be handed over (`call.handover(<this app>)`)
        so that the end of the call takes it out of the room.
        """
        here = self.participant(call)
        if here is not None:
            return here
        existing = self.rooms.get(room)
        if existing is not None and len(existing.participants) >= self.max_participants:
            log.info("conference %s: full (%d), 486", room, self.max_participants)
            return None
        r = existing if existing is not None else self.rooms.setdefault(room, Room(room))
        if not r.participants and self.first_prompt:
            prompt = prompt if prompt is not None else Playlist()
            prompt.add(FilePlayer(self.first_prompt, rate=call.rate))
        return self._enter(r, call, listen_only, prompt)

    def _enter(
        self, r: Room, call: Any, listen_only: bool = False, prompt: Playlist | None = None
    ) -> Participant:
        me = Participant(r, call, listen_only)
        me.prompt = prompt
        r.participants.append(me)
        call.sink = me
        call.source = me
        self._sound(r, self.join_sound, 880)
        log.info("conference %s: %d participant(s)", r.name, len(r.participants))
        self._check_lonely(r, call)
        return me

    def participant(self, call: Any) -> Participant | None:
        """The call's place in a room (a private dial-out room too), or None."""
        for rooms in (self.rooms, self._private):
            for r in rooms.values():
                for p in r.participants:
                    if p.call is call:
                        return p
        return None

    def on_end(self, call: Any, reason: str) -> None:
        if call in self._callees:
            self._callee_gone(call)
        dialout = self._dialouts.pop(call, None)
        if dialout is not None and dialout.callee is not None:
            # The caller went away: a callee still ringing or talking privately goes too.
            callee = dialout.callee
            self._forget_callee(dialout)
            self.leave(callee)
            callee.hangup("the caller left the conference")
        self.leave(call)

    def leave(self, call: Any) -> None:
        """Take `call` out of its room (the room goes when its last participant does)."""
        for rooms in (self.rooms, self._private):
            for name, room in list(rooms.items()):
                kept = [p for p in room.participants if p.call is not call]
                if len(kept) == len(room.participants):
                    continue
                room.participants = kept
                if not kept:
                    del rooms[name]
                    self._cancel_lonely(name)
                else:
                    self._sound(room, self.leave_sound, 440)
                    log.info("conference %s: %d participant(s)", name, len(kept))
                    self._check_lonely(room, kept[0].call)

    # -- dial-out --------------------------------------------------------------------------
    def _on_dtmf(self, call: Any, digit: str, duration_ms: int) -> None:
        if call in self._callees:
            return  # a callee not yet in the main room has no say
        dialout = self._dialouts.get(call)
        if dialout is None:
            me = self.participant(call)
            if me is None:
                return
            dialout = self._dialouts[call] = _Dialout(call)
        action = dialout.keys.feed(digit)
        if action is KeyAction.DIAL:
            self._dial(dialout)
        elif action is KeyAction.CONNECT:
            self._connect(dialout)
        elif action is KeyAction.DROP:
            self._drop(dialout)

    def _dial(self, dialout: _Dialout) -> None:
        from sems_lite.ua import DialError

        caller = dialout.caller
        me = self.participant(caller)
        if me is None:
            dialout.keys.reset()
            return
        target = f"sip:{dialout.keys.number}{self.dialout_suffix}"
        try:
            callee = caller.ua.dial(
                target,
                caller.app_name,
                on_answered=self._answered,
                on_failed=self._failed,
                caller=self.dialout_caller,
                ring_timeout=self.dialout_timeout,
            )
        except DialError as exc:
            log.info("conference: call %s cannot dial %s: %s", caller.id, target, exc)
            dialout.keys.reset()
            self._beep(caller, FAIL_BEEP_HZ)
            return
        dialout.room = me.room.name
        dialout.listen_only = me.listen_only
        dialout.callee = callee
        self._callees[callee] = dialout
        log.info(
            "conference %s: call %s dials %s (call %s)", me.room.name, caller.id, target, callee.id
        )

    def _answered(self, callee: Any) -> None:
        dialout = self._callees.get(callee)
        if dialout is None or dialout.caller.ended:
            self._callees.pop(callee, None)
            callee.hangup("dial-out no longer wanted")
            return
        caller = dialout.caller
        dialout.keys.answered()
        # Both leave for a room of their own: the others do not hear them, nor they the others.
        private = Room(f"{dialout.room} dial-out {caller.id}")
        self._private[private.name] = private
        dialout.private = private
        self.leave(caller)
        self._enter(private, caller)
        self._enter(private, callee)
        log.info(
            "conference %s: call %s talks privately with %s", dialout.room, caller.id, callee.id
        )

    def _failed(self, callee: Any, status: int) -> None:
        # Usually on_end has already run for the callee (it ends first); this is a no-op then.
        self._callee_gone(callee, status)

    def _callee_gone(self, callee: Any, status: int | None = None) -> None:
        """The callee failed, was not answered, or hung up before `*`: caller back alone."""
        dialout = self._callees.get(callee)
        if dialout is None:
            return
        was_private = dialout.private is not None
        self._forget_callee(dialout)
        dialout.keys.reset()
        self.leave(callee)
        caller = dialout.caller
        log.info(
            "conference %s: dial-out %s ended (%s)",
            dialout.room,
            callee.id,
            status or getattr(callee, "final_status", 0) or "hung up",
        )
        if caller.ended:
            return
        if was_private:
            self._back_to_room(dialout)
        self._beep(caller, FAIL_BEEP_HZ)

    def _connect(self, dialout: _Dialout) -> None:
        caller, callee = dialout.caller, dialout.callee
        if callee is None:
            return
        main = self.rooms.get(dialout.room)
        if main is not None and len(main.participants) + 2 > self.max_participants:
            log.info("conference %s: full, the callee cannot join", dialout.room)
            dialout.keys.answered()  # still talking privately
            self._beep(caller, CONNECT_REFUSED_HZ)
            return
        self._forget_callee(dialout)
        self.leave(caller)
        self.leave(callee)
        self.join(caller, dialout.room, listen_only=dialout.listen_only)
        self.join(callee, dialout.room)
        log.info("conference %s: call %s brought %s in", dialout.room, caller.id, callee.id)

    def _drop(self, dialout: _Dialout) -> None:
        callee = dialout.callee
        if callee is None:
            return
        was_private = dialout.private is not None
        self._forget_callee(dialout)
        self.leave(callee)
        callee.hangup("dropped by the caller")  # CANCEL while ringing, BYE after the answer
        if was_private:
            self._back_to_room(dialout)

    def _back_to_room(self, dialout: _Dialout) -> None:
        caller = dialout.caller
        self.leave(caller)
        if self.join(caller, dialout.room, listen_only=dialout.listen_only) is None:
            # The room filled up while they were away: there is nowhere to go back to.
            caller.hangup("the conference is full")

    def _forget_callee(self, dialout: _Dialout) -> None:
        if dialout.callee is not None:
            self._callees.pop(dialout.callee, None)
        dialout.callee = None
        dialout.private = None  # the room itself goes once both have left it

    def _beep(self, call: Any, freq: int) -> None:
        me = self.participant(call)
        if me is not None:
            prompt = Playlist()
            prompt.add(TonePlayer(freq, 300, rate=call.rate))
            me.prompt = prompt

    # -- sounds and timers ---------------------------------------------------------------
    def _sound(self, room: Room, path: str | None, freq: int) -> None:
        if len(room.participants) < 2:
            return
        # At the rate the room mixes at from the next tick (it follows who is in it).
        rate = max(p.call.rate for p in room.participants)
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
