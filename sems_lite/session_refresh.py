"""Runs one call's RFC 4028 session timer on the loop.

`sip/session_timer.py` decides (sans-IO); this module acts: it arms a call timer for the
next deadline, sends the refresh when the box is the refresher, and ends the call with BYE
when the session expires, so a call whose far end died is never held for ever.

The box refreshes with UPDATE without a body (RFC 4028 §7.4 allows UPDATE or re-INVITE;
UPDATE renegotiates nothing). Any answer from the peer other than 408/481 proves it is
still there, so a 405/501 from a peer without UPDATE restarts the timer too.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sems_lite.sip.headers import Headers
from sems_lite.sip.session_timer import SessionTimer
from sems_lite.sip.validate import Rejection

if TYPE_CHECKING:
    from sems_lite.call import Call
    from sems_lite.core.loop import TimerHandle
    from sems_lite.sip.message import Request, Response

log = logging.getLogger("sems_lite.call")

_ALIVE = Headers()  # an answer without timer headers: keep the interval the box asked for


class SessionRefresh:
    __slots__ = ("_handle", "call", "timer")

    def __init__(self, call: Call, timer: SessionTimer) -> None:
        self.call = call
        self.timer = timer
        self._handle: TimerHandle | None = None

    def start(self) -> None:
        """The 2xx went out: the session interval starts now."""
        self._arm()

    def _arm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        now = self.call.ua.loop.time()
        when, action = self.timer.next_deadline(now)
        self._handle = self.call.set_timer(max(0.0, when - now), self._due, action)

    def _due(self, action: str) -> None:
        self._handle = None
        call = self.call
        if action == "expire":
            log.info("call %s: session expired (no refresh in %d s)", call.id, self.timer.interval)
            call.hangup("session expired")
            return
        self.timer.refresh_sent(call.ua.loop.time())
        headers = [*self.timer.request_headers(), ("Supported", "timer")]
        call.ua.send_in_dialog(call, "UPDATE", self._answered, extra_headers=headers)
        self._arm()  # now the expiry deadline, until the answer comes

    def _answered(self, response: Response | None) -> None:
        call = self.call
        if call.ended:
            return
        now = call.ua.loop.time()
        if response is None:
            action = "bye"
        elif response.status in (408, 481) or 200 <= response.status < 300:
            action = self.timer.refresh_answered(response.status, response.headers, now)
        elif response.status == 422:
            action = self.timer.refresh_answered(422, response.headers, now)
        else:
            action = self.timer.refresh_answered(200, _ALIVE, now)
        if action == "bye":
            log.info("call %s: session refresh failed: hanging up", call.id)
            call.hangup("session refresh failed")
        elif action == "retry":
            self._due("refresh")
        else:
            self._arm()

    def refreshed(self, req: Request) -> Rejection | None:
        """A re-INVITE or UPDATE from the peer: the 422/400 to send, or None (re-armed)."""
        rejection = self.timer.refreshed(req.headers, self.call.ua.loop.time())
        if rejection is None:
            self._arm()
        return rejection

    def response_headers(self) -> list[tuple[str, str]]:
        return list(self.timer.response_headers)
