"""pin_collect: a PIN typed by DTMF lets the caller into a conference room (SEMS's pin_collect).

The box answers, plays the welcome and "enter PIN" prompts and collects digits; `#` or `*`
submits. The PIN is checked against a static list in the config, or by XML-RPC
`authorize(user, pin)` at `auth_url` (true / false; a non-empty string is taken as the room).
A right PIN joins the caller into the room of the conference app, in process
(`Conference.join`), and hands the call over to that app. A wrong PIN plays "wrong PIN"
and asks again; the third failure plays goodbye and hangs up. An auth server that cannot
be reached, or answers nonsense, counts as a failure (and is logged as such).

The room is, in order: the value of the PIN in a `pins:` map, the `room` setting, the PIN.

Config (app_config.pin_collect):
  pins (a list of PINs, or a map PIN -> room) or auth_url (http://IP:PORT/path),
  auth_method (default `authorize`), auth_timeout (s, default 5), room (default: the PIN),
  conference_app (default `conference`), max_attempts (default 3), and prompt WAVs
  welcome_prompt, enter_pin_prompt, wrong_pin_prompt, entering_prompt, goodbye_prompt
  (default: short tones, see TONES).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

from sems_lite.media.player import FilePlayer, Playlist, Silence, TonePlayer
from sems_lite.media.prompts import resolve

log = logging.getLogger("sems_lite.pin_collect")

MAX_DIGITS = 16
# Default prompts as (frequency Hz, ms) beeps, the same as webconference's where they match.
TONES: dict[str, tuple[tuple[int, int], ...]] = {
    "welcome": ((750, 150), (1000, 150)),
    "enter_pin": ((900, 150), (900, 150)),
    "wrong_pin": ((300, 400),),
    "entering": ((1200, 300),),
    "goodbye": ((400, 200), (300, 300)),
}


# --- the PIN dialogue, sans-IO --------------------------------------------------------


class Phase(Enum):
    COLLECTING = "collecting"
    VERIFYING = "verifying"  # a PIN was submitted; digits are ignored until the verdict
    DONE = "done"


class PinDialog:
    """Digits in, PINs out: `#` or `*` submits what was typed (an empty entry is ignored).

    `feed` returns the PIN to verify; then `accepted()` or `rejected()` tells the verdict.
    `rejected()` is True while the caller may try again (`max_attempts` failures end it).
    """

    __slots__ = ("_buf", "attempts", "max_attempts", "phase")

    def __init__(self, max_attempts: int = 3) -> None:
        self.max_attempts = max_attempts
        self.attempts = 0  # failures so far
        self.phase = Phase.COLLECTING
        self._buf = ""

    def feed(self, digit: str) -> str | None:
        if self.phase is not Phase.COLLECTING:
            return None
        if digit in "#*":
            entry, self._buf = self._buf, ""
            if not entry:
                return None
            self.phase = Phase.VERIFYING
            return entry
        if digit.isdigit() and len(self._buf) < MAX_DIGITS:
            self._buf += digit
        return None

    def accepted(self) -> None:
        self.phase = Phase.DONE

    def rejected(self) -> bool:
        self.attempts += 1
        if self.attempts >= self.max_attempts:
            self.phase = Phase.DONE
            return False
        self.phase = Phase.COLLECTING
        return True


# --- prompts ----------------------------------------------------------------------------


class Prompts:
    """Named prompts from the config (WAV paths), or the TONES beeps where none is set."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        config_dir = str(config.get("config_dir", "."))
        self.paths: dict[str, str | None] = {}
        for name in TONES:
            value = config.get(f"{name}_prompt")
            self.paths[name] = resolve(config_dir, str(value)) if value else None

    def items(self, rate: int, *names: str) -> list[Any]:
        out: list[Any] = []
        for name in names:
            path = self.paths.get(name)
            if path:
                out.append(FilePlayer(path, rate=rate))
                continue
            for freq, ms in TONES[name]:
                out += [TonePlayer(freq, ms, rate=rate), Silence(100, rate=rate)]
        return out

    def playlist(self, rate: int, *names: str) -> Playlist:
        return Playlist(self.items(rate, *names))

    def say(self, call: Any, *names: str, then: Callable[[], None] | None = None) -> None:
        # barge_in: a key typed during a prompt cuts it short (not for the last words).
        call.play(*self.items(call.rate, *names), barge_in=then is None, on_finished=then)


# --- the app ----------------------------------------------------------------------------


class PinSession:
    __slots__ = ("call", "dialog", "request")

    def __init__(self, call: Any, dialog: PinDialog) -> None:
        self.call = call
        self.dialog = dialog
        self.request: Any = None  # the auth request in flight (has cancel())


class PinApp:
    """What pin_collect and conf_auth share: the dialogue, prompts and joining a room.

    Subclasses implement `verify(session, pin)` and end it with `granted(...)` or
    `denied(...)`, at once or later (from an XML-RPC answer).
    """

    log_name = "pin_collect"

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.conference_app = str(config.get("conference_app", "conference"))
        self.max_attempts = int(config.get("max_attempts", 3))
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.prompts = Prompts(config)
        self.sessions: dict[str, PinSession] = {}  # call id -> caller typing a PIN

    def on_invite(self, call: Any) -> None:
        call.answer()
        self.sessions[call.id] = PinSession(call, PinDialog(self.max_attempts))
        self.prompts.say(call, "welcome", "enter_pin")

    def on_dtmf(self, call: Any, digit: str, duration_ms: int) -> None:
        session = self.sessions.get(call.id)
        if session is None:
            return
        pin = session.dialog.feed(digit)
        if pin is not None:
            log.info("%s: call %s: PIN submitted", self.log_name, call.id)
            self.verify(session, pin)

    def on_end(self, call: Any, reason: str) -> None:
        session = self.sessions.pop(call.id, None)
        if session is not None and session.request is not None:
            session.request.cancel()

    def verify(self, session: PinSession, pin: str) -> None:
        raise NotImplementedError

    def denied(self, session: PinSession, why: str) -> None:
        call = session.call
        session.request = None
        if self.sessions.get(call.id) is not session or call.ended:
            return  # the caller hung up meanwhile
        if session.dialog.rejected():
            log.info("%s: call %s: %s, asking again", self.log_name, call.id, why)
            self.prompts.say(call, "wrong_pin", "enter_pin")
            return
        log.info("%s: call %s: %s, third failure: goodbye", self.log_name, call.id, why)
        del self.sessions[call.id]
        self.prompts.say(call, "wrong_pin", "goodbye", then=lambda: call.hangup("wrong PIN"))

    def granted(self, session: PinSession, room: str, max_duration: float = 0.0) -> None:
        """Join the caller into `room`; end the call after `max_duration` s if positive."""
        call = session.call
        session.request = None
        if self.sessions.get(call.id) is not session or call.ended:
            return
        session.dialog.accepted()
        del self.sessions[call.id]
        conference = call.ua.apps.instance(self.conference_app)
        entering = self.prompts.playlist(call.rate, "entering")
        if conference.join(call, room, prompt=entering) is None:
            log.info("%s: call %s: room %s is full", self.log_name, call.id, room)
            self.prompts.say(call, "goodbye", then=lambda: call.hangup("conference room full"))
            return
        if max_duration > 0:
            call.set_timer(max_duration, call.hangup, "conference time limit reached")
        log.info("%s: call %s: joined room %s", self.log_name, call.id, room)
        # From now on the conference owns the call: its end takes the caller out of the room.
        call.handover(self.conference_app)


def caller_user(call: Any) -> str:
    """The user part of the caller's From URI ('' if it has none)."""
    uri = getattr(call.from_addr, "uri", None)
    return getattr(uri, "user_unescaped", None) or ""


class PinCollect(PinApp):
    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        pins = config.get("pins")
        self.auth_url = config.get("auth_url")
        if (pins is None) == (self.auth_url is None):
            raise ValueError("pin_collect needs either `pins` (a list or map) or `auth_url`")
        self.pins: dict[str, str | None] = {}
        if isinstance(pins, Mapping):
            self.pins = {str(k): str(v) for k, v in pins.items()}
        elif pins is not None:
            if isinstance(pins, str | int):
                pins = [pins]
            self.pins = {str(p): None for p in pins}
        self.auth_method = str(config.get("auth_method", "authorize"))
        self.auth_timeout = float(config.get("auth_timeout", 5))
        room = config.get("room")
        self.room = str(room) if room is not None else None
        if self.auth_url is not None:
            from sems_lite.core.http_client import parse_url
            from sems_lite.xmlrpc_call import require_xmlrpc

            parse_url(str(self.auth_url))  # a bad URL is a config error, found at start
            require_xmlrpc()

    def room_for(self, pin: str, granted: str | None = None) -> str:
        return granted or self.room or pin

    def verify(self, session: PinSession, pin: str) -> None:
        if self.auth_url is None:
            if pin in self.pins:
                self.granted(session, self.room_for(pin, self.pins[pin]))
            else:
                self.denied(session, "wrong PIN")
            return
        from sems_lite.xmlrpc_call import XmlRpcError, xmlrpc_call

        def answered(value: Any, error: XmlRpcError | None) -> None:
            if error is not None:
                log.warning("pin_collect: auth server: %s", error)
                self.denied(session, "auth server error")
            elif isinstance(value, str) and value:
                self.granted(session, value)
            elif value is True:
                self.granted(session, self.room_for(pin))
            else:
                self.denied(session, "wrong PIN")

        call = session.call
        params = [caller_user(call), pin]
        session.request = xmlrpc_call(
            call.ua.loop, str(self.auth_url), self.auth_method, params, self.auth_timeout, answered
        )


def create_app(config: Mapping[str, Any]) -> PinCollect:
    return PinCollect(config)
