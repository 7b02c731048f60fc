"""webconference: PIN-protected rooms entered by DTMF and run from the control interface
(SEMS's webconference, simplified).

A caller types the room number and `#`, then the PIN and `#` (`*` clears what was typed).
A wrong PIN asks for the PIN again, an unknown room for the room number again; the third
failure plays goodbye and hangs up. Rooms exist only once created over JSON-RPC
(`conf.create`), and expire `room_idle_timeout` seconds after the last participant left
(checked lazily whenever rooms are looked at: no timer has to outlive the calls).

Mixing is apps.conference's Room (once per tick, everyone minus themselves); a muted
participant is a listen-only one there: not mixed in, still hearing the room.

Dial-out (`conf.dialout(room, uri[, pin])`): the box calls `uri`; the answered callee
joins the room directly (no PIN). `conf.info` lists it meanwhile with state "ringing", then
like any participant (mute, kick) with `"dialout": "joined"`, or "failed" (with the SIP
status) for `failed_dialout_linger` seconds. A `pin`, when given, must be the room's admin
PIN. The app needs the UA to dial: `register_control` gets it when the server passes it,
else the app takes it from the first call it sees.

Config (app_config.webconference): room_idle_timeout (s, default 3600; 0 = never),
max_participants (default 10), max_attempts (default 3), dialout_caller (From user of
dial-outs, default "sems"), dialout_timeout (s of ringing, default 60),
failed_dialout_linger (s, default 60), and prompt WAVs enter_room_prompt,
enter_pin_prompt, wrong_pin_prompt, entering_prompt, goodbye_prompt (default: short tones,
see TONES).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

from apps.conference import Participant, Room
from sems_lite.media.player import FilePlayer, Playlist, Silence, TonePlayer
from sems_lite.media.prompts import resolve

log = logging.getLogger("sems_lite.webconference")

MAX_DIGITS = 16
# JSON-RPC application error codes (the -32000..-32099 range is for the server's own).
WRONG_PIN = -32003
NOT_FOUND = -32004
ALREADY_EXISTS = -32009
NOT_IMPLEMENTED = -32010
DIAL_FAILED = -32011  # the box cannot place the call (bad URI, limits, no UA yet)
ROOM_FULL = -32012
INVALID_PARAMS = -32602

# Default prompts as (frequency Hz, ms) beeps: distinct, so a test can tell them apart.
TONES: dict[str, tuple[tuple[int, int], ...]] = {
    "enter_room": ((600, 150),),
    "enter_pin": ((900, 150), (900, 150)),
    "wrong_pin": ((300, 400),),
    "entering": ((1200, 300),),
    "goodbye": ((400, 200), (300, 300)),
}
TALK_LEVEL = 500  # |sample| above this counts as talking (about -36 dBFS)
TALK_HOLD_TICKS = 15  # "talking" lingers 300 ms after the last loud frame


# --- the PIN dialogue, sans-IO --------------------------------------------------------


class Verdict(Enum):
    OK = "ok"
    WRONG_PIN = "wrong_pin"
    UNKNOWN_ROOM = "unknown_room"


class Step(Enum):
    """What the caller must hear next."""

    ASK_PIN = "ask_pin"  # a room number was entered
    WRONG_PIN = "wrong_pin"  # say so and ask for the PIN again
    UNKNOWN_ROOM = "unknown_room"  # say so and ask for the room number again
    JOIN = "join"  # room and PIN are right
    GOODBYE = "goodbye"  # too many failures: say goodbye and hang up


class PinCollector:
    """Digits in, steps out: room number `#`, PIN `#`; `*` clears the current entry.

    `check(room, pin)` decides; after `max_attempts` failures the answer is GOODBYE and
    the collector ignores further digits.
    """

    __slots__ = ("_buf", "_check", "attempts", "done", "max_attempts", "pin", "room")

    def __init__(self, check: Callable[[str, str], Verdict], max_attempts: int = 3) -> None:
        self._check = check
        self.max_attempts = max_attempts
        self.attempts = 0  # failures so far
        self.room: str | None = None  # set once the room number is entered
        self.pin: str | None = None
        self.done = False
        self._buf = ""

    def feed(self, digit: str) -> Step | None:
        """One DTMF key; returns the next step, or None while collecting."""
        if self.done:
            return None
        if digit == "*":
            self._buf = ""
            return None
        if digit != "#":
            if digit.isdigit() and len(self._buf) < MAX_DIGITS:
                self._buf += digit
            return None
        entry, self._buf = self._buf, ""
        if self.room is None:
            if not entry:
                return None  # a stray '#': keep waiting for the room number
            self.room = entry
            return Step.ASK_PIN
        verdict = self._check(self.room, entry)
        if verdict is Verdict.OK:
            self.pin = entry
            self.done = True
            return Step.JOIN
        self.attempts += 1
        if self.attempts >= self.max_attempts:
            self.done = True
            return Step.GOODBYE
        if verdict is Verdict.UNKNOWN_ROOM:
            self.room = None
            return Step.UNKNOWN_ROOM
        return Step.WRONG_PIN


# --- rooms ------------------------------------------------------------------------------


class Member(Participant):
    """A conference participant that also keeps its talk time (for conf.info)."""

    __slots__ = ("joined_at", "last_talk_tick", "talk_ticks", "tick_ms")

    def __init__(self, room: Room, call: Any, joined_at: float, tick_ms: int = 20) -> None:
        super().__init__(room, call, listen_only=False)
        self.joined_at = joined_at
        self.talk_ticks = 0
        self.last_talk_tick = -TALK_HOLD_TICKS - 1
        self.tick_ms = tick_ms

    def write(self, pcm: bytes) -> None:
        self.frame = pcm
        if self.listen_only or len(pcm) < 2:
            return
        # A strided peak is enough to tell talk from silence, at a fraction of the cost.
        samples = memoryview(pcm).cast("h")[::4]
        if max(samples) > TALK_LEVEL or min(samples) < -TALK_LEVEL:
            self.talk_ticks += 1
            self.last_talk_tick = self.call.media_tick

    @property
    def muted(self) -> bool:
        return self.listen_only

    def talking(self) -> bool:
        return not self.listen_only and (
            self.call.media_tick - self.last_talk_tick <= TALK_HOLD_TICKS
        )

    def info(self, now: float) -> dict[str, Any]:
        return {
            "id": self.call.id,
            "from": str(self.call.from_addr.uri),
            "state": "muted" if self.listen_only else "speaking",
            "talking": self.talking(),
            "talk_time_s": round(self.talk_ticks * self.tick_ms / 1000, 2),
            "joined_s": round(now - self.joined_at, 1),
        }


class DialedMember(Member):
    """A participant the room called (conf.dialout): listed by the URI it was called at."""

    __slots__ = ("uri",)

    def __init__(self, room: Room, call: Any, joined_at: float, tick_ms: int, uri: str) -> None:
        super().__init__(room, call, joined_at, tick_ms)
        self.uri = uri

    def info(self, now: float) -> dict[str, Any]:
        out = super().info(now)
        out["from"] = self.uri
        out["dialout"] = "joined"
        return out


class Dialout:
    """A call the room placed, until it joins (then a DialedMember) or fails."""

    __slots__ = ("call", "room", "since", "state", "status", "uri")

    def __init__(self, call: Any, room: str, uri: str, now: float) -> None:
        self.call = call
        self.room = room
        self.uri = uri
        self.state = "ringing"  # then "joined" or "failed"
        self.status = 0  # the SIP status it failed with
        self.since = now

    def info(self, now: float) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.call.id,
            "from": self.uri,
            "state": self.state,
            "dialout": self.state,
            "talking": False,
            "talk_time_s": 0.0,
            "joined_s": 0.0,
        }
        if self.state == "failed":
            out["status"] = self.status
        return out


class WebRoom:
    __slots__ = ("admin_pin", "created_at", "dialouts", "empty_since", "mixer", "name", "pin")

    def __init__(self, name: str, admin_pin: str, pin: str, now: float) -> None:
        self.name = name
        self.admin_pin = admin_pin
        self.pin = pin
        self.mixer = Room(name)
        self.created_at = now
        self.empty_since: float | None = now
        self.dialouts: dict[str, Dialout] = {}  # call id -> ringing or failed dial-out

    @property
    def members(self) -> list[Member]:
        return self.mixer.participants  # type: ignore[return-value]

    def member(self, participant_id: str) -> Member:
        for m in self.members:
            if m.call.id == participant_id:
                return m
        raise KeyError(participant_id)


class RoomError(Exception):
    """A control request that cannot be done; `code` is the JSON-RPC error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _digits(value: Any, what: str, allow_empty: bool) -> str:
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else None
    if text is None or len(text) > MAX_DIGITS or not (text.isdigit() or (allow_empty and not text)):
        raise RoomError(INVALID_PARAMS, f"{what} must be 1 to {MAX_DIGITS} digits (0-9)")
    return text


class _Session:
    """A caller still typing the room number and PIN."""

    __slots__ = ("call", "collector")

    def __init__(self, call: Any, collector: PinCollector) -> None:
        self.call = call
        self.collector = collector


class WebConference:
    def __init__(
        self, config: Mapping[str, Any], clock: Callable[[], float] = time.monotonic
    ) -> None:
        config_dir = str(config.get("config_dir", "."))
        self.clock = clock
        self.idle_timeout = float(config.get("room_idle_timeout", 3600))
        self.max_participants = int(config.get("max_participants", 10))
        self.max_attempts = int(config.get("max_attempts", 3))
        self.prompts: dict[str, str | None] = {}
        for name in TONES:
            value = config.get(f"{name}_prompt")
            self.prompts[name] = resolve(config_dir, str(value)) if value else None
        self.dialout_caller = str(config.get("dialout_caller", "sems"))
        self.dialout_timeout = float(config.get("dialout_timeout", 60))
        self.failed_linger = float(config.get("failed_dialout_linger", 60))
        self.rooms: dict[str, WebRoom] = {}
        self._sessions: dict[str, _Session] = {}  # call id -> caller in the PIN dialogue
        self._dialed: dict[str, Dialout] = {}  # call id -> dial-out, until the call ends
        self.ua: Any = None  # to place calls: from the server, or from the first call seen
        self.app_name = "webconference"  # the name this app is configured under

    def attach(self, ua: Any, app_name: str | None = None) -> None:
        """The UA to dial out with, and this app's configured name (for `ua.dial`)."""
        self.ua = ua
        if app_name:
            self.app_name = app_name

    # -- rooms (what the control methods do) ---------------------------------------------
    def create_room(self, room: Any, admin_pin: Any, pin: Any = "") -> dict[str, Any]:
        self.expire()
        name = _digits(room, "room", allow_empty=False)
        admin = _digits(admin_pin, "admin_pin", allow_empty=False)
        code = _digits(pin, "pin", allow_empty=True)
        if name in self.rooms:
            raise RoomError(ALREADY_EXISTS, f"room {name} exists")
        self.rooms[name] = WebRoom(name, admin, code, self.clock())
        log.info("webconference: room %s created", name)
        return self.room_info(name)

    def list_rooms(self) -> list[dict[str, Any]]:
        self.expire()
        return [
            {"room": r.name, "participants": len(r.members), "has_pin": bool(r.pin)}
            for r in self.rooms.values()
        ]

    def room_info(self, room: Any) -> dict[str, Any]:
        r = self._room(room)
        now = self.clock()
        for key, d in list(r.dialouts.items()):
            if d.state == "failed" and now - d.since >= self.failed_linger:
                del r.dialouts[key]
        return {
            "room": r.name,
            "has_pin": bool(r.pin),
            "age_s": round(now - r.created_at, 1),
            "participants": [m.info(now) for m in r.members]
            + [d.info(now) for d in r.dialouts.values()],
        }

    def dial_out(self, room: Any, uri: Any, pin: Any = None) -> dict[str, Any]:
        """Call `uri` into `room`; returns its conf.info entry (state "ringing")."""
        from sems_lite.ua import DialError

        r = self._room(room)
        if pin is not None and str(pin) != r.admin_pin:
            raise RoomError(WRONG_PIN, f"wrong admin PIN for room {r.name}")
        if not isinstance(uri, str) or not uri:
            raise RoomError(INVALID_PARAMS, "uri must be a sip: URI")
        ringing = sum(1 for d in r.dialouts.values() if d.state == "ringing")
        if len(r.members) + ringing >= self.max_participants:
            raise RoomError(ROOM_FULL, f"room {r.name} is full")
        if self.ua is None:
            raise RoomError(DIAL_FAILED, "the app cannot place calls yet (no user agent)")
        try:
            call = self.ua.dial(
                uri,
                self.app_name,
                on_answered=self._dial_answered,
                on_failed=self._dial_failed,
                caller=self.dialout_caller,
                ring_timeout=self.dialout_timeout,
            )
        except DialError as exc:
            raise RoomError(DIAL_FAILED, str(exc)) from None
        now = self.clock()
        entry = Dialout(call, r.name, uri, now)
        r.dialouts[call.id] = entry
        self._dialed[call.id] = entry
        log.info("webconference: room %s dials %s (call %s)", r.name, uri, call.id)
        return entry.info(now)

    def set_muted(self, room: Any, participant: Any, muted: bool) -> dict[str, Any]:
        member = self._member(room, participant)
        member.listen_only = muted
        if muted:
            member.frame = None  # what they said this tick is not mixed in either
        log.info("webconference: %s %s", participant, "muted" if muted else "unmuted")
        return member.info(self.clock())

    def kick(self, room: Any, participant: Any) -> bool:
        """Hang a participant up; a ringing dial-out is cancelled, a failed one forgotten."""
        r = self._room(room)
        pending = r.dialouts.pop(str(participant), None)
        if pending is not None:
            if pending.state == "ringing":
                pending.call.hangup("cancelled from the control interface")
            return True
        member = self._member(room, participant)
        member.call.hangup("kicked from the conference")
        return True

    def delete_room(self, room: Any) -> bool:
        r = self._room(room)
        del self.rooms[r.name]
        for pending in r.dialouts.values():
            if pending.state == "ringing":
                pending.call.hangup("conference room deleted")
        for member in list(r.members):
            member.call.hangup("conference room deleted")
        log.info("webconference: room %s deleted", r.name)
        return True

    def expire(self) -> None:
        """Drop rooms that have been empty for longer than the idle timeout."""
        if self.idle_timeout <= 0:
            return
        now = self.clock()
        for name, r in list(self.rooms.items()):
            if r.empty_since is not None and now - r.empty_since >= self.idle_timeout:
                del self.rooms[name]
                log.info("webconference: room %s expired (idle)", name)

    def check(self, room: str, pin: str) -> Verdict:
        self.expire()
        r = self.rooms.get(room)
        if r is None:
            return Verdict.UNKNOWN_ROOM
        return Verdict.OK if pin in (r.pin, r.admin_pin) else Verdict.WRONG_PIN

    def _room(self, room: Any) -> WebRoom:
        self.expire()
        r = self.rooms.get(str(room))
        if r is None:
            raise RoomError(NOT_FOUND, f"no room {room!r}")
        return r

    def _member(self, room: Any, participant: Any) -> Member:
        r = self._room(room)
        try:
            return r.member(str(participant))
        except KeyError:
            raise RoomError(NOT_FOUND, f"no participant {participant!r} in room {r.name}") from None

    # -- calls -------------------------------------------------------------------------------
    def on_invite(self, call: Any) -> None:
        if self.ua is None:
            self.attach(call.ua, call.app_name)
        call.answer()
        self._sessions[call.id] = _Session(call, PinCollector(self.check, self.max_attempts))
        self._say(call, "enter_room")

    def on_dtmf(self, call: Any, digit: str, duration_ms: int) -> None:
        session = self._sessions.get(call.id)
        if session is None:
            return  # already in a room: digits mean nothing there
        step = session.collector.feed(digit)
        if step is None:
            return
        room = session.collector.room
        log.info("webconference: call %s: %s (room %s)", call.id, step.value, room)
        if step is Step.ASK_PIN:
            self._say(call, "enter_pin")
        elif step is Step.WRONG_PIN:
            self._say(call, "wrong_pin", "enter_pin")
        elif step is Step.UNKNOWN_ROOM:
            self._say(call, "wrong_pin", "enter_room")
        elif step is Step.GOODBYE:
            del self._sessions[call.id]
            self._say(call, "wrong_pin", "goodbye", then=lambda: call.hangup("wrong PIN"))
        elif step is Step.JOIN:
            del self._sessions[call.id]
            assert room is not None
            self._join(call, room)

    def _join(self, call: Any, name: str) -> None:
        r = self.rooms.get(name)
        if r is None or len(r.members) >= self.max_participants:
            self._say(call, "goodbye", then=lambda: call.hangup("room gone or full"))
            return
        member = Member(r.mixer, call, self.clock(), call.ua.engine.ptime_ms)
        member.prompt = self._playlist(call, "entering")
        self._add(r, member)

    def _dial_answered(self, call: Any) -> None:
        entry = self._dialed.get(call.id)
        r = self.rooms.get(entry.room) if entry is not None else None
        if entry is None or r is None or r.dialouts.get(call.id) is not entry:
            call.hangup("dial-out no longer wanted")  # room deleted, or kicked while ringing
            return
        if len(r.members) >= self.max_participants:
            entry.state, entry.status, entry.since = "failed", 486, self.clock()
            call.hangup("conference room full")
            return
        del r.dialouts[call.id]
        entry.state = "joined"
        member = DialedMember(r.mixer, call, self.clock(), call.ua.engine.ptime_ms, entry.uri)
        member.prompt = self._playlist(call, "entering")
        self._add(r, member)

    def _dial_failed(self, call: Any, status: int) -> None:
        self._dial_ended(call, status)

    def _dial_ended(self, call: Any, status: int) -> None:
        # Runs from on_end (first) and on_failed: whichever comes first marks it.
        entry = self._dialed.pop(call.id, None)
        if entry is None or entry.state != "ringing":
            return
        entry.state, entry.status, entry.since = "failed", status, self.clock()
        log.info("webconference: dial-out %s to %s failed (%d)", call.id, entry.uri, status)

    def _add(self, r: WebRoom, member: Member) -> None:
        call = member.call
        r.members.append(member)
        r.empty_since = None
        call.sink = member
        call.source = member
        if len(r.members) > 1:
            r.mixer.sounds.add(TonePlayer(880, 150, rate=call.rate))
        log.info("webconference: call %s joined room %s (%d)", call.id, r.name, len(r.members))

    def on_end(self, call: Any, reason: str) -> None:
        self._sessions.pop(call.id, None)
        if call.id in self._dialed:
            self._dial_ended(call, getattr(call, "final_status", 0))
        for r in self.rooms.values():
            kept = [m for m in r.members if m.call is not call]
            if len(kept) == len(r.members):
                continue
            r.mixer.participants = kept  # type: ignore[assignment]
            if kept:
                r.mixer.sounds.add(TonePlayer(440, 150, rate=call.rate))
            else:
                r.empty_since = self.clock()
            log.info("webconference: call %s left room %s (%d)", call.id, r.name, len(kept))

    # -- prompts -----------------------------------------------------------------------------
    def _items(self, name: str, rate: int) -> list[Any]:
        path = self.prompts.get(name)
        if path:
            return [FilePlayer(path, rate=rate)]
        items: list[Any] = []
        for freq, ms in TONES[name]:
            items += [TonePlayer(freq, ms, rate=rate), Silence(100, rate=rate)]
        return items

    def _playlist(self, call: Any, *names: str) -> Playlist:
        playlist = Playlist()
        for name in names:
            for item in self._items(name, call.rate):
                playlist.add(item)
        return playlist

    def _say(self, call: Any, *names: str, then: Callable[[], None] | None = None) -> None:
        items = [item for name in names for item in self._items(name, call.rate)]
        # barge_in: a key typed during a prompt cuts it short, as on any IVR.
        call.play(*items, barge_in=then is None, on_finished=then)


def create_app(config: Mapping[str, Any]) -> WebConference:
    return WebConference(config)


def register_control(control: Any, get_app: Callable[[], Any], ua: Any, app_name: str) -> None:
    """JSON-RPC methods conf.* (sems_lite.server calls this when the control is on).

    `ua` lets conf.dialout place calls before any call has reached the app; `app_name` is
    the name the app is configured under.
    """
    from sems_lite.control import RpcError

    def app() -> WebConference:
        instance = get_app()
        if ua is not None and instance.ua is None:
            instance.attach(ua, app_name)
        elif app_name and instance.ua is None:
            instance.app_name = app_name
        return instance

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        def method(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(app(), *args, **kwargs)
            except RoomError as exc:
                raise RpcError(exc.code, str(exc)) from None

        method.__signature__ = _signature_without_app(fn)  # type: ignore[attr-defined]
        return method

    control.method("conf.create", wrap(WebConference.create_room))
    control.method("conf.list", wrap(WebConference.list_rooms))
    control.method("conf.info", wrap(WebConference.room_info))
    control.method(
        "conf.mute", wrap(lambda app, room, participant: app.set_muted(room, participant, True))
    )
    control.method(
        "conf.unmute", wrap(lambda app, room, participant: app.set_muted(room, participant, False))
    )
    control.method("conf.kick", wrap(WebConference.kick))
    control.method("conf.delete", wrap(WebConference.delete_room))
    control.method("conf.dialout", wrap(WebConference.dial_out))


def _signature_without_app(fn: Callable[..., Any]) -> Any:
    # The control server checks params against the signature: hide the `app` argument.
    import inspect

    sig = inspect.signature(fn)
    return sig.replace(parameters=list(sig.parameters.values())[1:])
