"""conf_auth: a PIN checked by an XML-RPC server decides the room and the time limit
(SEMS's conf_auth).

The box answers, plays the welcome and "enter PIN" prompts and collects digits (`#` or `*`
submits, as in pin_collect). It calls `<auth_method>(caller, pin)` at `auth_url`, where
`caller` is the caller's From URI. The server answers a struct

    {"result": "OK", "room": "<room or conference URI>", "max_duration": <seconds>}

(or the array [result, room, max_duration]); `max_duration` is optional, 0 or absent
means no limit. On "OK" the caller joins that room of the conference app (a SIP URI
stands for its user part) and, with a limit, gets a BYE that many seconds later. Any
other result is a wrong PIN: "wrong PIN" and the PIN prompt again, goodbye and BYE after
the third. An unreachable server or a malformed answer counts as a failure too.

Config (app_config.conf_auth): auth_url (required, http://IP:PORT/path), auth_method
(default `AuthorizeConference`), auth_timeout (s, default 5), conference_app (default
`conference`), max_attempts (default 3), and the prompts of pin_collect (welcome_prompt,
enter_pin_prompt, wrong_pin_prompt, entering_prompt, goodbye_prompt).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from apps.pin_collect import PinApp, PinSession

log = logging.getLogger("sems_lite.conf_auth")

MAX_ROOM = 64  # characters of a room name from the server


class BadAnswer(ValueError):
    """The auth server's answer is not the agreed struct."""


def parse_grant(value: Any) -> tuple[str, float] | None:
    """(room, max_duration) for an "OK" answer, None for a refusal; BadAnswer otherwise."""
    if isinstance(value, Mapping):
        result, room, duration = value.get("result"), value.get("room"), value.get("max_duration")
    elif isinstance(value, list | tuple) and 1 <= len(value) <= 3:
        result, room, duration = [*value, None, None][:3]
    else:
        raise BadAnswer(f"expected a struct, got {type(value).__name__}")
    if not isinstance(result, str):
        raise BadAnswer(f"result must be a string, got {result!r}")
    if result.upper() != "OK":
        return None
    name = room_name(room)
    if duration in (None, ""):
        seconds = 0.0
    else:
        try:
            seconds = float(duration)
        except (TypeError, ValueError):
            raise BadAnswer(f"bad max_duration {duration!r}") from None
        if not seconds >= 0:
            raise BadAnswer(f"bad max_duration {duration!r}")
    return name, seconds


def room_name(room: Any) -> str:
    """The room of a conference URI (its user part) or a plain room name."""
    if isinstance(room, int) and not isinstance(room, bool):
        room = str(room)
    if not isinstance(room, str) or not room.strip():
        raise BadAnswer(f"room must be a non-empty string, got {room!r}")
    text = room.strip().strip("<>")
    scheme, colon, _ = text.partition(":")
    if colon and scheme.lower() in ("sip", "sips"):
        from sems_lite.sip.uri import SipUri, parse_uri

        try:
            uri = parse_uri(text)
        except ValueError as exc:
            raise BadAnswer(f"bad conference URI {room!r}: {exc}") from None
        user = uri.user_unescaped if isinstance(uri, SipUri) else None
        if not user:
            raise BadAnswer(f"conference URI {room!r} has no user part")
        text = user
    if len(text) > MAX_ROOM or any(ord(c) < 32 for c in text):
        raise BadAnswer(f"unusable room name {room!r}")
    return text


class ConfAuth(PinApp):
    log_name = "conf_auth"

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        url = config.get("auth_url")
        if not url:
            raise ValueError("conf_auth needs `auth_url` (the XML-RPC server)")
        from sems_lite.core.http_client import parse_url
        from sems_lite.xmlrpc_call import require_xmlrpc

        parse_url(str(url))  # a bad URL is a config error, found at start
        require_xmlrpc()
        self.auth_url = str(url)
        self.auth_method = str(config.get("auth_method", "AuthorizeConference"))
        self.auth_timeout = float(config.get("auth_timeout", 5))

    def verify(self, session: PinSession, pin: str) -> None:
        from sems_lite.xmlrpc_call import XmlRpcError, xmlrpc_call

        def answered(value: Any, error: XmlRpcError | None) -> None:
            if error is not None:
                log.warning("conf_auth: auth server: %s", error)
                self.denied(session, "auth server error")
                return
            try:
                grant = parse_grant(value)
            except BadAnswer as exc:
                log.warning("conf_auth: auth server: %s", exc)
                self.denied(session, "bad answer from the auth server")
                return
            if grant is None:
                self.denied(session, "wrong PIN")
            else:
                self.granted(session, *grant)

        call = session.call
        params = [str(call.from_addr.uri), pin]
        session.request = xmlrpc_call(
            call.ua.loop, self.auth_url, self.auth_method, params, self.auth_timeout, answered
        )


def create_app(config: Mapping[str, Any]) -> ConfAuth:
    return ConfAuth(config)
